package stream

import (
	"encoding/binary"
	"strings"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/streamspec"
)

// The wire formats and their grammar are streamspec's (one definition with the REST API);
// these names keep the package's own spelling of them.
const (
	EncodingL16   = streamspec.EncodingL16
	EncodingMulaw = streamspec.EncodingMulaw
)

// Format is a wire audio format: an encoding and a sample rate in Hz.
type Format = streamspec.Format

// DefaultFormat is the inbound format when contentType is absent or not understood (§1.4).
var DefaultFormat = streamspec.DefaultFormat

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
