package media

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The MP3 files in testdata are 0.5 s of a 1 kHz sine at half scale, made with
// `sox -n -r RATE -c CH t.wav synth 0.5 sine 1000 vol 0.5` and lame (see testdata/README).
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMP3(t *testing.T) {
	for _, name := range []string{"tone1k_16k_mpeg2.mp3", "tone1k_44k_mpeg1_stereo.mp3"} {
		t.Run(name, func(t *testing.T) {
			out, err := DecodeMP3(readTestdata(t, name))
			if err != nil {
				t.Fatal(err)
			}
			// 0.5 s plus the encoder's delay and padding (under two frames).
			if len(out) < 4000 || len(out) > 4000+2*1152*SampleRate/16000 {
				t.Errorf("%d samples, want about 4000", len(out))
			}
			m := middle(out)
			if f := dominantFreq(m); f != 1000 {
				t.Errorf("tone at %v Hz, want 1000", f)
			}
			if db := ToneDBFS(m, 1000); math.Abs(db-(-6.02)) > 1.5 {
				t.Errorf("tone at %.2f dBFS, want about -6", db)
			}
		})
	}
}

func TestDecodeMP3RefusesMPEG25(t *testing.T) {
	_, err := DecodeMP3(readTestdata(t, "tone1k_8k_mpeg25.mp3"))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "MPEG-2.5") {
		t.Fatalf("err = %v, want ErrUnsupported naming MPEG-2.5", err)
	}
}

// mpegFrames builds n frames with the given 4-byte header and zero bodies.
func mpegFrames(t *testing.T, header []byte, n int) []byte {
	t.Helper()
	h, ok := parseMPEGHeader(header)
	if !ok || h.size == 0 {
		t.Fatalf("bad test header % x", header)
	}
	frame := make([]byte, h.size)
	copy(frame, header)
	return bytes.Repeat(frame, n)
}

func TestParseMPEGHeader(t *testing.T) {
	tests := []struct {
		hdr                        []byte
		version, layer, rate, size int
		ok                         bool
	}{
		{[]byte{0xFF, 0xFB, 0x90, 0x64}, 1, 3, 44100, 417, true}, // 128 kbit/s
		{[]byte{0xFF, 0xFB, 0x92, 0x64}, 1, 3, 44100, 418, true}, // padded
		{[]byte{0xFF, 0xF3, 0x48, 0xC4}, 2, 3, 16000, 144, true}, // 32 kbit/s mono
		{[]byte{0xFF, 0xE3, 0x28, 0xC4}, 25, 3, 8000, 144, true}, // MPEG-2.5, 16 kbit/s
		{[]byte{0xFF, 0xFD, 0x90, 0x04}, 1, 2, 44100, 522, true}, // Layer II 160 kbit/s
		{[]byte{0xFF, 0xEB, 0x90, 0x64}, 0, 0, 0, 0, false},      // reserved version
		{[]byte{0xFF, 0xF9, 0x90, 0x64}, 0, 0, 0, 0, false},      // reserved layer
		{[]byte{0xFF, 0xFB, 0xF0, 0x64}, 0, 0, 0, 0, false},      // bad bit rate
		{[]byte{0xFF, 0xFB, 0x9C, 0x64}, 0, 0, 0, 0, false},      // reserved rate
		{[]byte{0xFF, 0x1B, 0x90, 0x64}, 0, 0, 0, 0, false},      // no sync
	}
	for _, tc := range tests {
		h, ok := parseMPEGHeader(tc.hdr)
		if ok != tc.ok || (ok && (h.version != tc.version || h.layer != tc.layer || h.rate != tc.rate || h.size != tc.size)) {
			t.Errorf("% x: got %+v %v, want v%d L%d %d Hz %d bytes %v", tc.hdr, h, ok, tc.version, tc.layer, tc.rate, tc.size, tc.ok)
		}
	}
}

func TestDecodeMP3Errors(t *testing.T) {
	good := readTestdata(t, "tone1k_44k_mpeg1_stereo.mp3")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", bytes.Repeat([]byte("not an mp3 "), 50), ErrMalformed},
		{"sync then garbage", append([]byte{0xFF, 0xFB, 0x90, 0x64}, bytes.Repeat([]byte{0x55}, 300)...), ErrMalformed},
		{"id3 too big", []byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7f"), ErrMalformed},
		{"id3 bad size", []byte("ID3\x03\x00\x00\x80\x00\x00\x00"), ErrMalformed},
		{"id3 only", []byte("ID3\x03\x00\x00\x00\x00\x00\x00"), ErrMalformed},
		{"layer II", mpegFrames(t, []byte{0xFF, 0xFD, 0x90, 0x04}, 4), ErrUnsupported},
		{"mpeg-2.5", mpegFrames(t, []byte{0xFF, 0xE3, 0x28, 0xC4}, 4), ErrUnsupported},
		{"header of a frame only", good[:200], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := DecodeMP3(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v (%d samples), want %v", err, len(out), tc.want)
			}
		})
	}
}

func TestDecodeMP3Truncated(t *testing.T) {
	good := readTestdata(t, "tone1k_44k_mpeg1_stereo.mp3")
	// A file cut short keeps the audio before the cut, as players do.
	out, err := DecodeMP3(good[:len(good)/2])
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 1000 || len(out) > 3000 {
		t.Errorf("%d samples from half a file", len(out))
	}
}

func TestDecodeMP3TooLong(t *testing.T) {
	// Repeat one 36 ms frame of the 16 kHz file past an hour; the length check happens
	// before any decoding.
	data := readTestdata(t, "tone1k_16k_mpeg2.mp3")
	body, err := skipID3v2(data)
	if err != nil {
		t.Fatal(err)
	}
	off, h, ok := findMPEGFrame(body, len(body))
	if !ok || h.rate != 16000 {
		t.Fatalf("no 16 kHz frame found: %+v", h)
	}
	frame := body[off : off+h.size]
	long := bytes.Repeat(frame, 3600*16000/576+100)
	if _, err := DecodeMP3(long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func FuzzDecodeMP3(f *testing.F) {
	for _, name := range []string{"tone1k_16k_mpeg2.mp3", "tone1k_44k_mpeg1_stereo.mp3", "tone1k_8k_mpeg25.mp3"} {
		b := readTestdata(f, name)
		f.Add(b[:min(len(b), 1500)])
	}
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0})
	f.Add([]byte("ID3\x04\x00\x10\x00\x00\x00\x01x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeMP3(data)
		_, _ = DecodeAudio(data)
	})
}
