package app

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/media"
)

// maxCallRecordings bounds the REST recordings running on one leg (calls-more §A.7,
// max_call_recordings).
const maxCallRecordings = 10

// Overlay slots of a leg (calls-more §A.3): a new Play replaces the Play, a new Speak the Speak.
const (
	slotPlay = iota
	slotSpeak
	slotCount
)

// callMedia holds what the call-level media routes started on each leg: its overlays and its
// REST recordings. A leg's entry goes when the leg ends.
type callMedia struct {
	s    *Server
	mu   sync.Mutex
	legs map[string]*legMedia // by CallUUID
}

type legMedia struct {
	slots [slotCount]*overlay
	recs  map[string]*flow.CallRecording
}

func newCallMedia(s *Server) *callMedia {
	return &callMedia{s: s, legs: map[string]*legMedia{}}
}

// leg returns the entry of c, made on first use and dropped (overlays removed, recordings
// finished) when c ends. Called with m.mu held.
func (m *callMedia) legLocked(c *call.Call) *legMedia {
	lm := m.legs[c.UUID()]
	if lm == nil {
		lm = &legMedia{recs: map[string]*flow.CallRecording{}}
		m.legs[c.UUID()] = lm
		go func() {
			<-c.Done()
			m.mu.Lock()
			delete(m.legs, c.UUID())
			slots, recs := lm.slots, lm.recs
			lm.recs = map[string]*flow.CallRecording{}
			m.mu.Unlock()
			for _, o := range slots {
				if o != nil {
					o.stop()
				}
			}
			for _, r := range recs {
				r.Stop()
			}
		}()
	}
	return lm
}

// overlay is one Play or Speak on one leg: PCM loaded after the answer, pulled by the leg's
// sender frame by frame.
type overlay struct {
	replace bool // mix=false

	mu        sync.Mutex
	pcm       []int16
	pos       int
	loop      bool
	remaining int // samples still allowed (length); -1 for no bound
	finished  bool

	release func()        // gives up its share of the loading (cancelled when no overlay wants it)
	remove  func()        // takes it off the leg; nil until added
	done    chan struct{} // closed when its audio ran out or it was stopped
	once    sync.Once

	releaseOnce sync.Once
}

func newOverlay(replace, loop bool, length time.Duration, release func()) *overlay {
	o := &overlay{replace: replace, loop: loop, remaining: -1, release: release, done: make(chan struct{})}
	if length > 0 {
		o.remaining = int(length.Seconds() * media.SampleRate)
	}
	return o
}

// PullOverlay implements call.OverlaySource.
func (o *overlay) PullOverlay(dst []int16) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for n < len(dst) && !o.finished {
		if o.pos >= len(o.pcm) {
			if !o.loop || len(o.pcm) == 0 {
				o.finished = true
				break
			}
			o.pos = 0
		}
		k := copy(dst[n:], o.pcm[o.pos:])
		if o.remaining >= 0 {
			k = min(k, o.remaining)
			o.remaining -= k
			if o.remaining == 0 {
				o.finished = true
			}
		}
		o.pos += k
		n += k
	}
	if o.finished {
		o.once.Do(func() { close(o.done) })
	}
	return n
}

// ReplacesAudio implements call.ReplacingOverlay.
func (o *overlay) ReplacesAudio() bool { return o.replace }

// stop ends the overlay at once (replaced, DELETE, hangup).
func (o *overlay) stop() {
	o.mu.Lock()
	o.finished = true
	remove := o.remove
	o.mu.Unlock()
	o.once.Do(func() { close(o.done) })
	o.releaseOnce.Do(o.release)
	if remove != nil {
		remove()
	}
}

// start adds the overlay to c with pcm, unless it was stopped while loading; it removes itself
// from c when its audio runs out.
func (o *overlay) start(c *call.Call, pcm []int16) {
	o.mu.Lock()
	if o.finished {
		o.mu.Unlock()
		return
	}
	o.pcm = pcm
	o.mu.Unlock()
	remove := c.AddOverlay(o)
	o.mu.Lock()
	o.remove = remove
	ended := o.finished // stopped while it was being added, or already played out
	o.mu.Unlock()
	if ended {
		remove()
		return
	}
	go func() {
		select {
		case <-o.done:
		case <-c.Done():
		}
		remove()
	}()
}

// callMediaAPI adapts calls to the call-level media routes.
type callMediaAPI struct{ m *callMedia }

