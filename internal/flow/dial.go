package flow

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/vxml"
)

// DialRoute is where a <Dial> destination goes.
type DialRoute struct {
	Target     string   // SIP URI for the INVITE
	Contacts   []string // registered contacts when Target is one of our endpoints
	ViaGateway bool
}

// DialRouter resolves <Dial> destinations: numbers through the outbound gateway, users to the
// contacts of a registered endpoint or to any SIP URI. A destination that cannot be routed
// returns the cause (5020 Routing Error, 2020 Endpoint Not Registered).
type DialRouter interface {
	RouteDial(ctx context.Context, accountID, kind, address string) (DialRoute, *call.Cause)
}

// LegTracker registers a B leg created by <Dial> (live-call registry, call records). B legs
// send no hangup webhook.
type LegTracker func(b *call.Call, parent *call.Call)

// branch is one <Dial> destination being rung.
type branch struct {
	target vxml.DialTarget
	b      *call.Call
	lost   chan struct{}
	res    attemptResult
	done   chan struct{}
	// reported is set once the DialHangup of a leg that was never bridged has been sent.
	reported bool
}

// dialOutcome is what the action request reports (spec §9.6.3).
type dialOutcome struct {
	status   string // DialStatus
	rang     bool
	cause    string // DialHangupCause
	bLegUUID string
}

// dial runs <Dial> (spec §7.12): all destinations ring at once, the first to answer is
// bridged, the caller continues when the bridge ends.
func (x *run) dial(e *vxml.Dial) (*vxml.Document, error) {
	if err := x.answer(); err != nil {
		return nil, err
	}
	x.blocking()
	a := x.c
	id := a.Identity()
	callerID := e.CallerID
	if callerID == "" {
		callerID = call.PartyUser(id.From)
	}
	callerName := e.CallerName
	if callerName == "" {
		callerName = id.CallerName
	}

	var out dialOutcome
	var branches []*branch
	answered := make(chan *branch, len(e.Targets))
	finished := make(chan *branch, len(e.Targets))
	var early *earlyRelay
	if e.DialMusic == vxml.DialMusicReal {
		early = newEarlyRelay()
	}
	for _, t := range e.Targets {
		br, cause := x.startBranch(e, t, callerID, callerName, answered, finished, early)
		if cause != nil {
			out.cause = cause.Cause
			out.status = "failed"
			x.warn("Dial destination cannot be routed", "destination", t.Address, "cause", cause.Name)
			continue
		}
		branches = append(branches, br)
	}

	stopMusic := x.dialMusic(e, early)
	var winner *branch
	pending := len(branches)
wait:
	for pending > 0 {
		select {
		case br := <-answered:
			winner = br
			break wait
		case br := <-finished:
			pending--
			out.rang = out.rang || br.res.rang
			out.cause = br.res.cause.Cause
			out.status = FinalStatus(br.b.Identity(), call.Outcome{Cause: br.res.cause})
			x.unansweredHangup(e, br)
		case <-x.ctx.Done():
			break wait
		}
	}
	stopMusic()
	for _, br := range branches {
		if br != winner {
			close(br.lost) // lost race, or the caller is gone
		}
	}
	for _, br := range branches {
		if br != winner {
			<-br.done
			out.rang = out.rang || br.res.rang
			x.unansweredHangup(e, br) // cancelled: lost the race, or the caller is gone
		}
	}
	// Another destination may have answered in the same instant as the winner.
	for {
		select {
		case late := <-answered:
			cause, source := x.whyBranchStopped()
			late.b.Hangup(cause, source, 0)
			continue
		default:
		}
		break
	}

	if winner != nil {
		out.rang = true
		out.bLegUUID = winner.b.UUID()
		x.dialEvent(e, winner, "DialAnswer", "answer", nil)
		if winner.target.SendDigits != "" && !winner.target.SendOnPreanswer {
			_ = winner.b.SendDigits(winner.b.Context(), winner.target.SendDigits, false)
		}
		detached := x.bridge(e, winner)
		o, _ := winner.b.Outcome()
		if detached != nil {
			// B left for its own document (calls-more §B): for this Dial it hung up.
			o = call.Outcome{Cause: call.CauseNormalHangup, Source: call.SourceAPIRequest,
				Answered: winner.b.AnswerTime(), Ended: time.Now()}
			go x.r.runDetached(&Session{Call: winner.b, AuthToken: x.s.AuthToken}, detached)
		}
		out.status, out.cause = "completed", o.Cause.Cause
		x.dialEvent(e, winner, "DialHangup", "hangup", &o)
	} else if x.ctx.Err() != nil {
		out.status = "cancel"
	} else if out.status == "" {
		out.status = "failed"
	}

	if e.Action == "" || (x.ctx.Err() != nil && a.Context().Err() == nil) {
		// No action request for a Dial abandoned by a transfer (calls-more §B).
		if a.Context().Err() != nil {
			return nil, errCallEnded
		}
		return nil, nil
	}
	params := CallParams(a, "")
	params.Set("DialStatus", out.status)
	params.Set("DialRingStatus", strconv.FormatBool(out.rang))
	params.Set("DialHangupCause", out.cause)
	params.Set("DialALegUUID", id.UUID)
	params.Set("DialBLegUUID", out.bLegUUID)
	if a.Context().Err() != nil {
		x.notify(e.Action, e.Method, params)
		return nil, errCallEnded
	}
	if e.Redirect {
		return x.fetchDocument(actionDoc, e.Action, e.Method, params)
	}
	x.notify(e.Action, e.Method, params)
	return nil, nil
}

