package call

import (
	"context"
	"errors"
	"time"
)

// DialRequest describes one outbound leg to place.
type DialRequest struct {
	// Target is the destination, "sip:user@host[:port][;transport=tcp]". A host name is
	// resolved (A/AAAA, no SRV). "sips:" and other schemes are refused.
	Target string
	// Contacts, when not empty, are the registered contacts of the endpoint named by Target:
	// each gets its own INVITE at once, the first 200 wins and the others are cancelled.
	// Target then only fills the To header.
	Contacts []string
	// FromUser and FromDisplay make the From header (user part and display name).
	FromUser    string
	FromDisplay string
	// Headers are extra INVITE headers, such as X-PH-*; names must be SIP tokens.
	Headers map[string]string
	// Username and Password answer a 401/407 digest challenge from the far end; optional.
	Username string
	Password string
	// OnProgress is called for the first 180 and the first 183 (once each), with earlyMedia
	// true when the response carried SDP. It runs on the signalling goroutine: return quickly.
	OnProgress func(status int, earlyMedia bool)
	// RingTimeout bounds the wait for an answer from the moment the INVITE is sent; then
	// the leg is cancelled and WaitAnswer returns ErrRingTimeout. 0 means 120 s.
	RingTimeout time.Duration
}

// Dialer places outbound legs. The SIP layer implements it.
type Dialer interface {
	// Dial checks the request, sends the INVITE(s) and returns the leg at once; follow it
	// with WaitAnswer. It fails only for a request that cannot be routed (bad or sips: URI,
	// unknown host, no usable contact, invalid header) or when no RTP port is free.
	Dial(ctx context.Context, req DialRequest) (OutboundLeg, error)
}

// OutboundLeg is a Leg we placed. Before the answer it can carry early media (ReadPacket
// and WriteRTP work once the far end sent SDP in a 18x). After the answer it behaves like an
// answered inbound leg. Answer on it waits for the far end's answer (nil once answered);
// Ring, EarlyMedia and Reject do not apply (no-ops / error). Hangup before the answer is
// Cancel.
type OutboundLeg interface {
	Leg
	// WaitAnswer blocks until the outcome is known or ctx ends (ctx ending does not cancel
	// the leg). Answered: (200, nil). Otherwise err is not nil and status is the final SIP
	// status when there was one (486, 603, 404, 480, 408, 500, 503...), else 0:
	// ErrNoResponse (no response at all: cause 3070), ErrRingTimeout (cause 6010),
	// ErrDialCanceled (Cancel or Hangup before answer), ErrRefused wrapped with the status,
	// or another error for a transport failure or an unusable answer.
	WaitAnswer(ctx context.Context) (status int, err error)
	// Cancel gives up before the answer (CANCEL on the wire, sent as soon as the far end
	// has sent a provisional response). It is a no-op after the outcome is known.
	Cancel()
}

// Outcomes of an outbound leg that was not answered.
var (
	ErrNoResponse   = errors.New("no response to the INVITE")
	ErrRingTimeout  = errors.New("no answer before the ring timeout")
	ErrDialCanceled = errors.New("call attempt cancelled")
	ErrRefused      = errors.New("call refused by the far end")
)

// CauseForSIPStatus maps a final error response to an outbound INVITE to its hangup cause
// (spec §10.2).
func CauseForSIPStatus(status int) Cause {
	switch status {
	case 408, 480:
		return CauseNoAnswer
	case 486, 600:
		return CauseBusy
	case 603:
		return CauseRejected
	case 403:
		return CauseForbidden
	case 404, 410, 484, 604:
		return CauseUnallocated
	case 500, 502, 504:
		return CauseCarrierServerError
	case 503:
		return CauseCongestion
	}
	return CauseNetworkError
}