// legs resolves the addressed leg and the legs a selection names (calls-more §A.2): 404, 409,
// then the bridge check.
func (a callMediaAPI) legs(acct, uuid, sel string, post bool) ([]*call.Call, error) {
	s := a.m.s
	c, ok := s.calls.Get(acct, uuid)
	if !ok {
		return nil, api.ErrCallNotFound
	}
	if !c.IsAnswered() {
		if post {
			return nil, api.ErrCallNotAnswered
		}
		return nil, nil
	}
	peer, bridged := s.runner.BridgePeer(uuid)
	switch {
	case sel == "aleg":
		return []*call.Call{c}, nil
	case !bridged && sel == "bleg":
		return nil, api.ErrNotBridged
	case !bridged:
		return []*call.Call{c}, nil
	case sel == "bleg":
		return []*call.Call{peer}, nil
	case sel == "both":
		return []*call.Call{c, peer}, nil
	}
	// A stop: the addressed leg and the other leg of its bridge.
	return []*call.Call{c, peer}, nil
}

// startOverlay replaces the slot's overlay on each leg with a new one whose audio load
// returns; the audio is loaded once, after the answer, and added to all legs together.
func (a callMediaAPI) startOverlay(legs []*call.Call, slot int, replace, loop bool, length time.Duration,
	load func(ctx context.Context) []int16) {
	m := a.m
	ctx, cancel := context.WithCancel(context.Background())
	// The loading is shared by the request's overlays (legs=both): it is cancelled only when
	// every one of them has been stopped.
	var wanted atomic.Int32
	wanted.Store(int32(len(legs)))
	overlays := make([]*overlay, len(legs))
	m.mu.Lock()
	for i, c := range legs {
		var once sync.Once
		o := newOverlay(replace, loop, length, func() {
			once.Do(func() {
				if wanted.Add(-1) == 0 {
					cancel()
				}
			})
		})
		lm := m.legLocked(c)
		if old := lm.slots[slot]; old != nil {
			defer old.stop() // after the lock
		}
		lm.slots[slot] = o
		overlays[i] = o
	}
	m.mu.Unlock()
	go func() {
		defer cancel()
		pcm := load(ctx)
		for i, c := range legs {
			overlays[i].start(c, pcm)
		}
	}()
}

// stopSlot stops the slot's overlay on each leg.
func (a callMediaAPI) stopSlot(legs []*call.Call, slot int) {
	m := a.m
	var stops []*overlay
	m.mu.Lock()
	for _, c := range legs {
		if lm := m.legs[c.UUID()]; lm != nil && lm.slots[slot] != nil {
			stops = append(stops, lm.slots[slot])
			lm.slots[slot] = nil
		}
	}
	m.mu.Unlock()
	for _, o := range stops {
		o.stop()
	}
}

func (a callMediaAPI) Play(_ context.Context, acct, uuid string, p api.CallPlayParams) error {
	legs, err := a.legs(acct, uuid, p.Legs, true)
	if err != nil {
		return err
	}
	s := a.m.s
	log := legs[0].Logger()
	a.startOverlay(legs, slotPlay, !p.Mix, p.Loop, p.Length, func(ctx context.Context) []int16 {
		var pcm []int16
		for _, u := range p.URLs {
			part, err := s.runner.Audio.Fetch(ctx, u)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("call Play: file skipped", "url", u, "err", err)
					if werr := s.store.AddCallWarning(context.Background(), legs[0].UUID(), "call Play: file skipped url="+u+" err="+err.Error()); werr != nil {
						log.Debug("storing call warning failed", "err", werr)
					}
				}
				continue
			}
			pcm = append(pcm, part...)
		}
		return pcm
	})
	return nil
}

func (a callMediaAPI) Speak(_ context.Context, acct, uuid string, p api.CallSpeakParams) error {
	legs, err := a.legs(acct, uuid, p.Legs, true)
	if err != nil {
		return err
	}
	s := a.m.s
	log := legs[0].Logger()
	a.startOverlay(legs, slotSpeak, !p.Mix, p.Loop, 0, func(ctx context.Context) []int16 {
		pcm, err := s.synth.Synthesize(ctx, speechRequest(p.Text, p.Voice, p.Language))
		if err != nil && ctx.Err() == nil {
			log.Warn("call Speak: synthesis failed", "err", err)
		}
		return pcm
	})
	return nil
}

