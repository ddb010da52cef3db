package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// WAVE format tags.
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
)

// Sample rates DecodeWAV accepts.
const (
	minWAVRate = 1000
	maxWAVRate = 384000
	maxWAVChan = 8
)

type wavFormat struct {
	tag      uint16
	channels int
	rate     int
	bits     int // container bits per sample
}

// DecodeWAV decodes a RIFF/WAVE file to 8 kHz mono PCM. It reads PCM (8-bit unsigned, 16,
// 24 and 32-bit), IEEE float (32 and 64-bit), µ-law and A-law, plain or
// WAVE_FORMAT_EXTENSIBLE, at any sample rate from 1 kHz to 384 kHz, with up to 8 channels
// averaged into one. Unknown chunks are skipped. A data chunk whose size is 0, 0xFFFFFFFF or
// past the end of the file (as streaming writers leave it) runs to the end of the file.
func DecodeWAV(data []byte) ([]int16, error) {
	if !isWAV(data) {
		return nil, fmt.Errorf("%w: no RIFF/WAVE header", ErrUnknownFormat)
	}
	var (
		f       wavFormat
		haveFmt bool
		audio   []byte
		haveDat bool
	)
	rest := data[12:]
	for len(rest) >= 8 && !(haveFmt && haveDat) {
		id := string(rest[:4])
		size := uint64(binary.LittleEndian.Uint32(rest[4:8]))
		body := rest[8:]
		if id == "data" {
			if size == 0 || size == 0xFFFFFFFF || size > uint64(len(body)) {
				size = uint64(len(body))
			}
			audio, haveDat = body[:size], true
		} else if size > uint64(len(body)) {
			if id == "fmt " {
				return nil, fmt.Errorf("%w: WAV fmt chunk is truncated", ErrMalformed)
			}
			break
		}
		if id == "fmt " {
			var err error
			if f, err = parseWAVFormat(body[:size]); err != nil {
				return nil, err
			}
			haveFmt = true
		}
		skip := size + size&1 // chunks are word aligned
		if skip > uint64(len(body)) {
			skip = uint64(len(body))
		}
		rest = body[skip:]
	}
	if !haveFmt {
		return nil, fmt.Errorf("%w: WAV file has no fmt chunk", ErrMalformed)
	}
	if !haveDat {
		return nil, fmt.Errorf("%w: WAV file has no data chunk", ErrMalformed)
	}
	read, err := wavSampleReader(f)
	if err != nil {
		return nil, err
	}
	frameBytes := f.channels * f.bits / 8
	frames := int64(len(audio) / frameBytes)
	if tooLong(frames, f.rate) {
		return nil, fmt.Errorf("%w: the WAV file holds %s of audio", ErrTooLong,
			(time.Duration(frames/int64(f.rate)) * time.Second).Round(time.Second))
	}
	rs := NewResampler(f.rate, SampleRate)
	out := make([]int16, 0, frames*SampleRate/int64(f.rate)+1)
	var mono [4096]int16
	for off := int64(0); off < frames; {
		n := min(int64(len(mono)), frames-off)
		for i := range n {
			fr := audio[(off+i)*int64(frameBytes):][:frameBytes]
			var sum int64
			for c := range f.channels {
				sum += int64(read(fr[c*f.bits/8:]))
			}
			mono[i] = int16(sum / int64(f.channels))
		}
		out = rs.Write(out, mono[:n])
		off += n
	}
	return rs.Flush(out), nil
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, fmt.Errorf("%w: WAV fmt chunk is %d bytes, want at least 16", ErrMalformed, len(b))
	}
	f := wavFormat{
		tag:      binary.LittleEndian.Uint16(b[0:2]),
		channels: int(binary.LittleEndian.Uint16(b[2:4])),
		rate:     int(binary.LittleEndian.Uint32(b[4:8])),
		bits:     int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if f.tag == wavFormatExtensible {
		// WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) subFormat GUID(16),
		// whose first two bytes are the real format tag.
		if len(b) < 40 {
			return wavFormat{}, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk is too short", ErrMalformed)
		}
		f.tag = binary.LittleEndian.Uint16(b[24:26])
	}
	if f.channels < 1 || f.channels > maxWAVChan {
		return wavFormat{}, fmt.Errorf("%w: WAV file has %d channels (1 to %d are supported)", ErrUnsupported, f.channels, maxWAVChan)
	}
	if f.rate < minWAVRate || f.rate > maxWAVRate {
		return wavFormat{}, fmt.Errorf("%w: WAV sample rate %d Hz (%d to %d Hz are supported)", ErrUnsupported, f.rate, minWAVRate, maxWAVRate)
	}
	return f, nil
}

// wavSampleReader returns a function that turns one stored sample into 16-bit PCM.
func wavSampleReader(f wavFormat) (func([]byte) int16, error) {
	switch {
	case f.tag == wavFormatPCM && f.bits == 8:
		return func(b []byte) int16 { return int16(int(b[0])-128) << 8 }, nil
	case f.tag == wavFormatPCM && f.bits == 16:
		return func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }, nil
	case f.tag == wavFormatPCM && f.bits == 24:
		return func(b []byte) int16 { return int16(uint16(b[1]) | uint16(b[2])<<8) }, nil
	case f.tag == wavFormatPCM && f.bits == 32:
		return func(b []byte) int16 { return int16(binary.LittleEndian.Uint32(b) >> 16) }, nil
	case f.tag == wavFormatFloat && f.bits == 32:
		return func(b []byte) int16 {
			return floatTo16(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		}, nil
	case f.tag == wavFormatFloat && f.bits == 64:
		return func(b []byte) int16 { return floatTo16(math.Float64frombits(binary.LittleEndian.Uint64(b))) }, nil
	case f.tag == wavFormatMuLaw && f.bits == 8:
		dec := &tables().ulawDec
		return func(b []byte) int16 { return dec[b[0]] }, nil
	case f.tag == wavFormatALaw && f.bits == 8:
		dec := &tables().alawDec
		return func(b []byte) int16 { return dec[b[0]] }, nil
	case f.tag == wavFormatPCM, f.tag == wavFormatFloat, f.tag == wavFormatMuLaw, f.tag == wavFormatALaw:
		return nil, fmt.Errorf("%w: WAV format %s with %d bits per sample", ErrUnsupported, wavTagName(f.tag), f.bits)
	}
	return nil, fmt.Errorf("%w: WAV format tag 0x%04x (%s); use PCM, float, µ-law or A-law", ErrUnsupported, f.tag, wavTagName(f.tag))
}

