package conference

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// fakeClock is a manual clock: Tick advances it by 20 ms and delivers a tick to every room.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers map[*fakeTicker]bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 8, 31, 20, 0, 0, 0, time.UTC), tickers: map[*fakeTicker]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(time.Duration) Ticker {
	t := &fakeTicker{c: make(chan time.Time), stop: make(chan struct{}), clock: c}
	c.mu.Lock()
	c.tickers[t] = true
	c.mu.Unlock()
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tick advances 20 ms and hands the tick to every live ticker (blocking until received).
func (c *fakeClock) tick() {
	c.mu.Lock()
	c.now = c.now.Add(media.FrameDuration)
	now := c.now
	ts := make([]*fakeTicker, 0, len(c.tickers))
	for t := range c.tickers {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		select {
		case t.c <- now:
		case <-t.stop:
		}
	}
}

type fakeTicker struct {
	c     chan time.Time
	stop  chan struct{}
	once  sync.Once
	clock *fakeClock
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop() {
	t.once.Do(func() {
		close(t.stop)
		t.clock.mu.Lock()
		delete(t.clock.tickers, t)
		t.clock.mu.Unlock()
	})
}

// fakeMedia records what a member hears (decoded) and the digits relayed to it.
type fakeMedia struct {
	codec  media.Codec
	mu     sync.Mutex
	heard  []int16
	frames int
	digits []rune
}

func (f *fakeMedia) Codec() media.Codec { return f.codec }
func (f *fakeMedia) WriteFrame(p []byte) error {
	pcm := make([]int16, len(p))
	f.codec.Decode(pcm, p)
	f.mu.Lock()
	f.heard = append(f.heard, pcm...)
	f.frames++
	f.mu.Unlock()
	return nil
}
func (f *fakeMedia) SendDigit(d rune) error {
	f.mu.Lock()
	f.digits = append(f.digits, d)
	f.mu.Unlock()
	return nil
}

// last returns the last n frames heard.
func (f *fakeMedia) last(frames int) []int16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(f.heard), frames*media.FrameSamples)
	return append([]int16(nil), f.heard[len(f.heard)-n:]...)
}

func (f *fakeMedia) reset() {
	f.mu.Lock()
	f.heard = nil
	f.mu.Unlock()
}

func (f *fakeMedia) relayed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.digits)
}

// env is a Manager on a fake clock with an event log.
type env struct {
	t     *testing.T
	m     *Manager
	clock *fakeClock
	mu    sync.Mutex
	evs   []Event
	// handlerMayStall: sync does not wait for the event queues (the test's handler blocks).
	handlerMayStall bool
}

func newEnv(t *testing.T, opts ManagerOptions) *env {
	t.Helper()
	e := &env{t: t, clock: newFakeClock()}
	opts.Clock = e.clock
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	before := opts.Events // the test's own handler, run before the event is logged
	opts.Events = func(ev Event) {
		if before != nil {
			before(ev)
		}
		e.mu.Lock()
		e.evs = append(e.evs, ev)
		e.mu.Unlock()
	}
	if opts.RecordingsDir == "" {
		opts.RecordingsDir = t.TempDir()
	}
	e.m = NewManager(opts)
	return e
}

func (e *env) events(kind EventKind) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.evs {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvents waits until n events of kind were emitted and returns them.
func (e *env) waitEvents(kind EventKind, n int) []Event {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := e.events(kind)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(time.Millisecond)
	}
}

// sync waits until every room has applied everything sent to it so far and (unless the
// handler may stall) delivered the events that caused.
func (e *env) sync() {
	e.m.mu.Lock()
	rooms := make([]*room, 0, len(e.m.rooms))
	for _, r := range e.m.rooms {
		rooms = append(rooms, r)
	}
	e.m.mu.Unlock()
	for _, r := range rooms {
		ch := make(chan struct{})
		select {
		case r.cmds <- func() { close(ch) }:
			<-ch
		case <-r.done:
		}
		for deadline := time.Now().Add(5 * time.Second); !e.handlerMayStall && !r.events.idle(); time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				e.t.Fatal("room events still undelivered after 5 s")
			}
		}
	}
}

// run ticks n times, feeding every talking member one frame before each tick.
func (e *env) run(n int, talkers ...*tmember) {
	for range n {
		for _, t := range talkers {
			t.talk()
		}
		e.clock.tick()
		e.sync()
	}
}

// tmember is a call in a test: its media, its input, and Join's outcome.
type tmember struct {
	id     int64
	media  *fakeMedia
	in     *MemberInput
	cancel context.CancelFunc
	res    chan Result
	tone   media.Source
	frame  []int16
}

func (t *tmember) talk() {
	if t.tone == nil {
		return
	}
	if err := t.tone.ReadFrame(t.frame); err != nil {
		clear(t.frame)
	}
	t.in.PushFrame(t.frame)
}

// result waits for Join to return.
func (t *tmember) result(tb testing.TB) Result {
	tb.Helper()
	select {
	case r := <-t.res:
		return r
	case <-time.After(5 * time.Second):
		tb.Fatalf("member %d: Join did not return", t.id)
	}
	return Result{}
}

// gone reports whether Join has returned, without waiting.
func (t *tmember) gone() (Result, bool) {
	select {
	case r := <-t.res:
		t.res <- r
		return r, true
	default:
		return Result{}, false
	}
}

// join makes a member of req (account "A" and the room name are set by the caller) and waits
// until it is in the room or refused.
func (e *env) join(req JoinRequest, toneHz float64) *tmember {
	e.t.Helper()
	fm := &fakeMedia{codec: media.PCMU}
	req.Media = fm
	t := &tmember{media: fm, res: make(chan Result, 1), frame: make([]int16, media.FrameSamples)}
	if toneHz > 0 {
		t.tone = media.Tone(toneHz, time.Hour, -12)
	}
	attached := make(chan *MemberInput, 1)
	req.Attach = func(in *MemberInput) { attached <- in }
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	e.t.Cleanup(cancel)
	go func() {
		res, err := e.m.Join(ctx, req)
		if err != nil {
			e.t.Errorf("Join: %v", err)
		}
		t.res <- res
	}()
	select {
	case in := <-attached:
		t.in, t.id = in, in.MemberID()
	case r := <-t.res:
		t.res <- r
	case <-time.After(5 * time.Second):
		e.t.Fatal("Join neither attached nor returned")
	}
	e.sync()
	return t
}

func req(room string) JoinRequest {
	r := NewJoinRequest("A", room, CallInfo{CallUUID: "call-" + room, From: "1415", To: "1416", Direction: "inbound"}, nil)
	r.Beep = false
	return r
}

func notFound(err error) bool { return errors.Is(err, ErrConferenceNotFound) }