func (a callMediaAPI) StopPlay(_ context.Context, acct, uuid string) error {
	legs, err := a.legs(acct, uuid, "", false)
	if err != nil {
		return err
	}
	a.stopSlot(legs, slotPlay)
	return nil
}

func (a callMediaAPI) StopSpeak(_ context.Context, acct, uuid string) error {
	legs, err := a.legs(acct, uuid, "", false)
	if err != nil {
		return err
	}
	a.stopSlot(legs, slotSpeak)
	return nil
}

func (a callMediaAPI) SendDigits(_ context.Context, acct, uuid, digits, leg string) error {
	legs, err := a.legs(acct, uuid, leg, true)
	if err != nil {
		return err
	}
	for _, c := range legs {
		if err := c.SendDigits(c.Context(), digits, false); err != nil {
			c.Logger().Warn("call DTMF: digits not sent", "err", err)
		}
	}
	return nil
}

func (a callMediaAPI) StartRecording(_ context.Context, acct, uuid string, p api.CallRecordParams) (api.RecordingStarted, error) {
	legs, err := a.legs(acct, uuid, "aleg", true)
	if err != nil {
		return api.RecordingStarted{}, err
	}
	c, m := legs[0], a.m
	m.mu.Lock()
	lm := m.legLocked(c)
	if len(lm.recs) >= maxCallRecordings {
		m.mu.Unlock()
		return api.RecordingStarted{}, api.ErrRecordingLimit
	}
	rec, err := m.s.runner.StartCallRecording(c, p.FileFormat, p.Stereo)
	if err != nil {
		m.mu.Unlock()
		return api.RecordingStarted{}, err
	}
	lm.recs[rec.ID] = rec
	m.mu.Unlock()
	go func() {
		limit := time.NewTimer(p.TimeLimit)
		defer limit.Stop()
		select {
		case <-limit.C:
		case <-c.Done():
		case <-rec.Stopped():
		}
		m.finishRecording(c, rec, p)
	}()
	return api.RecordingStarted{RecordingID: rec.ID, FileFormat: rec.Format}, nil
}

// finishRecording makes the file final (once) and notifies the callback (calls-more §A.7).
func (m *callMedia) finishRecording(c *call.Call, rec *flow.CallRecording, p api.CallRecordParams) {
	m.mu.Lock()
	if lm := m.legs[c.UUID()]; lm != nil {
		delete(lm.recs, rec.ID)
	}
	m.mu.Unlock()
	meta := rec.Stop()
	if p.CallbackURL == "" {
		return
	}
	s := m.s
	params := map[string][]string{
		"api_id":                {p.APIID},
		"record_url":            {flow.RecordingURL(s.routes.baseURL, meta.AccountID, meta.ID, meta.Format)},
		"call_uuid":             {meta.CallUUID},
		"recording_id":          {meta.ID},
		"recording_duration":    {strconv.FormatInt(int64(meta.Duration/time.Second), 10)},
		"recording_duration_ms": {strconv.FormatInt(meta.Duration.Milliseconds(), 10)},
		"recording_start_ms":    {strconv.FormatInt(meta.Start.UnixMilli(), 10)},
		"recording_end_ms":      {strconv.FormatInt(meta.End.UnixMilli(), 10)},
	}
	method := p.CallbackMethod
	if method == "" {
		method = http.MethodPost
	}
	if err := s.dispatcher.Notify(context.Background(), webhookNotification(meta.AccountID, p.CallbackURL, method, params, meta.CallUUID)); err != nil {
		c.Logger().Error("queueing call recording callback failed", "recording_id", meta.ID, "err", err)
	}
}

func (a callMediaAPI) StopRecording(_ context.Context, acct, uuid, recordingID string) error {
	m := a.m
	c, ok := m.s.calls.Get(acct, uuid)
	if !ok {
		return api.ErrCallNotFound
	}
	var stops []*flow.CallRecording
	m.mu.Lock()
	if lm := m.legs[c.UUID()]; lm != nil {
		for id, r := range lm.recs {
			if recordingID == "" || id == recordingID {
				stops = append(stops, r)
			}
		}
	}
	m.mu.Unlock()
	// The answer is sent once the files are final; the callback goes from the recording's
	// own goroutine.
	for _, r := range stops {
		r.Stop()
	}
	return nil
}