// startBranch routes and dials one destination.
func (x *run) startBranch(e *vxml.Dial, t vxml.DialTarget, callerID, callerName string, answered, finished chan<- *branch, early *earlyRelay) (*branch, *call.Cause) {
	a := x.c
	ctx := x.ctx
	if x.r.Dialer == nil || x.r.DialRouter == nil {
		return nil, &call.CauseRoutingError
	}
	route, cause := x.r.DialRouter.RouteDial(ctx, a.Identity().AccountID, t.Kind, t.Address)
	if cause != nil {
		return nil, cause
	}
	headers := map[string]string{}
	for _, h := range e.SIPHeaders {
		headers["X-PH-"+h.Name] = h.Value
	}
	for _, h := range t.SIPHeaders {
		headers["X-PH-"+h.Name] = h.Value
	}
	progress := make(chan Progress, 4)
	leg, err := x.r.Dialer.Dial(ctx, call.DialRequest{
		Target: route.Target, Contacts: route.Contacts, FromUser: callerID, FromDisplay: callerName,
		Headers: headers, RingTimeout: e.Timeout,
		OnProgress: func(status int, early bool) {
			select {
			case progress <- Progress{status, early}:
			default:
			}
		},
	})
	if err != nil {
		x.warn("Dial could not place the call", "destination", t.Address, "err", err)
		return nil, &call.CauseRoutingError
	}
	to := call.URIParty(t.Address) // as §1.7 shows parties: no port or parameters
	if t.Kind == vxml.TargetNumber {
		to = strings.TrimPrefix(t.Address, "+")
	}
	b := call.New(call.Identity{
		AccountID: a.Identity().AccountID, Direction: call.Outbound,
		From: strings.TrimPrefix(callerID, "+"), To: to, CallerName: callerName, ALegUUID: a.UUID(),
	}, leg, call.Options{Logger: x.r.logger(), MaxAnswered: x.r.MaxAnswered})
	if x.r.TrackLeg != nil {
		x.r.TrackLeg(b, a)
	}
	br := &branch{target: t, b: b, lost: make(chan struct{}), done: make(chan struct{})}
	at := &Attempt{Call: b, Leg: leg, Progress: progress, ViaGateway: route.ViaGateway}
	go func() {
		defer close(br.done)
		br.res = await(at, attemptHooks{
			stop: br.lost, stopCause: x.whyBranchStopped,
			onRing: func(earlyMedia bool) {
				if earlyMedia && early != nil {
					early.relayFrom(b)
				}
				if earlyMedia && t.SendOnPreanswer && t.SendDigits != "" {
					_ = b.SendDigits(b.Context(), t.SendDigits, false)
				}
			},
		})
		if br.res.answered && e.ConfirmSound != "" && !x.confirm(e, br) {
			br.res.answered = false
			o, _ := b.Outcome()
			br.res.cause, br.res.source = o.Cause, o.Source
		}
		if br.res.answered {
			select {
			case answered <- br:
			case <-br.lost:
				cause, source := x.whyBranchStopped()
				b.Hangup(cause, source, 0)
			}
			return
		}
		finished <- br
	}()
	return br, nil
}

