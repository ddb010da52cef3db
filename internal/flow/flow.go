// Package flow runs a VobizXML application on a call: it fetches the answer URL (and every
// redirect, action and transfer document), runs the elements in order, answers the call when the
// first answering element starts, and ends the call at the end of the document.
//
// It must not speak SIP or HTTP routing itself: calls are driven through package call, documents
// and notifications go through package webhook, rooms through package conference.
package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/vxml"
	"github.com/parley-voice/parley/internal/webhook"
)

// maxChainedFetches is the limit of spec §7.14.
const maxChainedFetches = 10

// silenceThresholdDBFS is the level under which <Wait silence="true"> counts a frame as silent.
const silenceThresholdDBFS = -40

// DocumentFetcher fetches documents (answer, fallback, redirect, action, transfer URLs).
type DocumentFetcher interface {
	FetchDocument(ctx context.Context, r webhook.Request) (webhook.Document, error)
}

// Notifier queues notifications in the durable outbox.
type Notifier interface {
	Notify(ctx context.Context, n webhook.Notification) error
}

// Synthesizer turns text into 8 kHz PCM.
type Synthesizer interface {
	Synthesize(ctx context.Context, r tts.Request) ([]int16, error)
}

// AudioSource turns an audio URL into 8 kHz PCM.
type AudioSource interface {
	Fetch(ctx context.Context, url string) ([]int16, error)
}

// CallLog keeps the warnings of a call in its record.
type CallLog interface {
	AddCallWarning(ctx context.Context, callUUID, text string) error
}

// Runner runs documents on calls. One Runner serves every call; it holds no per-call state.
type Runner struct {
	Fetcher  DocumentFetcher
	Notifier Notifier
	Synth    Synthesizer
	Audio    AudioSource
	CallLog  CallLog // may be nil
	Logger   *slog.Logger
	// Conferences lets <Conference> join rooms; nil means the element is refused.
	Conferences Conferences
	// PublicBaseURL prefixes recording URLs.
	PublicBaseURL string
	// RecordingsDir is where <Record> files are written.
	RecordingsDir string
	// SaveRecording stores the row of a final recording; nil keeps none.
	SaveRecording func(ctx context.Context, m RecordingMeta) error
	// Dialer and DialRouter place <Dial> legs; without them Dial fails with 5020.
	Dialer     call.Dialer
	DialRouter DialRouter
	// TrackLeg registers the B legs of <Dial>; may be nil.
	TrackLeg LegTracker
	// Streams runs <Stream>; nil means the element is skipped with a warning.
	Streams *Streams

	mu   sync.Mutex
	runs map[string]*run // documents running now, by CallUUID (for transfers)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func webhookRequest(rawURL, method string, params url.Values, token string) webhook.Request {
	return webhook.Request{URL: rawURL, Method: method, Params: params, AuthToken: token}
}

// Session is one call's application: where its documents come from and who signs for them.
type Session struct {
	Call           *call.Call
	AuthToken      string
	AnswerURL      string
	AnswerMethod   string
	FallbackURL    string
	FallbackMethod string
}

// stop tells the element loop to end the document with this cause (the call is hung up).
type stop struct {
	cause  call.Cause
	source string
	status int // SIP status for an unanswered inbound call; 0 = the default
}

func (s *stop) Error() string { return fmt.Sprintf("hang up: %s", s.cause.Name) }

// errCallEnded means the call is gone; nothing more runs.
var errCallEnded = errors.New("call ended")

// run is the state of one document execution.
type run struct {
	r             *Runner
	s             *Session
	c             *call.Call
	log           *slog.Logger
	fetches       int // document fetches since the last blocking element
	scheduleTimer *time.Timer
	dialRecord    *vxml.Record // a <Record startOnDialAnswer> waiting for the next <Dial>

	// ctx is the running element's context: the call's, cancelled early by a transfer.
	ctx context.Context

	mu         sync.Mutex
	cancelElem context.CancelFunc
	transfer   *transferRequest
	inDial     bool

	stopped chan struct{} // closed when Run returns
}

