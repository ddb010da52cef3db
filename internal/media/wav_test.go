package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestDecodeWAVFormats(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name   string
		spec   wavSpec
		stereo bool
	}{
		{name: "pcm16 8k mono", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16}},
		{name: "pcm8 unsigned 8k", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 8}},
		{name: "pcm24 44.1k", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 44100, bits: 24}},
		{name: "pcm32 48k", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 48000, bits: 32}},
		{name: "float32 22.05k", spec: wavSpec{tag: wavFormatFloat, channels: 1, rate: 22050, bits: 32}},
		{name: "float64 16k", spec: wavSpec{tag: wavFormatFloat, channels: 1, rate: 16000, bits: 64}},
		{name: "mulaw 8k", spec: wavSpec{tag: wavFormatMuLaw, channels: 1, rate: 8000, bits: 8}},
		{name: "alaw 8k", spec: wavSpec{tag: wavFormatALaw, channels: 1, rate: 8000, bits: 8}},
		{name: "pcm16 stereo 44.1k", spec: wavSpec{tag: wavFormatPCM, channels: 2, rate: 44100, bits: 16}, stereo: true},
		{name: "extensible pcm16 stereo 48k", spec: wavSpec{tag: wavFormatExtensible, subTag: wavFormatPCM, channels: 2, rate: 48000, bits: 16}, stereo: true},
		{name: "extensible float32 16k", spec: wavSpec{tag: wavFormatExtensible, subTag: wavFormatFloat, channels: 1, rate: 16000, bits: 32}},
		{name: "odd chunks around", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 16000, bits: 16, extraFirst: true, extraAfter: true}},
		{name: "streaming size 0", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: u32(0)}},
		{name: "streaming size max", spec: wavSpec{tag: wavFormatPCM, channels: 2, rate: 16000, bits: 16, dataSize: u32(0xFFFFFFFF)}, stereo: true},
		{name: "size past end", spec: wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: u32(1 << 30)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			n := s.rate / 2 // 0.5 s
			pcm := sine(1000, s.rate, n, 0.5)
			if tc.stereo {
				// Left carries the tone, right is silent: the downmix halves the level.
				pcm = interleave(pcm, make([]int16, n))
			}
			tag := s.tag
			if tag == wavFormatExtensible {
				tag = s.subTag
			}
			s.data = encodeSamples(t, pcm, tag, s.bits)
			out, err := DecodeWAV(buildWAV(s))
			if err != nil {
				t.Fatal(err)
			}
			if want := SampleRate / 2; abs(len(out)-want) > 1 {
				t.Errorf("%d samples, want %d", len(out), want)
			}
			if f := dominantFreq(middle(out)); f != 1000 {
				t.Errorf("tone at %v Hz, want 1000", f)
			}
			want := 20 * math.Log10(0.5)
			if tc.stereo {
				want -= 6.02
			}
			if got := ToneDBFS(middle(out), 1000); math.Abs(got-want) > 0.6 {
				t.Errorf("tone level %.2f dBFS, want %.2f", got, want)
			}
		})
	}
}

func TestDecodeWAVExact16(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	var data []byte
	for _, s := range pcm {
		data = binary.LittleEndian.AppendUint16(data, uint16(s))
	}
	out, err := DecodeWAV(buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: data}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, pcm) {
		t.Errorf("got %v, want %v", out, pcm)
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	good := wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: make([]byte, 100)}
	mod := func(f func(*wavSpec)) []byte { s := good; f(&s); return buildWAV(s) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"text", []byte("hello world, not audio"), ErrUnknownFormat},
		{"header only", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrMalformed},
		{"no data chunk", buildWAV(good)[:12+8+16], ErrMalformed},
		{"adpcm", mod(func(s *wavSpec) { s.tag = 0x0011; s.bits = 4 }), ErrUnsupported},
		{"pcm 12 bits", mod(func(s *wavSpec) { s.bits = 12 }), ErrUnsupported},
		{"zero bits", mod(func(s *wavSpec) { s.bits = 0 }), ErrUnsupported},
		{"no channels", mod(func(s *wavSpec) { s.channels = 0 }), ErrUnsupported},
		{"rate zero", mod(func(s *wavSpec) { s.rate = 0 }), ErrUnsupported},
		{"rate huge", mod(func(s *wavSpec) { s.rate = 10_000_000 }), ErrUnsupported},
		{"truncated fmt", buildWAV(good)[:12+8+10], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWAV(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeWAVTooLong(t *testing.T) {
	// A streaming header claims nothing; the real data decides. 1 h + 1 s at 1 kHz 8-bit is
	// 3.6 MB, which keeps the test fast.
	data := bytes.Repeat([]byte{128}, 1000*3601)
	w := buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 1000, bits: 8, data: data})
	if _, err := DecodeWAV(w); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
	w = buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 1000, bits: 8, data: data[:1000*60]})
	if _, err := DecodeWAV(w); err != nil {
		t.Fatalf("one minute: %v", err)
	}
}

