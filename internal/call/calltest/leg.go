// Package calltest provides a fake call.Leg for tests of the packages above call: the test
// plays the far end, feeding received packets and inspecting what was written.
//
// It must only be imported by tests.
package calltest

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
)

// TelephoneEventPT is the payload type the fake negotiates for RFC 4733.
const TelephoneEventPT = 101

// Packet is one RTP packet the fake leg was asked to send.
type Packet struct {
	Payload     []byte
	PayloadType uint8
	Marker      bool
	TSIncrement uint32
	At          time.Time
}

// Leg is a fake call.Leg. Its zero value is not usable: use NewLeg.
type Leg struct {
	LegInfo call.LegInfo
	// Sends says whether the far end sends media (false simulates sendonly/inactive peers).
	Sends bool

	mu       sync.Mutex
	written  []Packet
	answered bool
	early    bool
	rejected int
	hungUp   bool
	endedBy  call.LegEnd
	done     chan struct{}
	doneOnce sync.Once
	rx       chan media.Packet
	info     chan rune
}

// NewLeg returns an inbound fake leg.
func NewLeg() *Leg {
	return &Leg{LegInfo: call.LegInfo{Inbound: true}, Sends: true, done: make(chan struct{}),
		rx: make(chan media.Packet, 256), info: make(chan rune, 16)}
}

// Info implements call.Leg.
func (l *Leg) Info() call.LegInfo { return l.LegInfo }

// Ring implements call.Leg.
func (l *Leg) Ring(context.Context) error { return nil }

// EarlyMedia implements call.Leg.
func (l *Leg) EarlyMedia(context.Context) error {
	l.mu.Lock()
	l.early = true
	l.mu.Unlock()
	return nil
}

// Answer implements call.Leg.
func (l *Leg) Answer(context.Context) error {
	l.mu.Lock()
	l.answered = true
	l.mu.Unlock()
	return nil
}

// Reject implements call.Leg.
func (l *Leg) Reject(status int, _ string, _ ...string) error {
	l.mu.Lock()
	l.rejected = status
	l.mu.Unlock()
	l.End(call.EndedLocal)
	return nil
}

// Hangup implements call.Leg.
func (l *Leg) Hangup(context.Context) error {
	l.mu.Lock()
	l.hungUp = true
	l.mu.Unlock()
	l.End(call.EndedLocal)
	return nil
}

// Done implements call.Leg.
func (l *Leg) Done() <-chan struct{} { return l.done }

// EndedBy implements call.Leg.
func (l *Leg) EndedBy() call.LegEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endedBy
}

// Codec implements call.Leg: always PCMU.
func (l *Leg) Codec() media.Codec { return media.PCMU }

// TelephoneEventPT implements call.Leg.
func (l *Leg) TelephoneEventPT() uint8 { return TelephoneEventPT }

// RemoteSendsMedia implements call.Leg.
func (l *Leg) RemoteSendsMedia() bool { return l.Sends }

// ReadPacket implements call.Leg with the packets given to Receive.
func (l *Leg) ReadPacket(buf []byte) (media.Packet, error) {
	select {
	case p := <-l.rx:
		n := copy(buf, p.Payload)
		p.Payload = buf[:n]
		return p, nil
	case <-l.done:
		return media.Packet{}, io.EOF
	}
}

// WriteRTP implements call.Leg by keeping the packet.
func (l *Leg) WriteRTP(payload []byte, pt uint8, marker bool, ts uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written = append(l.written, Packet{append([]byte(nil), payload...), pt, marker, ts, time.Now()})
	return nil
}

// End ends the leg as if by, e.g. call.EndedRemoteBye for the caller hanging up.
func (l *Leg) End(by call.LegEnd) {
	l.doneOnce.Do(func() {
		l.mu.Lock()
		l.endedBy = by
		l.mu.Unlock()
		close(l.done)
	})
}

// Receive queues a packet as if it came from the far end.
func (l *Leg) Receive(p media.Packet) { l.rx <- p }

// ReceiveAudio queues one PCMU frame of pcm.
func (l *Leg) ReceiveAudio(pcm []int16) {
	payload := make([]byte, len(pcm))
	media.PCMU.Encode(payload, pcm)
	l.Receive(media.Packet{PayloadType: 0, Payload: payload})
}

// ReceiveDigit queues an RFC 4733 event for digit with timestamp ts (first packet of duration
// 0, then end packets).
func (l *Leg) ReceiveDigit(digit rune, ts uint32) {
	ev, _ := media.DigitToEvent(digit)
	for i, dur := range []uint16{0, 160, 800, 800, 800} {
		payload := media.EncodeDTMFEvent(media.DTMFEvent{Event: ev, Duration: dur, End: i >= 2})
		l.Receive(media.Packet{PayloadType: TelephoneEventPT, Marker: i == 0, Timestamp: ts, Payload: payload})
	}
}

// InfoDigits implements call.InfoDigitSource.
func (l *Leg) InfoDigits() <-chan rune { return l.info }

// ReceiveInfoDigit delivers a digit as if sent in a SIP INFO.
func (l *Leg) ReceiveInfoDigit(d rune) { l.info <- d }

// Written returns the packets sent so far.
func (l *Leg) Written() []Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Packet(nil), l.written...)
}

// WrittenPCM decodes the audio packets sent so far.
func (l *Leg) WrittenPCM() []int16 {
	var pcm []int16
	for _, p := range l.Written() {
		if p.PayloadType != 0 {
			continue
		}
		f := make([]int16, len(p.Payload))
		media.PCMU.Decode(f, p.Payload)
		pcm = append(pcm, f...)
	}
	return pcm
}

// State reports what signalling the leg saw.
func (l *Leg) State() (answered, early, hungUp bool, rejected int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered, l.early, l.hungUp, l.rejected
}
