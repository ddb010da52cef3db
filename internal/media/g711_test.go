package media

import (
	"math/rand/v2"
	"testing"
)

// refULawDecode is the G.711 µ-law expansion from Table 2a: segment e, step m gives
// ((2m+33)·2^e − 33) in 14-bit units, scaled to 16 bits by 4.
func refULawDecode(code uint8) int {
	c := ^code
	e, m := int(c>>4)&7, int(c&0x0F)
	v := ((2*m+33)<<e - 33) * 4
	if c&0x80 != 0 {
		return -v
	}
	return v
}

// refALawDecode is the G.711 A-law expansion from Table 1a: segment 0 gives 2m+1, segment e
// gives (2m+33)·2^(e−1), in 13-bit units scaled to 16 bits by 8.
func refALawDecode(code uint8) int {
	c := code ^ 0x55
	e, m := int(c>>4)&7, int(c&0x0F)
	v := 2*m + 1
	if e > 0 {
		v = (2*m + 33) << (e - 1)
	}
	v *= 8
	if c&0x80 != 0 {
		return v
	}
	return -v
}

func TestG711DecodeMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		ref   func(uint8) int
	}{{PCMU, refULawDecode}, {PCMA, refALawDecode}} {
		t.Run(tc.codec.String(), func(t *testing.T) {
			payload := make([]byte, 256)
			for i := range payload {
				payload[i] = byte(i)
			}
			pcm := make([]int16, 256)
			tc.codec.Decode(pcm, payload)
			for i, got := range pcm {
				if want := tc.ref(uint8(i)); int(got) != want {
					t.Errorf("decode(0x%02x) = %d, want %d", i, got, want)
				}
			}
		})
	}
}

func TestG711KnownValues(t *testing.T) {
	tests := []struct {
		codec Codec
		pcm   int16
		code  byte
	}{
		{PCMU, 0, 0xFF},
		{PCMU, 32767, 0x80},
		{PCMU, -32768, 0x00},
		{PCMU, -1, 0x7F},
		{PCMU, 1000, 0xCE},
		{PCMA, 0, 0xD5},
		{PCMA, -1, 0x55},
		{PCMA, 32767, 0xAA},
		{PCMA, -32768, 0x2A},
		{PCMA, 1000, 0xFA},
	}
	for _, tc := range tests {
		var b [1]byte
		tc.codec.Encode(b[:], []int16{tc.pcm})
		if b[0] != tc.code {
			t.Errorf("%s encode(%d) = 0x%02x, want 0x%02x", tc.codec, tc.pcm, b[0], tc.code)
		}
	}
	for _, tc := range []struct {
		codec Codec
		code  byte
		pcm   int16
	}{{PCMU, 0x00, -32124}, {PCMU, 0x80, 32124}, {PCMU, 0xFF, 0}, {PCMU, 0x7F, 0},
		{PCMA, 0xD5, 8}, {PCMA, 0x55, -8}, {PCMA, 0xAA, 32256}, {PCMA, 0x2A, -32256}} {
		var s [1]int16
		tc.codec.Decode(s[:], []byte{tc.code})
		if s[0] != tc.pcm {
			t.Errorf("%s decode(0x%02x) = %d, want %d", tc.codec, tc.code, s[0], tc.pcm)
		}
	}
}

// TestG711EncodeQuantisation checks every 16-bit input against G.711's quantisation: the
// chosen level is within half a step of the input (plus the bits G.711 drops below its 14-bit
// µ-law or 13-bit A-law resolution), has the input's sign, and encoding is monotonic.
func TestG711EncodeQuantisation(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		seg   func(code byte) int // segment number of a code
		half  func(seg int) int   // half step, 16-bit units
		slack int
		clip  int
	}{
		{PCMU, func(c byte) int { return int(^c>>4) & 7 }, func(e int) int { return 4 << e }, 3, 32635},
		{PCMA, func(c byte) int { return int((c^0x55)>>4) & 7 }, func(e int) int { return max(8, 4<<e) }, 7, 32767},
	} {
		t.Run(tc.codec.String(), func(t *testing.T) {
			prev := -1 << 20
			for i := -32768; i <= 32767; i++ {
				var b [1]byte
				tc.codec.Encode(b[:], []int16{int16(i)})
				var d [1]int16
				tc.codec.Decode(d[:], b[:])
				got := int(d[0])
				if got < prev {
					t.Fatalf("encoding is not monotonic at %d: %d after %d", i, got, prev)
				}
				prev = got
				if (got < 0) != (i < 0) && got != 0 && abs(got) > 8 {
					t.Fatalf("encode(%d) -> %d has the wrong sign", i, got)
				}
				if abs(i) > tc.clip {
					continue
				}
				if e := abs(got - i); e > tc.half(tc.seg(b[0]))+tc.slack {
					t.Fatalf("encode(%d) -> 0x%02x -> %d: error %d exceeds half a step", i, b[0], got, e)
				}
			}
		})
	}
}

func TestG711RoundTrip(t *testing.T) {
	for _, codec := range []Codec{PCMU, PCMA} {
		codes := make([]byte, 256)
		for i := range codes {
			codes[i] = byte(i)
		}
		pcm := make([]int16, 256)
		codec.Decode(pcm, codes)
		again := make([]byte, 256)
		codec.Encode(again, pcm)
		for i := range codes {
			// µ-law has two zeros (0x7F and 0xFF); 0 encodes to 0xFF.
			if again[i] != codes[i] && !(codec == PCMU && codes[i] == 0x7F && again[i] == 0xFF) {
				t.Errorf("%s: code 0x%02x -> %d -> 0x%02x", codec, codes[i], pcm[i], again[i])
			}
		}
		var s [1]int16
		codec.Decode(s[:], []byte{codec.Silence()})
		if abs(int(s[0])) > 8 {
			t.Errorf("%s silence decodes to %d", codec, s[0])
		}
	}
}

func TestG711ShortBuffers(t *testing.T) {
	dst := make([]byte, 2)
	PCMU.Encode(dst, []int16{0, 0, 0, 0}) // must not panic
	pcm := make([]int16, 1)
	PCMA.Decode(pcm, []byte{0xD5, 0xD5})
	if pcm[0] != 8 {
		t.Errorf("decode = %d", pcm[0])
	}
}

func TestCodecFromPayloadType(t *testing.T) {
	for _, tc := range []struct {
		pt   uint8
		want Codec
		ok   bool
	}{{0, PCMU, true}, {8, PCMA, true}, {101, 0, false}, {3, 0, false}} {
		c, ok := CodecFromPayloadType(tc.pt)
		if c != tc.want || ok != tc.ok {
			t.Errorf("CodecFromPayloadType(%d) = %v, %v", tc.pt, c, ok)
		}
		if ok && c.PayloadType() != tc.pt {
			t.Errorf("PayloadType round trip failed for %d", tc.pt)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkEncode(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	for i := range pcm {
		pcm[i] = int16(rand.IntN(65536) - 32768)
	}
	dst := make([]byte, FrameSamples)
	for _, c := range []Codec{PCMU, PCMA} {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(FrameSamples)
			for b.Loop() {
				c.Encode(dst, pcm)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	payload := make([]byte, FrameSamples)
	for i := range payload {
		payload[i] = byte(rand.IntN(256))
	}
	dst := make([]int16, FrameSamples)
	for _, c := range []Codec{PCMU, PCMA} {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(FrameSamples)
			for b.Loop() {
				c.Decode(dst, payload)
			}
		})
	}
}