func TestDecodeAudioSniffs(t *testing.T) {
	wav := buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: make([]byte, 3200)})
	if out, err := DecodeAudio(wav); err != nil || len(out) != 1600 {
		t.Errorf("WAV: %d samples, %v", len(out), err)
	}
	mp3, err := os.ReadFile(filepath.Join("testdata", "tone1k_16k_mpeg2.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := DecodeAudio(mp3); err != nil || len(out) < 3000 {
		t.Errorf("MP3: %d samples, %v", len(out), err)
	}
	padded := append(make([]byte, 100), readTestdata(t, "tone1k_44k_mpeg1_stereo.mp3")...)
	if out, err := DecodeAudio(padded); err != nil || dominantFreq(out) != 1000 {
		t.Errorf("MP3 after padding: %d samples, %v", len(out), err)
	}
	for _, junk := range [][]byte{nil, []byte("<html><body>404</body></html>"), {0x00, 0x01, 0x02, 0x03}} {
		if _, err := DecodeAudio(junk); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("%q: err = %v, want ErrUnknownFormat", junk, err)
		}
	}
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	buf []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + int64(len(p)); end > int64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, end-int64(len(m.buf)))...)
	}
	copy(m.buf[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.off = off
	case io.SeekCurrent:
		m.off += off
	case io.SeekEnd:
		m.off = int64(len(m.buf)) + off
	}
	return m.off, nil
}

func TestWAVWriterMonoRoundTrip(t *testing.T) {
	f := &memFile{}
	w, err := NewWAVWriter(f, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := ReadAll(Tone(440, time.Second, -6), 0)
	for frame := range slices.Chunk(src, FrameSamples) {
		if err := w.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Before Close the sizes are zero, which DecodeWAV reads as "to the end".
	if early, err := DecodeWAV(f.buf); err != nil || !slices.Equal(early, src) {
		t.Errorf("unclosed file: %d samples, %v", len(early), err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Duration() != time.Second {
		t.Errorf("Duration = %v", w.Duration())
	}
	if got := binary.LittleEndian.Uint32(f.buf[40:44]); got != uint32(2*len(src)) {
		t.Errorf("data size %d, want %d", got, 2*len(src))
	}
	if got := binary.LittleEndian.Uint32(f.buf[4:8]); got != uint32(len(f.buf)-8) {
		t.Errorf("RIFF size %d, want %d", got, len(f.buf)-8)
	}
	out, err := DecodeWAV(f.buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, src) {
		t.Errorf("read back %d samples, differ from the %d written", len(out), len(src))
	}
	if err := w.WriteFrame(src[:10]); err == nil {
		t.Error("write after Close succeeded")
	}
	if err := w.WriteStereo(src[:1], src[:1]); err == nil {
		t.Error("WriteStereo on a mono writer succeeded")
	}
}

func TestWAVWriterStereo(t *testing.T) {
	f := &memFile{}
	w, err := NewWAVWriter(f, 2)
	if err != nil {
		t.Fatal(err)
	}
	left := sine(500, SampleRate, 8000, 0.5)
	right := sine(1500, SampleRate, 8000, 0.5)
	for i := 0; i < len(left); i += FrameSamples {
		if err := w.WriteStereo(left[i:i+FrameSamples], right[i:i+FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFrame(left[:10]); err == nil {
		t.Error("WriteFrame on a stereo writer succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Duration() != time.Second {
		t.Errorf("Duration = %v", w.Duration())
	}
	if ch := binary.LittleEndian.Uint16(f.buf[22:24]); ch != 2 {
		t.Fatalf("channels = %d", ch)
	}
	raw := f.buf[44:]
	for i := range left {
		l := int16(binary.LittleEndian.Uint16(raw[4*i:]))
		r := int16(binary.LittleEndian.Uint16(raw[4*i+2:]))
		if l != left[i] || r != right[i] {
			t.Fatalf("frame %d = %d,%d, want %d,%d", i, l, r, left[i], right[i])
		}
	}
	out, err := DecodeWAV(f.buf)
	if err != nil {
		t.Fatal(err)
	}
	// Downmixed: both tones at half amplitude.
	for _, freq := range []float64{500, 1500} {
		if db := ToneDBFS(out, freq); math.Abs(db-(-12.04)) > 0.3 {
			t.Errorf("%v Hz at %.2f dBFS after downmix", freq, db)
		}
	}
}

func TestWAVWriterEmptyAndErrors(t *testing.T) {
	if _, err := NewWAVWriter(&memFile{}, 3); err == nil {
		t.Error("3 channels accepted")
	}
	f := &memFile{}
	w, _ := NewWAVWriter(f, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := DecodeWAV(f.buf)
	if err != nil || len(out) != 0 {
		t.Errorf("empty recording: %d samples, %v", len(out), err)
	}
	if got := binary.LittleEndian.Uint32(f.buf[4:8]); got != 36 {
		t.Errorf("RIFF size of empty file = %d", got)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: make([]byte, 64)}))
	f.Add(buildWAV(wavSpec{tag: wavFormatExtensible, subTag: wavFormatFloat, channels: 2, rate: 44100, bits: 32, data: make([]byte, 64)}))
	f.Add(buildWAV(wavSpec{tag: wavFormatMuLaw, channels: 2, rate: 8000, bits: 8, data: make([]byte, 33), extraFirst: true}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := DecodeWAV(data)
		if err == nil && len(out) > 1<<24 {
			t.Fatalf("%d samples from %d bytes", len(out), len(data))
		}
		_, _ = DecodeAudio(data)
	})
}
