// Package call holds a call leg's identity (its CallUUID), its state machine, its media handle
// (the reader of received RTP and the owner of outgoing audio) and its hangup, plus the registry
// of live calls.
//
// It must not know about XML documents, conferences, HTTP or SIP messages: signalling is reached
// only through the LegSignalling half of a Leg and RTP only through its LegMedia half, and
// everything above drives a Call through its methods.
package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/media"
)

// Direction of a call leg as the API reports it.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// State is where a call is in its life.
type State int

// Call states. A call moves forward only: Ringing -> Early -> Answered -> Ended (Early and
// Answered may be skipped).
const (
	Ringing State = iota
	Early
	Answered
	Ended
)

func (s State) String() string {
	switch s {
	case Ringing:
		return "ringing"
	case Early:
		return "early"
	case Answered:
		return "answered"
	}
	return "ended"
}

// ErrEnded is returned by operations on a call that has ended.
var ErrEnded = errors.New("call has ended")

// Identity is what the API and webhooks say about a call leg.
type Identity struct {
	UUID       string
	AccountID  string
	Direction  Direction
	From       string // normalised as spec §1.7
	To         string
	CallerName string
	Created    time.Time
	// ForwardedFrom is the diverting number of an inbound call, "" when none.
	ForwardedFrom string
	// CustomHeaders are X-PH-* headers to report as webhook parameters.
	CustomHeaders map[string]string
	// ALegUUID is, for a <Dial> B leg, the CallUUID of the caller that dialled it (webhooks'
	// ALegUUID); "" for other legs.
	ALegUUID string
}

// Outcome is how a call ended.
type Outcome struct {
	Cause    Cause
	Source   string
	Answered time.Time // zero when never answered
	Ended    time.Time
}

// Options tune a call's media handling.
type Options struct {
	// MediaTimeout ends an answered call that receives no RTP for this long (cause 6020).
	// Zero disables it.
	MediaTimeout time.Duration
	// MaxAnswered ends the call this long after it was answered (cause 6000, source Vobiz).
	// Zero means DefaultMaxAnswered; a negative value turns the cap off.
	MaxAnswered time.Duration
	Logger      *slog.Logger
	// OnAnswer, when set, is called once when the call is answered (Answer or MarkAnswered),
	// on the answering goroutine: it must not block.
	OnAnswer func(*Call)
}

// Call is one live call leg. Its methods are safe for concurrent use.
type Call struct {
	id   Identity
	leg  Leg
	rtp  LegMedia // leg.Media(), or noMedia when the leg has none
	opts Options
	log  *slog.Logger

	ctx    context.Context // ends when the call ends
	cancel context.CancelFunc

	mu       sync.Mutex
	state    State
	answered time.Time
	outcome  *Outcome
	endOnce  sync.Once
	ended    chan struct{}

	media *mediaPath
	jq    jitterTotals // of the rooms it was in, for the end-of-call summary

	machine machineResult // answering-machine detection's answer (machine.go)
}

// callUUIDTagger is implemented by legs that log on their own (sip's): from SetCallUUID on,
// their lines carry call_uuid beside sip_call_id, so one grep follows a call through
// signalling and flow. It is optional so that a Leg needs no logging to be one.
type callUUIDTagger interface {
	SetCallUUID(callUUID string)
}

// New wraps a leg into a Call with a fresh CallUUID (unless id.UUID is set).
func New(id Identity, leg Leg, opts Options) *Call {
	if id.UUID == "" {
		id.UUID = uuid.NewString()
	}
	if id.Created.IsZero() {
		id.Created = time.Now().UTC()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rtp := leg.Media()
	if rtp == nil {
		rtp = noMedia{}
	}
	c := &Call{
		id:     id,
		leg:    leg,
		rtp:    rtp,
		opts:   opts,
		log:    logger.With("call_uuid", id.UUID, "sip_call_id", leg.Info().CallID),
		ctx:    ctx,
		cancel: cancel,
		ended:  make(chan struct{}),
	}
	if t, ok := leg.(callUUIDTagger); ok {
		t.SetCallUUID(id.UUID)
	}
	c.media = newMediaPath(c)
	go c.watchLeg()
	return c
}

// Identity returns the call's identity.
func (c *Call) Identity() Identity { return c.id }

// UUID is the CallUUID.
func (c *Call) UUID() string { return c.id.UUID }

// Logger is the call's logger, carrying call_uuid.
func (c *Call) Logger() *slog.Logger { return c.log }

// Context ends when the call ends.
func (c *Call) Context() context.Context { return c.ctx }

// Done is closed after the call has ended and its outcome is set.
func (c *Call) Done() <-chan struct{} { return c.ended }

// State returns the current state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// IsAnswered tells whether the call has been answered (200 OK).
func (c *Call) IsAnswered() bool { return c.State() == Answered }

// AnswerTime is when the call was answered; zero when it was not.
func (c *Call) AnswerTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// Outcome returns how the call ended; ok is false while it is live.
func (c *Call) Outcome() (Outcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outcome == nil {
		return Outcome{}, false
	}
	return *c.outcome, true
}

// Leg exposes the leg (its signalling, and its media through Leg.Media).
func (c *Call) Leg() Leg { return c.leg }

// MediaStats is a snapshot of the call's RTP counters.
func (c *Call) MediaStats() MediaStats { return c.rtp.Stats() }

// Ring sends 180 Ringing on an unanswered inbound call.
func (c *Call) Ring(ctx context.Context) error {
	if c.State() != Ringing {
		return nil
	}
	return c.leg.Ring(ctx)
}

// EarlyMedia opens early media (183) on an unanswered call; a no-op once media flows.
func (c *Call) EarlyMedia(ctx context.Context) error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case Ended:
		return ErrEnded
	case Early, Answered:
		return nil
	}
	if err := c.leg.EarlyMedia(ctx); err != nil {
		return fmt.Errorf("early media: %w", err)
	}
	c.mu.Lock()
	if c.state == Ringing {
		c.state = Early
	}
	c.mu.Unlock()
	c.media.start()
	return nil
}