// transferRequest is a pending REST transfer (spec §4.6).
type transferRequest struct {
	url, method string
	taken       chan struct{} // closed once the running element has been abandoned for it
}

// Run runs the session's application until the call ends or its document is exhausted. It
// always leaves the call ended.
func (r *Runner) Run(s *Session) {
	x := &run{r: r, s: s, c: s.Call, log: s.Call.Logger(), ctx: s.Call.Context(), stopped: make(chan struct{})}
	r.register(x)
	defer close(x.stopped)
	defer r.unregister(x)
	defer func() {
		if x.scheduleTimer != nil {
			x.scheduleTimer.Stop()
		}
	}()
	doc, err := x.fetchAnswer()
	if err == nil {
		err = x.execute(doc)
	}
	x.finish(err)
}

// finish turns the loop's final error into the call's end.
func (x *run) finish(err error) {
	var st *stop
	switch {
	case errors.Is(err, errCallEnded) || x.c.Context().Err() != nil:
		return
	case errors.As(err, &st):
		x.c.Hangup(st.cause, st.source, st.status)
	case err != nil:
		x.log.Error("call flow failed", "err", err)
		x.c.Hangup(call.CauseInternalError, call.SourceError, 500)
	default:
		x.c.Hangup(call.CauseEndOfXML, call.SourceVobiz, 480)
	}
}

// warn logs a warning and keeps it in the call's record.
func (x *run) warn(msg string, args ...any) {
	x.log.Warn(msg, args...)
	if x.r.CallLog != nil {
		text := msg
		for i := 0; i+1 < len(args); i += 2 {
			text += fmt.Sprintf(" %v=%v", args[i], args[i+1])
		}
		if err := x.r.CallLog.AddCallWarning(context.Background(), x.c.UUID(), text); err != nil {
			x.log.Debug("storing call warning failed", "err", err)
		}
	}
}

// docKind says which causes a failed fetch of a document gives (spec §8.6).
type docKind struct {
	name        string
	unreachable call.Cause
	invalid     call.Cause
}

var (
	answerDoc   = docKind{"answer", call.CauseAnswerURLError, call.CauseInvalidAnswerXML}
	redirectDoc = docKind{"redirect", call.CauseRedirectURLError, call.CauseInvalidRedirectXML}
	actionDoc   = docKind{"action", call.CauseActionURLError, call.CauseInvalidActionXML}
	transferDoc = docKind{"transfer", call.CauseTransferURLError, call.CauseInvalidTransferXML}
)

func (x *run) failStatus() int {
	if x.c.Identity().Direction == call.Inbound && !x.c.IsAnswered() {
		return 500
	}
	return 0
}

// fetchAnswer fetches the answer document, falling back when the answer URL is unreachable.
func (x *run) fetchAnswer() (*vxml.Document, error) {
	params := CallParams(x.c, "StartApp")
	params.Set("STIRVerification", "Not Applicable")
	params.Set("STIRAttestation", "")
	doc, err := x.fetchDocument(answerDoc, x.s.AnswerURL, x.s.AnswerMethod, params)
	var st *stop
	if errors.As(err, &st) && st.cause == call.CauseAnswerURLError && x.s.FallbackURL != "" {
		x.warn("answer_url unreachable, using fallback_url", "url", x.s.AnswerURL)
		return x.fetchDocument(answerDoc, x.s.FallbackURL, x.s.FallbackMethod, params)
	}
	return doc, err
}

