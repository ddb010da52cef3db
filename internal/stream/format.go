package stream

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/parley-voice/parley/internal/media"
)

// Encodings of the wire audio (start.mediaFormat.encoding, playAudio media.contentType).
const (
	EncodingL16   = "audio/x-l16"
	EncodingMulaw = "audio/x-mulaw"
)

// Format is a wire audio format: an encoding and a sample rate in Hz.
type Format struct {
	Encoding   string
	SampleRate int
}

// DefaultFormat is the inbound format when contentType is absent or not understood (§1.4):
// L16 at 8 kHz, not μ-law.
var DefaultFormat = Format{Encoding: EncodingL16, SampleRate: 8000}

// String gives the contentType form, e.g. "audio/x-l16;rate=16000".
func (f Format) String() string {
	return f.Encoding + ";rate=" + strconv.Itoa(f.SampleRate)
}

// FrameBytes is the size of one 20 ms frame of f on the wire.
func (f Format) FrameBytes() int {
	n := f.SampleRate / 50
	if f.Encoding == EncodingL16 {
		n *= 2
	}
	return n
}

// ParseContentType reads a `<Stream contentType>` / `content_type` value (§1.4): case and the
// spaces around ";" and "=" do not matter, audio/mulaw, audio/pcmu and audio/l16 are aliases,
// a missing rate means 8000. Supported are μ-law at 8 kHz and L16 at 8, 16 and 24 kHz; for
// anything else ok is false and the caller uses DefaultFormat (and warns).
func ParseContentType(s string) (f Format, ok bool) {
	enc, rate, ok := parseMediaType(s)
	if !ok {
		return DefaultFormat, false
	}
	if rate == 0 {
		rate = 8000
	}
	switch {
	case enc == EncodingMulaw && rate == 8000,
		enc == EncodingL16 && (rate == 8000 || rate == 16000 || rate == 24000):
		return Format{Encoding: enc, SampleRate: rate}, true
	}
	return DefaultFormat, false
}

// parseMediaType splits "type;rate=N" into a canonical encoding and the rate (0 when absent).
// Unknown parameters are ignored; an unknown type or a bad rate is not ok.
func parseMediaType(s string) (enc string, rate int, ok bool) {
	parts := strings.Split(s, ";")
	switch strings.ToLower(strings.TrimSpace(parts[0])) {
	case "audio/x-mulaw", "audio/mulaw", "audio/pcmu", "audio/x-pcmu", "audio/basic":
		enc = EncodingMulaw
	case "audio/x-l16", "audio/l16", "audio/pcm", "audio/x-pcm":
		enc = EncodingL16
	default:
		return "", 0, false
	}
	for _, p := range parts[1:] {
		k, v, found := strings.Cut(p, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "rate") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 || n > maxPlayRate {
			return "", 0, false
		}
		rate = n
	}
	return enc, rate, true
}

// maxPlayRate bounds the sample rates accepted from the app (media.Resampler's range).
const maxPlayRate = 192000

// ByteOrder is the byte order of L16 samples on the wire.
type ByteOrder int

// Byte orders. ByteOrderAuto is only meaningful for playAudio (§4.1): it detects the order per
// stream; for the inbound direction it means big-endian.
const (
	ByteOrderAuto ByteOrder = iota
	BigEndian
	LittleEndian
)

// String names the order as the per-account settings do: auto, be, le.
func (o ByteOrder) String() string {
	switch o {
	case BigEndian:
		return "be"
	case LittleEndian:
		return "le"
	}
	return "auto"
}

// ParseByteOrder reads "be", "le" or "auto" (any case; also "big"/"little"); ok is false for
// anything else.
func ParseByteOrder(s string) (ByteOrder, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "be", "big", "big-endian", "bigendian":
		return BigEndian, true
	case "le", "little", "little-endian", "littleendian":
		return LittleEndian, true
	case "auto", "":
		return ByteOrderAuto, true
	}
	return ByteOrderAuto, false
}