// whyBranchStopped is the cause of a destination given up on: the caller hung up, the call is
// being transferred, or another destination answered first.
func (x *run) whyBranchStopped() (call.Cause, string) {
	switch {
	case x.c.Context().Err() != nil:
		return call.CauseCanceled, call.SourceCaller
	case x.ctx.Err() != nil:
		return call.CauseCanceled, call.SourceAPIRequest
	}
	return call.CauseLostRace, call.SourceVobiz
}

// confirmWait is how long B has to press confirmKey after confirmSound ends (spec §7.12).
const confirmWait = 10 * time.Second

// confirm plays confirmSound to an answered B leg and, with confirmKey, waits for B to press
// it. B is hung up (9110) when it does not; false means this destination failed.
func (x *run) confirm(e *vxml.Dial, br *branch) bool {
	b := br.b
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go func() {
		select {
		case <-br.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	pressed := make(chan struct{}, 1)
	if e.ConfirmKey != "" {
		b.SetDigitSink(func(d rune) {
			if strings.ContainsRune(e.ConfirmKey, d) {
				select {
				case pressed <- struct{}{}:
				default:
				}
			}
		})
		defer b.SetDigitSink(nil)
	}
	if src, err := x.musicDocumentOnce(ctx, e.ConfirmSound, b); err != nil {
		x.warn("confirmSound could not be used", "url", e.ConfirmSound, "err", err)
	} else {
		playCtx, stopPlay := context.WithCancel(ctx)
		go func() {
			select {
			case <-pressed:
				pressed <- struct{}{} // keep it for the wait below
				stopPlay()
			case <-playCtx.Done():
			}
		}()
		_ = b.Play(playCtx, src)
		stopPlay()
	}
	if e.ConfirmKey == "" {
		return ctx.Err() == nil
	}
	select {
	case <-pressed:
		return true
	case <-time.After(confirmWait):
		b.Hangup(call.CauseConfirmKeyFailed, call.SourceVobiz, 0)
	case <-ctx.Done():
		cause, source := x.whyBranchStopped()
		b.Hangup(cause, source, 0)
	}
	return false
}

// dialMusic plays what the caller hears while the destinations ring; the returned func stops it.
// early is the relay of dialMusic="real".
func (x *run) dialMusic(e *vxml.Dial, early *earlyRelay) func() {
	ctx, cancel := context.WithCancel(x.ctx)
	var src media.Source
	switch e.DialMusic {
	case "":
		return cancel
	case vxml.DialMusicReal:
		src = early
	default:
		s, err := x.musicDocument(ctx, e.DialMusic)
		if err != nil {
			x.warn("dialMusic could not be used; silence instead", "url", e.DialMusic, "err", err)
			return cancel
		}
		src = s
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = x.c.Play(ctx, src)
	}()
	return func() {
		cancel()
		<-done
	}
}

// musicDocument fetches a dialMusic document and loops its Play/Speak/Wait elements.
func (x *run) musicDocument(ctx context.Context, rawURL string) (media.Source, error) {
	pcm, err := x.soundDocument(ctx, rawURL, x.c)
	if err != nil {
		return nil, err
	}
	return media.Loop(func() media.Source { return media.NewPCMSource(pcm) }, 0), nil
}

// musicDocumentOnce fetches a document (confirmSound) about call c and plays its
// Play/Speak/Wait elements once.
func (x *run) musicDocumentOnce(ctx context.Context, rawURL string, c *call.Call) (media.Source, error) {
	pcm, err := x.soundDocument(ctx, rawURL, c)
	if err != nil {
		return nil, err
	}
	return media.NewPCMSource(pcm), nil
}

// soundDocument fetches a sound document with the parameters of call c and renders it.
func (x *run) soundDocument(ctx context.Context, rawURL string, c *call.Call) ([]int16, error) {
	return x.r.renderSound(ctx, webhookRequest(rawURL, "POST", CallParams(c, ""), x.s.AuthToken))
}

// earlyRelay is the caller's audio under dialMusic="real": ringback until a destination sends
// early media, then that destination's audio (the first one to send any), relayed as it
// arrives.
type earlyRelay struct {
	ringback media.Source
	ring     *call.AudioRing
	active   atomic.Bool
}

func newEarlyRelay() *earlyRelay {
	return &earlyRelay{ringback: ringback(), ring: call.NewAudioRing(media.SampleRate)}
}

// relayFrom makes b's received early media what the caller hears, unless another destination
// already does. b's audio sink is taken over again by the bridge once a destination answers.
func (r *earlyRelay) relayFrom(b *call.Call) {
	if r.active.CompareAndSwap(false, true) {
		b.SetAudioSink(func(pcm []int16) { r.ring.Write(pcm) })
	}
}

// ReadFrame implements media.Source; a relay that runs dry is silence.
func (r *earlyRelay) ReadFrame(dst []int16) error {
	if !r.active.Load() {
		return r.ringback.ReadFrame(dst)
	}
	n := r.ring.Read(dst)
	clear(dst[n:])
	return nil
}

// ringback is the North American ringback tone (440+480 Hz, 2 s on, 4 s off), repeated.
func ringback() media.Source {
	on := media.ReadAll(media.Tone(440, 2*time.Second, -13), 0)
	on2 := media.ReadAll(media.Tone(480, 2*time.Second, -13), 0)
	for i := range min(len(on), len(on2)) {
		on[i] = on[i]/2 + on2[i]/2
	}
	cycle := append(on, make([]int16, 4*media.SampleRate)...)
	return media.Loop(func() media.Source { return media.NewPCMSource(cycle) }, 0)
}

// bridge relays audio and DTMF between the caller and the answered B leg until one of them
// hangs up, the time limit passes, the caller presses * with hangupOnStar, or a transfer
// detaches B: it then returns the document B is to run, and B is left up.
func (x *run) bridge(e *vxml.Dial, br *branch) (detached *transferRequest) {
	a, b := x.c, br.b
	aOut, err := a.TakeOutput()
	if err != nil {
		b.Hangup(call.CauseNormalHangup, call.SourceCaller, 0)
		return nil
	}
	defer aOut.Release()
	bOut, err := b.TakeOutput()
	if err != nil {
		return nil
	}
	defer bOut.Release()
	link := x.r.addBridge(a, b)
	defer x.r.removeBridge(link) // after the outputs are released (defers run last-first)
	x.dialEvent(e, br, "DialConnected", "connected", nil)
	x.mu.Lock()
	x.inDial = true
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		x.inDial = false
		x.mu.Unlock()
	}()

	var rec *recording
	var removeTaps []func()
	if x.dialRecord != nil {
		if r, err := x.startRecording(x.dialRecord.FileFormat, true); err == nil {
			rec = r
			removeTaps = []func(){a.AddTap(call.TapReceived, rec.w.in), a.AddTap(call.TapSent, rec.w.out)}
			if x.dialRecord.Action != "" {
				x.notify(x.dialRecord.Action, x.dialRecord.Method, x.recordingParams(rec, nil, ""))
			}
		} else {
			x.warn("cannot record the Dial bridge", "err", err)
		}
	}

	a.SetAudioSink(RelayAudio(bOut))
	b.SetAudioSink(RelayAudio(aOut))
	star := make(chan struct{}, 1)
	// Each matcher is fed by its leg's RTP reader only.
	aDigits := media.NewDigitMatcher(e.DigitsMatch)
	bDigits := media.NewDigitMatcher(e.DigitsMatchBLeg)
	a.SetDigitSink(func(d rune) {
		if d == '*' && e.HangupOnStar {
			select {
			case star <- struct{}{}:
			default:
			}
			return
		}
		if p, ok := aDigits.Feed(d, time.Now()); ok {
			x.dialDigitsEvent(e, br, p)
		}
		_ = bOut.SendDigit(d)
	})
	b.SetDigitSink(func(d rune) {
		if p, ok := bDigits.Feed(d, time.Now()); ok {
			x.dialDigitsEvent(e, br, p)
		}
		_ = aOut.SendDigit(d)
	})
	defer func() {
		a.SetAudioSink(nil)
		a.SetDigitSink(nil)
		b.SetAudioSink(nil)
		b.SetDigitSink(nil)
	}()

	limit := time.NewTimer(e.TimeLimit)
	defer limit.Stop()
	select {
	case <-b.Done():
	case <-link.detach:
	case <-x.ctx.Done():
		// The caller hung up, or the call is being transferred.
		source := call.SourceCaller
		if a.Context().Err() == nil {
			source = call.SourceAPIRequest
		}
		if link.detached() == nil { // a detached B runs its own document
			b.Hangup(call.CauseNormalHangup, source, 0)
		}
	case <-limit.C:
		b.Hangup(call.CauseScheduledHangup, call.SourceVobiz, 0)
	case <-star:
		b.Hangup(call.CauseNormalHangup, call.SourceCaller, 0)
	}
	detached = link.detached()
	if detached == nil || b.Context().Err() != nil {
		detached = nil
		<-b.Done()
	}
	if rec != nil {
		for _, remove := range removeTaps {
			remove()
		}
		meta := x.finishRecording(rec)
		if cb := x.dialRecord.CallbackURL; cb != "" {
			p := x.recordingParams(rec, &meta, "")
			p.Set("Event", "RecordStop")
			x.notify(cb, x.dialRecord.CallbackMethod, p)
		}
		x.dialRecord = nil
	}
	return detached
}

// RelayAudio returns an audio sink that re-encodes each received frame for the other leg (a
// Dial bridge, a cluster node's internal conference leg). It runs on one RTP reader
// goroutine, so one buffer is enough.
func RelayAudio(to interface {
	Codec() media.Codec
	WriteFrame([]byte) error
}) func([]int16) {
	buf := make([]byte, media.FrameSamples)
	return func(pcm []int16) {
		if len(buf) < len(pcm) {
			buf = make([]byte, len(pcm))
		}
		to.Codec().Encode(buf[:len(pcm)], pcm)
		_ = to.WriteFrame(buf[:len(pcm)])
	}
}

// dialEvent sends a callbackUrl event of <Dial> (spec §9.6.3).
func (x *run) dialEvent(e *vxml.Dial, br *branch, event, action string, o *call.Outcome) {
	if e.CallbackURL == "" {
		return
	}
	b := br.b.Identity()
	p := CallParams(x.c, event)
	p.Set("DialAction", action)
	p.Set("DialALegUUID", x.c.UUID())
	p.Set("DialBLegUUID", b.UUID)
	p.Set("DialBLegFrom", b.From)
	p.Set("DialBLegTo", b.To)
	status := "answered"
	if o != nil {
		status = "completed"
		if o.Answered.IsZero() {
			// A leg that never answered: how its ringing ended; one that lost the race to
			// another destination was cancelled.
			status = FinalStatus(br.b.Identity(), *o)
			if o.Cause.Code == call.CauseLostRace.Code {
				status = "cancel"
			}
		}
		p.Set("DialBLegHangupCause", o.Cause.Cause)
		p.Set("DialBLegHangupCauseCode", strconv.Itoa(o.Cause.Code))
		p.Set("DialBLegHangupCauseName", o.Cause.Name)
		p.Set("DialBLegHangupSource", o.Source)
		dur := 0
		if !o.Answered.IsZero() {
			dur = int(o.Ended.Sub(o.Answered) / time.Second)
		}
		p.Set("DialBLegDuration", strconv.Itoa(dur))
		p.Set("DialBLegBillDuration", strconv.Itoa(dur))
		p.Set("StartTime", b.Created.UTC().Format(webhookTimeLayout))
		p.Set("EndTime", o.Ended.UTC().Format(webhookTimeLayout))
	}
	p.Set("DialBLegStatus", status)
	x.notify(e.CallbackURL, e.CallbackMethod, p)
}

// unansweredHangup sends the DialHangup event of a B leg that ended without being bridged
// (spec §9.6.3), once per leg.
func (x *run) unansweredHangup(e *vxml.Dial, br *branch) {
	if br.reported {
		return
	}
	br.reported = true
	if e.CallbackURL == "" {
		return
	}
	select {
	case <-br.b.Done():
	case <-time.After(applyBound):
	}
	o, ok := br.b.Outcome()
	if !ok {
		o = call.Outcome{Cause: br.res.cause, Source: br.res.source, Ended: time.Now()}
	}
	x.dialEvent(e, br, "DialHangup", "hangup", &o)
}

// applyBound bounds waiting for a B leg given up on to end.
const applyBound = 2 * time.Second

// dialDigitsEvent reports a matched digit pattern of a bridge to callbackUrl.
func (x *run) dialDigitsEvent(e *vxml.Dial, br *branch, pattern string) {
	if e.CallbackURL == "" {
		return
	}
	b := br.b.Identity()
	p := CallParams(x.c, "DialDigitsMatch")
	p.Set("DialAction", "digits")
	p.Set("DialDigitsMatch", pattern)
	p.Set("DialALegUUID", x.c.UUID())
	p.Set("DialBLegUUID", b.UUID)
	p.Set("DialBLegFrom", b.From)
	p.Set("DialBLegTo", b.To)
	p.Set("DialBLegStatus", "answered")
	x.notify(e.CallbackURL, e.CallbackMethod, p)
}