// fetchDocument requests a document and parses it; failures become the right stop.
func (x *run) fetchDocument(kind docKind, rawURL, method string, params url.Values) (*vxml.Document, error) {
	ctx := x.c.Context()
	x.fetches++
	if x.fetches > maxChainedFetches {
		x.warn("too many document fetches without a blocking element", "limit", maxChainedFetches)
		return nil, &stop{call.CauseInvalidRedirectXML, call.SourceError, x.failStatus()}
	}
	if method == "" {
		method = "POST"
	}
	d, err := x.r.Fetcher.FetchDocument(ctx, webhook.Request{URL: rawURL, Method: method, Params: params, AuthToken: x.s.AuthToken})
	if ctx.Err() != nil {
		return nil, errCallEnded
	}
	if err != nil {
		if errors.Is(err, webhook.ErrDocumentTooLarge) {
			x.warn("invalid "+kind.name+" document", "url", rawURL, "err", err)
			return nil, &stop{kind.invalid, call.SourceError, x.failStatus()}
		}
		x.warn("cannot reach "+kind.name+" URL", "url", rawURL, "err", err)
		return nil, &stop{kind.unreachable, call.SourceError, x.failStatus()}
	}
	base := d.URL
	if base == nil {
		base, _ = url.Parse(rawURL)
	}
	doc, err := vxml.Parse(d.Body, base)
	if err != nil {
		x.warn("invalid "+kind.name+" document", "url", rawURL, "err", err)
		return nil, &stop{kind.invalid, call.SourceError, x.failStatus()}
	}
	for _, w := range doc.Warnings {
		x.warn("document warning", "url", rawURL, "warning", w)
	}
	return doc, nil
}

// execute runs a document and every document that replaces it.
func (x *run) execute(doc *vxml.Document) error {
	for doc != nil {
		next, err := x.runElements(doc.Elements)
		if err != nil {
			return err
		}
		doc = next
	}
	return nil
}

// runElements runs elements in order; a non-nil document replaces the rest.
func (x *run) runElements(elems []vxml.Element) (*vxml.Document, error) {
	for _, el := range elems {
		if x.c.Context().Err() != nil {
			return nil, errCallEnded
		}
		if t := x.takeTransfer(); t != nil {
			return x.fetchTransfer(t)
		}
		ctx, cancel := context.WithCancel(x.c.Context())
		x.mu.Lock()
		x.ctx, x.cancelElem = ctx, cancel
		x.mu.Unlock()
		next, err := x.exec(el)
		cancel()
		if x.c.Context().Err() == nil {
			if t := x.takeTransfer(); t != nil {
				return x.fetchTransfer(t)
			}
		}
		if err != nil || next != nil {
			return next, err
		}
	}
	return nil, nil
}

// takeTransfer returns and clears a pending transfer.
func (x *run) takeTransfer() *transferRequest {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.transfer
	x.transfer = nil
	if t != nil {
		close(t.taken)
	}
	return t
}

// fetchTransfer fetches the document of a transfer, which replaces the running one.
func (x *run) fetchTransfer(t *transferRequest) (*vxml.Document, error) {
	x.fetches = 0
	return x.fetchDocument(transferDoc, t.url, t.method, CallParams(x.c, "Transfer"))
}

// ErrNoDocument is returned by Transfer for a call that runs no document here.
var ErrNoDocument = errors.New("the call runs no document")

// ErrNotBridged is returned by Transfer when the B leg is asked for and the call is not in a
// <Dial> bridge.
var ErrNotBridged = errors.New("the call is not in a Dial bridge")