// appendL16 appends pcm as 16-bit samples in the given order (little-endian only when asked).
func appendL16(dst []byte, pcm []int16, order ByteOrder) []byte {
	for _, s := range pcm {
		if order == LittleEndian {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(s))
		} else {
			dst = binary.BigEndian.AppendUint16(dst, uint16(s))
		}
	}
	return dst
}

// decodeL16 appends the samples of b (an even number of bytes) in the given order.
func decodeL16(dst []int16, b []byte, order ByteOrder) []int16 {
	for i := 0; i+1 < len(b); i += 2 {
		if order == BigEndian {
			dst = append(dst, int16(binary.BigEndian.Uint16(b[i:])))
		} else {
			dst = append(dst, int16(binary.LittleEndian.Uint16(b[i:])))
		}
	}
	return dst
}

// appendMulaw appends pcm encoded as μ-law.
func appendMulaw(dst []byte, pcm []int16) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, len(pcm))...)
	media.PCMU.Encode(dst[n:], pcm)
	return dst
}

// decodeMulaw appends the samples of μ-law bytes b.
func decodeMulaw(dst []int16, b []byte) []int16 {
	n := len(dst)
	dst = append(dst, make([]int16, len(b))...)
	media.PCMU.Decode(dst[n:], b)
	return dst
}

// orderDetector decides the byte order of the app's L16 audio (§4.1): speech and TTS are
// low-pass, so read in the wrong order they look like wideband noise. The roughness of an
// interpretation is mean|x[n]−x[n−1]| / mean|x[n]|; the smoother one wins once its score is
// below half the other's, judged over at least detectMinSamples non-silent samples.
type orderDetector struct {
	n              int     // non-silent samples seen
	diffLE, absLE  float64 // sums for the little-endian reading
	diffBE, absBE  float64
	prevLE, prevBE int16
	have           bool
}

// detectMinSamples is 100 ms at 8 kHz; at higher rates the same count is a shorter time,
// which only makes the judgement earlier, not worse (more bandwidth, same smoothness).
const detectMinSamples = 800

// detectGiveUp is the non-silent sample count after which an undecided detector settles on
// little-endian, the majority of bots (§4.1).
const detectGiveUp = 8000

// feed adds raw L16 bytes (even length) and returns the order once decided.
func (d *orderDetector) feed(b []byte) (ByteOrder, bool) {
	for i := 0; i+1 < len(b); i += 2 {
		le := int16(binary.LittleEndian.Uint16(b[i:]))
		be := int16(binary.BigEndian.Uint16(b[i:]))
		if min(abs16(le), abs16(be)) <= 32 {
			continue // silence in both readings tells nothing
		}
		if d.have {
			d.diffLE += absDiff(le, d.prevLE)
			d.diffBE += absDiff(be, d.prevBE)
		}
		d.absLE += abs16(le)
		d.absBE += abs16(be)
		d.prevLE, d.prevBE, d.have = le, be, true
		d.n++
	}
	return d.decide(false)
}

// decide returns the order when the evidence is clear; with force it always returns one,
// little-endian when the evidence is not clear.
func (d *orderDetector) decide(force bool) (ByteOrder, bool) {
	if d.n >= detectMinSamples || force {
		if d.absLE > 0 && d.absBE > 0 {
			le, be := d.diffLE/d.absLE, d.diffBE/d.absBE
			switch {
			case le < 0.5*be:
				return LittleEndian, true
			case be < 0.5*le:
				return BigEndian, true
			}
		}
	}
	if force || d.n >= detectGiveUp {
		return LittleEndian, true
	}
	return ByteOrderAuto, false
}

func absDiff(a, b int16) float64 {
	d := int32(a) - int32(b)
	if d < 0 {
		d = -d
	}
	return float64(d)
}

func abs16(v int16) float64 {
	if v < 0 {
		return -float64(v)
	}
	return float64(v)
}
