package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// DTMFEvent is one RFC 4733 telephone-event payload.
type DTMFEvent struct {
	Event    uint8  // 0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D'
	End      bool   // the E bit: this packet ends the event
	Volume   uint8  // power level in -dBm0, 0-63
	Duration uint16 // samples (8 kHz) since the event began
}

// Defaults for sent DTMF events.
const (
	DefaultDTMFDuration = 100 * time.Millisecond
	DefaultDTMFVolume   = 10
)

var errDTMFShort = errors.New("telephone-event payload is shorter than 4 bytes")

// ParseDTMFEvent decodes an RFC 4733 payload. Bytes beyond the first event are ignored.
func ParseDTMFEvent(payload []byte) (DTMFEvent, error) {
	if len(payload) < 4 {
		return DTMFEvent{}, errDTMFShort
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F,
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, nil
}

// EncodeDTMFEvent returns the 4-byte RFC 4733 payload of ev (volume is masked to 6 bits;
// the reserved bit is zero).
func EncodeDTMFEvent(ev DTMFEvent) []byte {
	b := []byte{ev.Event, ev.Volume & 0x3F, 0, 0}
	if ev.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], ev.Duration)
	return b
}

const dtmfDigits = "0123456789*#ABCD"

// DigitToEvent maps a DTMF digit (0-9, *, #, A-D; a-d accepted) to its event code.
func DigitToEvent(r rune) (uint8, bool) {
	if r >= 'a' && r <= 'd' {
		r -= 'a' - 'A'
	}
	for i, d := range dtmfDigits {
		if d == r {
			return uint8(i), true
		}
	}
	return 0, false
}

// EventToDigit maps an event code 0-15 to its digit.
func EventToDigit(ev uint8) (rune, bool) {
	if int(ev) >= len(dtmfDigits) {
		return 0, false
	}
	return rune(dtmfDigits[ev]), true
}

// DTMFDetector turns received telephone-event packets into digits. Every packet of one event
// carries the event's RTP timestamp, so a digit is reported on the first packet seen with a
// new timestamp, whatever its marker, duration or end bit says: a first packet of duration 0,
// a lost first packet and the repeated end packets are all handled. Packets older than the
// last event (reordered stragglers) are ignored. Not safe for concurrent use.
type DTMFDetector struct {
	payloadType uint8
	have        bool
	ssrc        uint32
	lastTS      uint32
}

// NewDTMFDetector returns a detector for telephone-event packets of the negotiated dynamic
// payload type pt; packets of any other type are ignored.
func NewDTMFDetector(pt uint8) *DTMFDetector {
	return &DTMFDetector{payloadType: pt}
}

// Feed takes one received RTP packet and returns the digit of a new event.
func (d *DTMFDetector) Feed(pkt Packet) (digit rune, ok bool) {
	if pkt.PayloadType != d.payloadType {
		return 0, false
	}
	ev, err := ParseDTMFEvent(pkt.Payload)
	if err != nil {
		return 0, false
	}
	if d.have && pkt.SSRC == d.ssrc && int32(pkt.Timestamp-d.lastTS) <= 0 {
		return 0, false // same event, or an older one
	}
	d.have, d.ssrc, d.lastTS = true, pkt.SSRC, pkt.Timestamp
	return EventToDigit(ev.Event)
}

// Reset forgets the last event, e.g. when the remote stream restarts.
func (d *DTMFDetector) Reset() { d.have = false }

// DTMFPacketSpec describes one RTP packet of an outgoing telephone event. All packets of an
// event share one RTP timestamp (the event's start); sequence numbers increase as usual.
type DTMFPacketSpec struct {
	Offset  time.Duration // when to send, from the start of the event
	Marker  bool          // set on the first packet of the event
	Event   DTMFEvent
	Payload []byte // EncodeDTMFEvent(Event)
}

// dtmfEndRepeats is how many times the end packet is sent (RFC 4733 §2.5.1.4).
const dtmfEndRepeats = 3

// DTMFPackets describes the packet train for one digit lasting d (0 means
// DefaultDTMFDuration, rounded up to 20 ms, at most 8 s) at volume (0-63, in -dBm0): one
// packet every 20 ms whose duration field counts the event so far (the first says 160, never
// 0, which some receivers drop), marker on the first, and the end packet sent three times 20
// ms apart with the full duration.
func DTMFPackets(digit rune, d time.Duration, volume uint8) ([]DTMFPacketSpec, error) {
	code, ok := DigitToEvent(digit)
	if !ok {
		return nil, fmt.Errorf("DTMF: %q is not a digit (0-9, *, #, A-D)", digit)
	}
	if d == 0 {
		d = DefaultDTMFDuration
	}
	if d < 0 || d > 8*time.Second {
		return nil, fmt.Errorf("DTMF: duration %s is outside 20 ms to 8 s", d)
	}
	if volume > 63 {
		return nil, fmt.Errorf("DTMF: volume %d is outside 0-63", volume)
	}
	n := int((d + FrameDuration - 1) / FrameDuration)
	specs := make([]DTMFPacketSpec, 0, n-1+dtmfEndRepeats)
	add := func(i int, dur int, end bool) {
		ev := DTMFEvent{Event: code, End: end, Volume: volume, Duration: uint16(dur)}
		specs = append(specs, DTMFPacketSpec{
			Offset:  time.Duration(i) * FrameDuration,
			Marker:  i == 0,
			Event:   ev,
			Payload: EncodeDTMFEvent(ev),
		})
	}
	for i := range n - 1 {
		add(i, (i+1)*FrameSamples, false)
	}
	for r := range dtmfEndRepeats {
		add(n-1+r, n*FrameSamples, true)
	}
	return specs, nil
}