// Transfer replaces the running document of a live call with the one at rawURL (spec §4.6):
// the running element is abandoned (a conference member leaves its room, a Dial bridge is
// broken) and the new document is fetched with Event=Transfer. It returns once the element
// has been abandoned, the document has stopped, or ctx has ended (the transfer then still
// happens, a little later), so that a read after it sees the call out of its room.
func (r *Runner) Transfer(ctx context.Context, callUUID, rawURL, method string) error {
	r.mu.Lock()
	x := r.runs[callUUID]
	r.mu.Unlock()
	if x == nil {
		return ErrNoDocument
	}
	if method == "" {
		method = "POST"
	}
	t := &transferRequest{url: rawURL, method: method, taken: make(chan struct{})}
	x.mu.Lock()
	if old := x.transfer; old != nil {
		t.taken = old.taken // replaces a transfer not yet taken: both wait for the same moment
	}
	x.transfer = t
	cancel := x.cancelElem
	x.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	select {
	case <-t.taken:
	case <-x.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Stopped is closed once the call runs no document: its last element has returned (a
// conference member has left its room) and the call has been hung up. It is already closed
// when no document runs for callUUID.
func (r *Runner) Stopped(callUUID string) <-chan struct{} {
	r.mu.Lock()
	x := r.runs[callUUID]
	r.mu.Unlock()
	if x == nil {
		none := make(chan struct{})
		close(none)
		return none
	}
	return x.stopped
}

// InDial tells whether the call is bridged by <Dial> right now.
func (r *Runner) InDial(callUUID string) bool {
	r.mu.Lock()
	x := r.runs[callUUID]
	r.mu.Unlock()
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.inDial
}

func (r *Runner) register(x *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = make(map[string]*run)
	}
	r.runs[x.c.UUID()] = x
}

func (r *Runner) unregister(x *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs[x.c.UUID()] == x {
		delete(r.runs, x.c.UUID())
	}
}

// answer answers the call if it is not yet answered.
func (x *run) answer() error {
	if x.c.IsAnswered() {
		return nil
	}
	if err := x.c.Answer(x.c.Context()); err != nil {
		if x.c.Context().Err() != nil || errors.Is(err, call.ErrEnded) {
			return errCallEnded
		}
		return fmt.Errorf("answering: %w", err)
	}
	return nil
}

// blocking marks that an element spent time on the call (spec §7.14).
func (x *run) blocking() { x.fetches = 0 }

// ended maps an interrupted media operation to errCallEnded when the call is gone.
func (x *run) ended(err error) error {
	if err == nil {
		return nil
	}
	if x.c.Context().Err() != nil || errors.Is(err, call.ErrEnded) {
		return errCallEnded
	}
	return err
}

func (x *run) exec(el vxml.Element) (*vxml.Document, error) {
	switch e := el.(type) {
	case *vxml.Speak:
		if err := x.answer(); err != nil {
			return nil, err
		}
		return nil, x.speak(x.ctx, e)
	case *vxml.Play:
		if err := x.answer(); err != nil {
			return nil, err
		}
		return nil, x.play(x.ctx, e)
	case *vxml.Wait:
		return nil, x.wait(x.ctx, e)
	case *vxml.PreAnswer:
		return nil, x.preAnswer(e)
	case *vxml.Redirect:
		params := CallParams(x.c, "Redirect")
		return x.fetchDocument(redirectDoc, e.URL, e.Method, params)
	case *vxml.Hangup:
		return nil, x.hangup(e)
	case *vxml.DTMF:
		if err := x.answer(); err != nil {
			return nil, err
		}
		err := x.c.SendDigits(x.ctx, e.Digits, !e.Async)
		if err != nil && x.c.Context().Err() == nil {
			x.warn("sending DTMF failed", "err", err)
		}
		return nil, x.ended(err)
	case *vxml.Conference:
		return x.conference(e)
	case *vxml.Gather:
		return x.gather(e)
	case *vxml.Record:
		return x.record(e)
	case *vxml.Dial:
		return x.dial(e)
	case *vxml.Stream:
		return nil, x.stream(e)
	}
	x.warn("element not supported in this version; skipped", "element", fmt.Sprintf("%T", el))
	return nil, nil
}

// speak synthesises and plays text, loop times (0: until interrupted).
func (x *run) speak(ctx context.Context, e *vxml.Speak) error {
	x.blocking()
	text, ssml := e.Text, false
	if e.SSML != "" {
		text, ssml = e.SSML, true
	}
	if text == "" {
		return nil
	}
	pcm, err := x.r.Synth.Synthesize(ctx, tts.Request{Text: text, SSML: ssml, Voice: e.Voice, Language: e.Language})
	if err != nil {
		if ctx.Err() != nil {
			return x.ended(ctx.Err())
		}
		x.warn("speech synthesis failed; Speak skipped", "err", err)
		return nil
	}
	return x.loopPCM(ctx, pcm, e.Loop)
}

// play fetches and plays an audio file, loop times (0: until interrupted).
func (x *run) play(ctx context.Context, e *vxml.Play) error {
	x.blocking()
	pcm, err := x.r.Audio.Fetch(ctx, e.URL)
	if err != nil {
		if ctx.Err() != nil {
			return x.ended(ctx.Err())
		}
		x.warn("audio could not be fetched or decoded; Play skipped", "url", e.URL, "err", err)
		return nil
	}
	return x.loopPCM(ctx, pcm, e.Loop)
}

func (x *run) loopPCM(ctx context.Context, pcm []int16, loop int) error {
	if len(pcm) == 0 {
		return nil
	}
	for i := 0; loop == 0 || i < loop; i++ {
		if err := x.c.Play(ctx, media.NewPCMSource(pcm)); err != nil {
			return x.ended(err)
		}
	}
	return nil
}

// wait waits, keeping an unanswered inbound call ringing; with silence or beep it ends early.
func (x *run) wait(ctx context.Context, e *vxml.Wait) error {
	x.blocking()
	ctx, cancel := context.WithTimeout(ctx, e.Length)
	defer cancel()
	if (e.Silence || e.Beep) && x.c.State() != call.Ringing {
		// The detectors run on the RTP reader goroutine; the first detection ends the wait.
		detected := make(chan struct{}, 1)
		fire := func() {
			select {
			case detected <- struct{}{}:
			default:
			}
		}
		if e.Silence {
			det := media.NewSilenceDetector(silenceThresholdDBFS, e.MinSilence)
			x.c.SetAudioSink(func(pcm []int16) {
				if det.Feed(pcm) {
					fire()
				}
			})
		} else {
			det := media.NewBeepDetector()
			x.c.SetAudioSink(func(pcm []int16) {
				if _, ok := det.Feed(pcm); ok {
					fire()
				}
			})
		}
		defer x.c.SetAudioSink(nil)
		select {
		case <-detected:
			return nil
		case <-ctx.Done():
		}
	} else {
		<-ctx.Done()
	}
	if x.c.Context().Err() != nil {
		return errCallEnded
	}
	return nil
}

// preAnswer plays its children as early media without answering.
func (x *run) preAnswer(e *vxml.PreAnswer) error {
	if !x.c.IsAnswered() {
		if err := x.c.EarlyMedia(x.c.Context()); err != nil {
			return x.ended(err)
		}
	}
	ctx := x.ctx
	for _, child := range e.Children {
		var err error
		switch ch := child.(type) {
		case *vxml.Speak:
			err = x.speak(ctx, ch)
		case *vxml.Play:
			err = x.play(ctx, ch)
		case *vxml.Wait:
			err = x.wait(ctx, ch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hangup runs <Hangup>: at once, or armed with schedule.
func (x *run) hangup(e *vxml.Hangup) error {
	if e.HasSchedule && e.Schedule > 0 {
		if x.scheduleTimer != nil {
			x.scheduleTimer.Stop()
		}
		c := x.c
		x.scheduleTimer = time.AfterFunc(e.Schedule, func() {
			c.Hangup(call.CauseScheduledHangup, call.SourceAnswerXML, 480)
		})
		return nil
	}
	if x.c.IsAnswered() || x.c.Identity().Direction == call.Outbound {
		return &stop{call.CauseNormalHangup, call.SourceAnswerXML, 0}
	}
	if e.Reason == "busy" {
		return &stop{call.CauseBusy, call.SourceAnswerXML, 486}
	}
	return &stop{call.CauseRejected, call.SourceAnswerXML, 603}
}
