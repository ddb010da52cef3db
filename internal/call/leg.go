package call

import (
	"context"
	"net/netip"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Leg is the signalling and media of one SIP call leg. The SIP layer implements it; everything
// above talks to a call only through this interface, so the SIP/RTP stack can be replaced.
//
// Methods are safe for concurrent use unless said otherwise.
type Leg interface {
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
	// tsIncrement is added to the RTP timestamp after the packet (160 for a 20 ms audio frame,
	// 0 for all but the last packet of an RFC 4733 event). Only one goroutine writes at a time.
	WriteRTP(payload []byte, payloadType uint8, marker bool, tsIncrement uint32) error
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
	Created       time.Time
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
