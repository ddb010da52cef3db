package media

import "sync"

// g711Tables holds the lookup tables of both G.711 laws. Encoding indexes a table by the
// sample's 16 bits, so it is one load per sample on the mixer's hot path.
type g711Tables struct {
	ulawDec [256]int16
	alawDec [256]int16
	ulawEnc [65536]uint8
	alawEnc [65536]uint8
}

// tables builds the G.711 tables on first use; they are read-only afterwards.
var tables = sync.OnceValue(func() *g711Tables {
	t := new(g711Tables)
	for i := range 256 {
		t.ulawDec[i] = ulawDecode(uint8(i))
		t.alawDec[i] = alawDecode(uint8(i))
	}
	for i := range 65536 {
		s := int16(uint16(i))
		t.ulawEnc[i] = ulawEncode(s)
		t.alawEnc[i] = alawEncode(s)
	}
	return t
})

// ulawEncode is the ITU-T G.711 µ-law compressor for a 16-bit linear sample (the classic
// Sun reference: bias 0x84, clip at 32635).
func ulawEncode(s int16) uint8 {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^uint8(sign | exp<<4 | mant)
}

// ulawDecode is the ITU-T G.711 µ-law expander.
func ulawDecode(u uint8) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawEncode is the ITU-T G.711 A-law compressor for a 16-bit linear sample (13 significant
// bits; even bits inverted with 0x55).
func alawEncode(s int16) uint8 {
	v := int(s) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for lim := 0x1F; seg < 8 && v > lim; lim = lim<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return uint8(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return uint8(a ^ mask)
}

// alawDecode is the ITU-T G.711 A-law expander.
func alawDecode(a uint8) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// CodecFromPayloadType returns the codec for a static RTP payload type (0 PCMU, 8 PCMA).
func CodecFromPayloadType(pt uint8) (Codec, bool) {
	switch pt {
	case uint8(PCMU):
		return PCMU, true
	case uint8(PCMA):
		return PCMA, true
	}
	return 0, false
}

// Encode compresses pcm into dst, one byte per sample, for min(len(dst), len(pcm)) samples.
// Any codec other than PCMA is encoded as µ-law.
func (c Codec) Encode(dst []byte, pcm []int16) {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	t := tables()
	enc := &t.ulawEnc
	if c == PCMA {
		enc = &t.alawEnc
	}
	for i, s := range pcm {
		dst[i] = enc[uint16(s)]
	}
}

// Decode expands payload into dst, one sample per byte, for min(len(dst), len(payload))
// samples. Any codec other than PCMA is decoded as µ-law.
func (c Codec) Decode(dst []int16, payload []byte) {
	n := min(len(dst), len(payload))
	dst, payload = dst[:n], payload[:n]
	t := tables()
	dec := &t.ulawDec
	if c == PCMA {
		dec = &t.alawDec
	}
	for i, b := range payload {
		dst[i] = dec[b]
	}
}

// Silence is the codec's encoding of a zero sample: 0xFF for µ-law, 0xD5 for A-law.
func (c Codec) Silence() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}
