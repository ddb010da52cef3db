package call

import (
	"context"
	"net/netip"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Leg is one SIP call leg: its signalling (this interface) and, through Media, its RTP. The SIP
// layer implements it; everything above talks to a call only through these interfaces, so the
// SIP/RTP stack can be replaced. The split follows diago's DialogSession / DialogMedia:
// components that only move audio (a call's Output, a conference room, the Dial relay) need the
// media half alone.
//
// Methods are safe for concurrent use unless said otherwise.
type Leg interface {
	LegSignalling
	// Media is the leg's media half. It is nil for a leg that never had and never will have
	// media (a call that could not be placed); otherwise the same value every time, usable once
	// EarlyMedia or Answer succeeded (or the far end sent SDP, for an outbound leg).
	Media() LegMedia
}

// LegSignalling is the SIP dialog of a leg: answering, refusing and ending it, and what it
// says about the parties. Re-INVITEs (hold, new address or codec) are answered by the SIP
// layer itself and only show in the media half; DTMF sent as SIP INFO is reached through the
// optional InfoDigitSource and InfoDigitSender.
type LegSignalling interface {
	// Info describes the leg as signalling saw it.
	Info() LegInfo

	// Ring sends 180 Ringing on an unanswered inbound leg (no-op when not applicable).
	Ring(ctx context.Context) error
	// EarlyMedia sends 183 Session Progress with SDP; media can be written afterwards while
	// the leg stays unanswered. Calling it twice is a no-op.
	EarlyMedia(ctx context.Context) error
	// Answer sends 200 OK with SDP for an inbound leg and waits for the ACK (bounded).
	// After EarlyMedia the same media session is kept. Calling it twice is a no-op.
	Answer(ctx context.Context) error
	// Reject refuses an unanswered inbound leg with a final SIP status (e.g. 480, 486, 603,
	// 404, 500, 503). extraHeaders are "Name: value" pairs such as Retry-After.
	Reject(status int, reason string, extraHeaders ...string) error
	// Hangup ends the leg from our side: BYE when answered, CANCEL when an outbound leg is
	// unanswered, 480 when an inbound leg is unanswered. It is idempotent and returns after
	// the request has been sent (it does not wait long for the far end).
	Hangup(ctx context.Context) error

	// Done is closed once the leg has ended for any reason (either side, or transport failure).
	Done() <-chan struct{}
	// EndedBy says who ended the leg; valid after Done is closed.
	EndedBy() LegEnd
}

// LegMedia is the RTP of a leg: packets in and out, what was negotiated for them, and counters.
// It knows nothing of SIP dialogs.
type LegMedia interface {
	// Codec is the negotiated audio codec; valid after EarlyMedia or Answer.
	Codec() media.Codec
	// TelephoneEventPT is the negotiated RFC 4733 payload type, 0 when not negotiated.
	TelephoneEventPT() uint8
	// RemoteSendsMedia is false when the far end does not send media (its SDP says recvonly or
	// inactive, or its address is 0.0.0.0), so the media timeout must not fire.
	RemoteSendsMedia() bool

	// ReadPacket blocks for the next received RTP packet (audio or telephone-event). The
	// payload aliases buf. It returns an error once the leg has ended. Only one goroutine
	// may read.
	ReadPacket(buf []byte) (media.Packet, error)
	// WriteRTP sends one RTP packet at once, without pacing: the caller is the clock.
	// tsIncrement is added to the RTP timestamp after the packet (the number of samples for
	// an audio frame, 160 for 20 ms at 8 kHz; 0 for all but the last packet of an RFC 4733
	// event). Only one goroutine writes at a time.
	WriteRTP(payload []byte, payloadType uint8, marker bool, tsIncrement uint32) error

	// Stats is a snapshot of the media counters. Cheap and lock-free: it may be called at
	// any time from any goroutine.
	Stats() MediaStats
}

// MediaStats counts a leg's RTP since media started (the shape of livekit/sip's PortStats:
// plain counters, kept with atomics so the packet path takes no lock).
type MediaStats struct {
	PacketsIn  uint64 // valid RTP packets received (audio and telephone-event)
	BytesIn    uint64 // their payload bytes
	PacketsOut uint64 // RTP packets sent to the network (not those dropped while the peer is on hold)
	BytesOut   uint64 // their payload bytes
	// PacketsLost is how many packets the far end's sequence numbers say never arrived
	// (gaps; a packet arriving late takes its loss back).
	PacketsLost uint64
	// Jitter is the RFC 3550 §6.4.1 interarrival jitter estimate of received audio.
	Jitter time.Duration
}

// InfoDigitSource is implemented by legs that can receive DTMF as SIP INFO
// (application/dtmf-relay) besides RFC 4733 events.
type InfoDigitSource interface {
	InfoDigits() <-chan rune
}

// InfoDigitSender is implemented by legs that can send DTMF as SIP INFO
// (application/dtmf-relay), used when the far end did not negotiate telephone-event.
type InfoDigitSender interface {
	SendInfoDigit(ctx context.Context, digit rune, duration time.Duration) error
}

// LegInfo is what signalling tells about a leg.
type LegInfo struct {
	CallID        string            // SIP Call-ID
	Inbound       bool              // true for a leg we received
	FromUser      string            // user part of From
	FromHost      string            // host of From
	FromDisplay   string            // display name of From, "" when none
	ToUser        string            // user part of the Request-URI (inbound) or of the target (outbound)
	RequestURI    string            // full Request-URI without parameters, "sip:user@host"
	Source        netip.AddrPort    // address the INVITE came from (inbound)
	Transport     string            // "udp" or "tcp"
	CustomHeaders map[string]string // X-PH-* headers of the INVITE, keyed by the full header name
	Diversion     string            // user of a Diversion / History-Info header, "" when none
	// JoinToken is the X-Parley-Join header: the one-time token of another cluster node's
	// internal conference leg (never routed to an application); "" on other calls.
	JoinToken string
	Created   time.Time
}

// LegEnd tells who ended a leg.
type LegEnd int

// How a leg ended.
const (
	EndedLocal        LegEnd = iota // we hung up or rejected
	EndedRemoteBye                  // the far end sent BYE
	EndedRemoteCancel               // the far end cancelled before answer
	EndedTransport                  // transport failure, ACK timeout
)