func wavTagName(tag uint16) string {
	switch tag {
	case wavFormatPCM:
		return "PCM"
	case wavFormatFloat:
		return "IEEE float"
	case wavFormatALaw:
		return "A-law"
	case wavFormatMuLaw:
		return "µ-law"
	case 0x0002:
		return "MS ADPCM"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0055:
		return "MP3"
	}
	return "unknown"
}

func floatTo16(v float64) int16 {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= 1:
		return 32767
	case v <= -1:
		return -32768
	}
	return int16(math.Round(v * 32767))
}

// WAVWriter records 8 kHz 16-bit PCM, mono or stereo, to a WAV file. The RIFF and data sizes
// are written as zero first and fixed up by Close, so an unclosed file still plays with
// readers that treat a zero data size as "to the end" (DecodeWAV does). Not safe for
// concurrent use.
type WAVWriter struct {
	w        io.WriteSeeker
	channels int
	frames   int64 // samples per channel written
	buf      []byte
	err      error
	closed   bool
}

const wavHeaderSize = 44

// maxWAVData is the largest data chunk a RIFF size field can describe.
const maxWAVData = math.MaxUint32 - wavHeaderSize

// NewWAVWriter writes a WAV header for 8 kHz 16-bit PCM with 1 or 2 channels to w.
func NewWAVWriter(w io.WriteSeeker, channels int) (*WAVWriter, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("WAV recorder: %d channels requested, want 1 or 2", channels)
	}
	ww := &WAVWriter{w: w, channels: channels}
	if _, err := w.Write(wavHeader(channels, 0)); err != nil {
		return nil, fmt.Errorf("WAV recorder: writing header: %w", err)
	}
	return ww, nil
}

// wavHeader builds the canonical 44-byte header for dataBytes of 8 kHz 16-bit PCM.
func wavHeader(channels int, dataBytes uint32) []byte {
	h := make([]byte, 0, wavHeaderSize)
	riff := uint32(0)
	if dataBytes > 0 {
		riff = dataBytes + wavHeaderSize - 8
	}
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, riff)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, wavFormatPCM)
	h = binary.LittleEndian.AppendUint16(h, uint16(channels))
	h = binary.LittleEndian.AppendUint32(h, SampleRate)
	h = binary.LittleEndian.AppendUint32(h, uint32(SampleRate*2*channels))
	h = binary.LittleEndian.AppendUint16(h, uint16(2*channels))
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, dataBytes)
	return h
}

// WriteFrame appends mono samples; it is an error on a stereo writer.
func (w *WAVWriter) WriteFrame(pcm []int16) error {
	if w.channels != 1 {
		return errors.New("WAV recorder: WriteFrame on a stereo file, use WriteStereo")
	}
	if err := w.check(len(pcm)); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	for _, s := range pcm {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
	return w.flush(int64(len(pcm)))
}

// WriteStereo appends interleaved left/right samples; the shorter side is padded with
// silence. It is an error on a mono writer.
func (w *WAVWriter) WriteStereo(left, right []int16) error {
	if w.channels != 2 {
		return errors.New("WAV recorder: WriteStereo on a mono file, use WriteFrame")
	}
	n := max(len(left), len(right))
	if err := w.check(n); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	for i := range n {
		var l, r int16
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(l))
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(r))
	}
	return w.flush(int64(n))
}

func (w *WAVWriter) check(n int) error {
	switch {
	case w.closed:
		return errors.New("WAV recorder: write after Close")
	case w.err != nil:
		return w.err
	case (w.frames+int64(n))*int64(2*w.channels) > maxWAVData:
		return errors.New("WAV recorder: file would exceed the 4 GB WAV size limit")
	}
	return nil
}

func (w *WAVWriter) flush(frames int64) error {
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("WAV recorder: writing audio: %w", err)
		return w.err
	}
	w.frames += frames
	return nil
}

// Duration is the length of audio written so far.
func (w *WAVWriter) Duration() time.Duration {
	return time.Duration(w.frames) * time.Second / SampleRate
}

// Close writes the final sizes into the header and leaves the file offset at its end. It does
// not close the underlying writer.
func (w *WAVWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	dataBytes := uint32(w.frames * int64(2*w.channels))
	h := wavHeader(w.channels, dataBytes)
	if dataBytes == 0 {
		// An empty recording still gets a correct RIFF size.
		binary.LittleEndian.PutUint32(h[4:8], wavHeaderSize-8)
	}
	if _, err := w.w.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("WAV recorder: seeking to header: %w", err)
	}
	if _, err := w.w.Write(h); err != nil {
		return fmt.Errorf("WAV recorder: rewriting header: %w", err)
	}
	if _, err := w.w.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("WAV recorder: seeking to end: %w", err)
	}
	return nil
}
