//go:build load

package load

import (
	"math"
	"sync"
	"testing"

	"github.com/parley-voice/parley/internal/media"
)

// Frames that say who sent them. Every 20 ms μ-law frame of the stream benchmark starts with a
// mark: a sync byte, a kind byte, then nibbles that carry the caller's index and a 32-bit value
// (the caller's frame number, or a probe's number and the frame's index in it), then a check
// nibble. The rest of the frame is a sine with a whole number of cycles per frame, so every
// frame of a kind has the same tail. Parley decodes G.711 to PCM and encodes it again on the
// way to the agent and back; both are exact for every byte the mark uses, so the agent finds
// the mark in the media payload and the caller in the PCM it received (re-encoded), as long as
// nothing on the way changes the samples (no gain, no mixing with other audio, 20 ms frames
// that stay aligned). A frame that was changed shows up as "unknown" in the counts.

// The kinds of marked frames.
const (
	kindCaller byte = 0x9A // what a caller sends: Value is its frame number
	kindPlayed byte = 0xA5 // a checkpoint probe's audio: Value is probe<<16 | frame index
	kindClear  byte = 0xB6 // a clearAudio probe's audio: Value is probe<<16 | frame index
)

const (
	markSync   byte = 0x15
	nibbleBase byte = 0x40 // a nibble n is the byte 0x40+n: mid-level samples, exact in G.711
	markNibs        = 4 + 8 + 1
	markLen         = 2 + markNibs
)

// frameMark is what a marked frame carries.
type frameMark struct {
	Kind   byte
	Caller int // 0-65535
	Value  uint32
}

// putMark writes m into the first markLen bytes of b.
func putMark(b []byte, m frameMark) {
	b[0], b[1] = markSync, m.Kind
	sum := int(m.Kind)
	put := func(i int, n byte) {
		b[2+i] = nibbleBase + n
		sum += int(n)
	}
	for i := range 4 {
		put(i, byte(m.Caller>>(12-4*i))&0xF)
	}
	for i := range 8 {
		put(4+i, byte(m.Value>>(28-4*i))&0xF)
	}
	b[2+12] = nibbleBase + byte(sum&0xF)
}

// readMark reads the mark at the start of b.
func readMark(b []byte) (frameMark, bool) {
	if len(b) < markLen || b[0] != markSync {
		return frameMark{}, false
	}
	m := frameMark{Kind: b[1]}
	if m.Kind != kindCaller && m.Kind != kindPlayed && m.Kind != kindClear {
		return frameMark{}, false
	}
	sum := int(m.Kind)
	var nib [markNibs]byte
	for i := range nib {
		n := b[2+i] - nibbleBase
		if n > 0xF {
			return frameMark{}, false
		}
		nib[i] = n
		if i < markNibs-1 {
			sum += int(n)
		}
	}
	if nib[markNibs-1] != byte(sum&0xF) {
		return frameMark{}, false
	}
	for i := range 4 {
		m.Caller = m.Caller<<4 | int(nib[i])
	}
	for i := range 8 {
		m.Value = m.Value<<4 | uint32(nib[4+i])
	}
	return m, true
}

// probeValue packs a probe's number and a frame index.
func probeValue(probe, frame int) uint32 { return uint32(probe)<<16 | uint32(frame&0xFFFF) }

// markTails holds the tail of each kind of frame: a sine of 400 Hz (callers) or 1000 Hz (probe
// audio) at -10 dBFS, μ-law encoded, 8 or 20 whole cycles per frame.
var markTails = sync.OnceValue(func() map[byte][]byte {
	tail := func(freq float64) []byte {
		pcm := make([]int16, media.FrameSamples)
		amp := math.Pow(10, -10.0/20) * 32767
		for i := range pcm {
			pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
		}
		b := make([]byte, media.FrameSamples)
		media.PCMU.Encode(b, pcm)
		return b[markLen:]
	}
	return map[byte][]byte{kindCaller: tail(400), kindPlayed: tail(1000), kindClear: tail(1000)}
})

// markedFrame writes the whole μ-law frame of m into b (media.FrameSamples long).
func markedFrame(b []byte, m frameMark) {
	putMark(b, m)
	copy(b[markLen:], markTails()[m.Kind])
}

// isSilence reports whether a μ-law frame is digital silence (what Parley sends when nothing
// plays, and what a stream carries when no audio came in).
func isSilence(b []byte) bool {
	for _, v := range b {
		if v != 0xFF && v != 0x7F {
			return false
		}
	}
	return true
}

// TestFrameMarkRoundTrip checks that a marked frame survives what Parley does to it on the way
// (G.711 decode and encode) and that damage is caught. It needs no server.
func TestFrameMarkRoundTrip(t *testing.T) {
	marks := []frameMark{
		{Kind: kindCaller, Caller: 0, Value: 0},
		{Kind: kindCaller, Caller: 299, Value: 4499},
		{Kind: kindPlayed, Caller: 65535, Value: probeValue(7, 24)},
		{Kind: kindClear, Caller: 17, Value: 0xFFFFFFFF},
	}
	frame := make([]byte, media.FrameSamples)
	pcm := make([]int16, media.FrameSamples)
	again := make([]byte, media.FrameSamples)
	for _, m := range marks {
		markedFrame(frame, m)
		media.PCMU.Decode(pcm, frame)
		media.PCMU.Encode(again, pcm)
		got, ok := readMark(again)
		if !ok || got != m {
			t.Errorf("mark %+v came back as %+v (ok %v)", m, got, ok)
		}
		if string(again) != string(frame) {
			t.Errorf("frame of %+v changed by G.711 decode/encode", m)
		}
		if isSilence(frame) {
			t.Errorf("frame of %+v taken for silence", m)
		}
		// Any one changed byte of the mark must be caught (or read as the same mark).
		for i := range markLen {
			for _, d := range []byte{1, 0x10, 0x80} {
				bad := append([]byte(nil), frame...)
				bad[i] ^= d
				if got, ok := readMark(bad); ok && got == m {
					t.Errorf("mark %+v with byte %d changed by %#x still read as itself", m, i, d)
				}
			}
		}
	}
	silence := make([]byte, media.FrameSamples)
	media.PCMU.Encode(silence, make([]int16, media.FrameSamples))
	if !isSilence(silence) {
		t.Error("encoded silence not recognised")
	}
	if _, ok := readMark(silence); ok {
		t.Error("silence read as a mark")
	}
}
