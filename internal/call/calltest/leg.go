// Package calltest provides a fake call.Leg for tests of the packages above call: the test
// plays the far end, feeding received packets and inspecting what was written. Leg is the
// signalling half; its embedded RTP is the media half and can be used alone where only
// call.LegMedia is needed.
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

// Leg is a fake call.Leg: the signalling half, with the media half embedded. Its zero value is
// not usable: use NewLeg.
type Leg struct {
	*RTP
	LegInfo call.LegInfo
	// HangupDelay makes Hangup and Reject take this long, like a BYE waiting for its 200.
	HangupDelay time.Duration

	mu       sync.Mutex
	answered bool
	early    bool
	rejected int
	hungUp   bool
	endedBy  call.LegEnd
	done     chan struct{}
	doneOnce sync.Once
	info     chan rune
}

// NewLeg returns an inbound fake leg.
func NewLeg() *Leg {
	done := make(chan struct{})
	return &Leg{RTP: NewRTP(done), LegInfo: call.LegInfo{Inbound: true}, done: done, info: make(chan rune, 16)}
}

// Media implements call.Leg.
func (l *Leg) Media() call.LegMedia { return l.RTP }

// Info implements call.LegSignalling.
func (l *Leg) Info() call.LegInfo { return l.LegInfo }

// Ring implements call.LegSignalling.
func (l *Leg) Ring(context.Context) error { return nil }

// EarlyMedia implements call.LegSignalling.
func (l *Leg) EarlyMedia(context.Context) error {
	l.mu.Lock()
	l.early = true
	l.mu.Unlock()
	return nil
}

// Answer implements call.LegSignalling.
func (l *Leg) Answer(context.Context) error {
	l.mu.Lock()
	l.answered = true
	l.mu.Unlock()
	return nil
}

// Reject implements call.LegSignalling.
func (l *Leg) Reject(status int, _ string, _ ...string) error {
	time.Sleep(l.HangupDelay)
	l.mu.Lock()
	l.rejected = status
	l.mu.Unlock()
	l.End(call.EndedLocal)
	return nil
}

// Hangup implements call.LegSignalling.
func (l *Leg) Hangup(context.Context) error {
	time.Sleep(l.HangupDelay)
	l.mu.Lock()
	l.hungUp = true
	l.mu.Unlock()
	l.End(call.EndedLocal)
	return nil
}

// Done implements call.LegSignalling.
func (l *Leg) Done() <-chan struct{} { return l.done }

// EndedBy implements call.LegSignalling.
func (l *Leg) EndedBy() call.LegEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endedBy
}

// RTP is a fake call.LegMedia: PCMU with telephone-event, packets received from what the test
// queues, packets sent kept for inspection. Its zero value is not usable: use NewRTP.
type RTP struct {
	// Sends says whether the far end sends media (false simulates sendonly/inactive peers).
	Sends bool

	ended <-chan struct{}
	rx    chan media.Packet

	mu      sync.Mutex
	written []Packet
	stats   call.MediaStats
}

// NewRTP returns fake media that ends (ReadPacket fails) when ended is closed.
func NewRTP(ended <-chan struct{}) *RTP {
	return &RTP{Sends: true, ended: ended, rx: make(chan media.Packet, 256)}
}

// Codec implements call.LegMedia: always PCMU.
func (r *RTP) Codec() media.Codec { return media.PCMU }

// TelephoneEventPT implements call.LegMedia.
func (r *RTP) TelephoneEventPT() uint8 { return TelephoneEventPT }

// RemoteSendsMedia implements call.LegMedia.
func (r *RTP) RemoteSendsMedia() bool { return r.Sends }

// ReadPacket implements call.LegMedia with the packets given to Receive.
func (r *RTP) ReadPacket(buf []byte) (media.Packet, error) {
	select {
	case p := <-r.rx:
		n := copy(buf, p.Payload)
		p.Payload = buf[:n]
		r.mu.Lock()
		r.stats.PacketsIn++
		r.stats.BytesIn += uint64(n)
		r.mu.Unlock()
		return p, nil
	case <-r.ended:
		return media.Packet{}, io.EOF
	}
}

// WriteRTP implements call.LegMedia by keeping the packet.
func (r *RTP) WriteRTP(payload []byte, pt uint8, marker bool, ts uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written = append(r.written, Packet{append([]byte(nil), payload...), pt, marker, ts, time.Now()})
	r.stats.PacketsOut++
	r.stats.BytesOut += uint64(len(payload))
	return nil
}

// Stats implements call.LegMedia: packets and bytes in and out (no loss, no jitter).
func (r *RTP) Stats() call.MediaStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
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
func (r *RTP) Receive(p media.Packet) { r.rx <- p }

// ReceiveAudio queues one PCMU frame of pcm.
func (r *RTP) ReceiveAudio(pcm []int16) {
	payload := make([]byte, len(pcm))
	media.PCMU.Encode(payload, pcm)
	r.Receive(media.Packet{PayloadType: 0, Payload: payload})
}

// ReceiveDigit queues an RFC 4733 event for digit with timestamp ts (first packet of duration
// 0, then end packets).
func (r *RTP) ReceiveDigit(digit rune, ts uint32) {
	ev, _ := media.DigitToEvent(digit)
	for i, dur := range []uint16{0, 160, 800, 800, 800} {
		payload := media.EncodeDTMFEvent(media.DTMFEvent{Event: ev, Duration: dur, End: i >= 2})
		r.Receive(media.Packet{PayloadType: TelephoneEventPT, Marker: i == 0, Timestamp: ts, Payload: payload})
	}
}

// InfoDigits implements call.InfoDigitSource.
func (l *Leg) InfoDigits() <-chan rune { return l.info }

// ReceiveInfoDigit delivers a digit as if sent in a SIP INFO.
func (l *Leg) ReceiveInfoDigit(d rune) { l.info <- d }

// Written returns the packets sent so far.
func (r *RTP) Written() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Packet(nil), r.written...)
}

// WrittenPCM decodes the audio packets sent so far.
func (r *RTP) WrittenPCM() []int16 {
	var pcm []int16
	for _, p := range r.Written() {
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
