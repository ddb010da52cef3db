// Package media holds Parley's audio primitives: G.711 codecs, 20 ms PCM frames, audio sources
// (WAV, MP3, tones, silence), resampling, RFC 4733 telephone events, jitter queues and recorders.
//
// It must not import any other Parley package nor do network or SIP work: it turns bytes into
// samples and samples into bytes, nothing more.
package media

import "time"

// Audio format used everywhere inside Parley: 8 kHz, mono, signed 16-bit PCM in 20 ms frames.
const (
	SampleRate    = 8000
	FrameSamples  = 160
	FrameDuration = 20 * time.Millisecond
)

// Codec is a narrowband RTP audio codec, identified by its static RTP payload type.
type Codec uint8

// The codecs Parley negotiates.
const (
	PCMU Codec = 0
	PCMA Codec = 8
)

// PayloadType is the static RTP payload type of the codec.
func (c Codec) PayloadType() uint8 { return uint8(c) }

// String names the codec as SDP does.
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "unknown"
}

// Source yields audio as 20 ms frames of 8 kHz mono PCM.
type Source interface {
	// ReadFrame fills dst (FrameSamples long) with the next frame. A short final frame is
	// padded with silence. It returns io.EOF once the source is exhausted.
	ReadFrame(dst []int16) error
}

// Packet is one received RTP packet, as handed over by the SIP layer.
type Packet struct {
	PayloadType uint8
	Marker      bool
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	Payload     []byte
}