// Answer answers the call (200 OK); a no-op when already answered.
func (c *Call) Answer(ctx context.Context) error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case Ended:
		return ErrEnded
	case Answered:
		return nil
	}
	if err := c.leg.Answer(ctx); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	c.mu.Lock()
	if c.state == Ended {
		c.mu.Unlock()
		return ErrEnded
	}
	c.state = Answered
	c.answered = time.Now().UTC()
	c.mu.Unlock()
	c.armAnsweredCap()
	c.media.start()
	c.log.Info("call answered")
	if c.opts.OnAnswer != nil {
		c.opts.OnAnswer(c)
	}
	return nil
}

// MarkAnswered records that an outbound leg was answered by the far end.
func (c *Call) MarkAnswered() {
	c.mu.Lock()
	if c.state == Ended || c.state == Answered {
		c.mu.Unlock()
		return
	}
	c.state = Answered
	c.answered = time.Now().UTC()
	c.mu.Unlock()
	c.armAnsweredCap()
	c.media.start()
	if c.opts.OnAnswer != nil {
		c.opts.OnAnswer(c)
	}
}

// Hangup ends the call from our side with the given cause and source. For an unanswered
// inbound call it refuses the INVITE with status (0 picks 480). The first cause set wins; later
// calls only make sure the leg is down.
func (c *Call) Hangup(cause Cause, source string, status int) {
	c.finish(cause, source, func(prev State) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if c.id.Direction == Inbound && prev != Answered {
			if status == 0 {
				status = 480
			}
			err = c.leg.Reject(status, "")
		} else {
			err = c.leg.Hangup(ctx)
		}
		if err != nil {
			c.log.Warn("hangup signalling failed", "err", err)
		}
	})
}

// Reject refuses an unanswered inbound call with a SIP status, recording cause and source.
func (c *Call) Reject(status int, cause Cause, source string) {
	c.Hangup(cause, source, status)
}

// finish records the outcome once, runs signal (which tells the far end, given the state the
// call was in) and releases the call's resources.
func (c *Call) finish(cause Cause, source string, signal func(prev State)) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		prev := c.state
		c.outcome = &Outcome{Cause: cause, Source: source, Answered: c.answered, Ended: time.Now().UTC()}
		c.state = Ended
		c.mu.Unlock()
		c.cancel()
		if signal != nil {
			signal(prev)
		}
		c.media.stop()
		c.summarize(*c.outcome, cause, source)
		close(c.ended)
	})
}

// watchLeg turns the far end's hangup into the call's outcome.
func (c *Call) watchLeg() {
	select {
	case <-c.leg.Done():
	case <-c.ctx.Done():
		return
	}
	answered := c.State() == Answered
	if c.id.Direction == Outbound && !answered {
		// An outbound attempt that ends unanswered is judged by whoever placed it (busy, no
		// answer, ring timeout...), which knows the SIP status.
		return
	}
	by := c.leg.EndedBy()
	cause, source := CauseNormalHangup, SourceCaller
	if c.id.Direction == Outbound {
		source = SourceCallee
	}
	switch {
	case by == EndedRemoteCancel || (!answered && by == EndedRemoteBye):
		cause = CauseCanceled
	case by == EndedTransport:
		cause, source = CauseNetworkError, SourceUnknown
		if answered {
			cause = CauseNormalHangup
		}
	case by == EndedLocal:
		// We ended it ourselves through another path; finish with a neutral cause if nobody did.
		cause, source = CauseNormalHangup, SourceVobiz
	}
	c.finish(cause, source, nil)
}

// Codec reports the negotiated codec.
func (c *Call) Codec() media.Codec { return c.rtp.Codec() }

// noMedia is the media half of a leg that has none (Leg.Media returned nil): nothing is read,
// writes fail, and the media timeout never fires.
type noMedia struct{}

var errNoMedia = errors.New("the call leg has no media")

func (noMedia) Codec() media.Codec                         { return media.PCMU }
func (noMedia) TelephoneEventPT() uint8                    { return 0 }
func (noMedia) RemoteSendsMedia() bool                     { return false }
func (noMedia) ReadPacket([]byte) (media.Packet, error)    { return media.Packet{}, errNoMedia }
func (noMedia) WriteRTP([]byte, uint8, bool, uint32) error { return errNoMedia }
func (noMedia) Stats() MediaStats                          { return MediaStats{} }
