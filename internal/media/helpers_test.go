package media

import (
	"encoding/binary"
	"math"
	"testing"
)

// sine returns n samples of a sine of freq Hz at rate Hz with peak amplitude amp (0..1).
func sine(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return out
}

// dominantFreq returns the strongest frequency (10 Hz grid, 100–3900 Hz) of 8 kHz samples.
func dominantFreq(samples []int16) float64 {
	best, bestF := -1.0, 0.0
	for f := 100.0; f < 3900; f += 10 {
		if p := Goertzel(samples, f); p > best {
			best, bestF = p, f
		}
	}
	return bestF
}

// wavSpec describes a WAV file to build in memory.
type wavSpec struct {
	tag        uint16 // format tag written in fmt (0xFFFE for extensible)
	subTag     uint16 // real format when tag is extensible
	channels   int
	rate       int
	bits       int
	data       []byte
	dataSize   *uint32 // override of the data chunk size field
	extraFirst bool    // put a LIST chunk (odd length) before fmt
	extraAfter bool    // put a junk chunk after data
}

func buildWAV(s wavSpec) []byte {
	var fmtc []byte
	fmtc = binary.LittleEndian.AppendUint16(fmtc, s.tag)
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(s.channels))
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(s.rate))
	block := s.channels * s.bits / 8
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(s.rate*block))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(block))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(s.bits))
	if s.tag == wavFormatExtensible {
		fmtc = binary.LittleEndian.AppendUint16(fmtc, 22)
		fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(s.bits))
		fmtc = binary.LittleEndian.AppendUint32(fmtc, 0x3)
		fmtc = binary.LittleEndian.AppendUint16(fmtc, s.subTag)
		fmtc = append(fmtc, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
	}
	chunk := func(out []byte, id string, body []byte, size uint32) []byte {
		out = append(out, id...)
		out = binary.LittleEndian.AppendUint32(out, size)
		out = append(out, body...)
		if len(body)%2 == 1 {
			out = append(out, 0)
		}
		return out
	}
	var body []byte
	body = append(body, "WAVE"...)
	if s.extraFirst {
		body = chunk(body, "LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00"), 17)
	}
	body = chunk(body, "fmt ", fmtc, uint32(len(fmtc)))
	size := uint32(len(s.data))
	if s.dataSize != nil {
		size = *s.dataSize
	}
	body = chunk(body, "data", s.data, size)
	if s.extraAfter {
		body = chunk(body, "junk", []byte{1, 2, 3}, 3)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// encodeSamples stores 16-bit samples in the given WAV sample format.
func encodeSamples(t *testing.T, pcm []int16, tag uint16, bits int) []byte {
	t.Helper()
	var out []byte
	for _, s := range pcm {
		switch {
		case tag == wavFormatPCM && bits == 8:
			out = append(out, byte(int(s>>8)+128))
		case tag == wavFormatPCM && bits == 16:
			out = binary.LittleEndian.AppendUint16(out, uint16(s))
		case tag == wavFormatPCM && bits == 24:
			out = append(out, 0x80, byte(s), byte(uint16(s)>>8))
		case tag == wavFormatPCM && bits == 32:
			out = binary.LittleEndian.AppendUint32(out, uint32(int32(s)<<16))
		case tag == wavFormatFloat && bits == 32:
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(s)/32768))
		case tag == wavFormatFloat && bits == 64:
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(float64(s)/32768))
		case tag == wavFormatMuLaw:
			var b [1]byte
			PCMU.Encode(b[:], []int16{s})
			out = append(out, b[0])
		case tag == wavFormatALaw:
			var b [1]byte
			PCMA.Encode(b[:], []int16{s})
			out = append(out, b[0])
		default:
			t.Fatalf("encodeSamples: no encoder for tag %d bits %d", tag, bits)
		}
	}
	return out
}

// interleave makes stereo from two channels.
func interleave(l, r []int16) []int16 {
	out := make([]int16, 0, 2*len(l))
	for i := range l {
		out = append(out, l[i], r[i])
	}
	return out
}
