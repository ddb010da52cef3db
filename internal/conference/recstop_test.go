package conference

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// gateSink is a recording sink stuck like a stalled disk or encoder: WriteFrame and Close
// block until release is closed.
type gateSink struct {
	release chan struct{}
	written atomic.Int64
	closed  atomic.Bool
}

func (s *gateSink) WriteFrame([]int16) error {
	<-s.release
	s.written.Add(1)
	return nil
}

func (s *gateSink) Close() error {
	<-s.release
	s.closed.Store(true)
	return nil
}

// gatedEnv is an env whose WAV recordings go to one gateSink.
func gatedEnv(t *testing.T) (*env, *gateSink) {
	t.Helper()
	s := &gateSink{release: make(chan struct{})}
	e := newEnv(t, ManagerOptions{Sinks: map[string]SinkFactory{"wav": func(string) (RecordingSink, error) { return s, nil }}})
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	return e, s
}

// within runs fn and fails the test when it does not return in time (a room stuck on the
// recording would never take the next tick or command).
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: the room is stuck", what)
	}
}

// assertMixing checks that b hears a's 400 Hz tone over the last frames.
func assertMixing(t *testing.T, b *tmember) {
	t.Helper()
	if l := toneDB(b.media.last(5), 400); l < -30 {
		t.Errorf("b hears a at %.1f dBFS while the recording is finalised", l)
	}
}

func TestStopRecordingDoesNotStallTheRoom(t *testing.T) {
	e, sink := gatedEnv(t)
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	started, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(5, a, b)

	type answer struct {
		info *RecordingInfo
		err  error
	}
	stopped := make(chan answer, 1)
	go func() {
		info, err := e.m.StopRecording(bg, "A", "R")
		stopped <- answer{info, err}
	}()
	within(t, "stop handed off", func() {
		for e.recording() {
			time.Sleep(time.Millisecond)
		}
	})
	// While the sink is stuck, the room keeps mixing and serving commands.
	b.media.reset()
	within(t, "ticks after stop", func() { e.run(10, a, b) })
	assertMixing(t, b)
	within(t, "a command after stop", func() {
		if _, err := e.m.Get(bg, "A", "R"); err != nil {
			t.Error(err)
		}
	})
	select {
	case a := <-stopped:
		t.Fatalf("StopRecording answered before the file was final: %+v %v", a.info, a.err)
	default:
	}
	if evs := e.events(EventRecordingDone); len(evs) != 0 {
		t.Fatalf("RecordingDone before the file was final: %+v", evs)
	}

	close(sink.release)
	var got answer
	select {
	case got = <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("StopRecording did not answer once the sink was released")
	}
	if got.err != nil || got.info == nil || got.info.ID != started.ID || got.info.Err != nil {
		t.Fatalf("stop: %+v %v", got.info, got.err)
	}
	if !sink.closed.Load() || sink.written.Load() != 5 {
		t.Errorf("sink closed %v after %d frames, want closed after 5", sink.closed.Load(), sink.written.Load())
	}
	if got.info.Duration != 5*media.FrameDuration || got.info.End.Sub(got.info.Start) != 5*media.FrameDuration {
		t.Errorf("final info %+v", got.info)
	}
	// A read after the answer sees the done event, exactly once.
	evs := e.events(EventRecordingDone)
	if len(evs) != 1 || evs[0].Recording.ID != started.ID || evs[0].Recording.End.IsZero() || evs[0].CurrentSize != 2 {
		t.Fatalf("done events %+v", evs)
	}
	e.run(3, a, b)
	if n := len(e.events(EventRecordingDone)); n != 1 {
		t.Errorf("%d done events", n)
	}
	if again, err := e.m.StopRecording(bg, "A", "R"); err != nil || again != nil {
		t.Errorf("stop twice: %v %v", again, err)
	}
}

func TestRecordingTimeLimitDoesNotStallTheRoom(t *testing.T) {
	e, sink := gatedEnv(t)
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	started, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav", TimeLimit: 4 * media.FrameDuration})
	if err != nil {
		t.Fatal(err)
	}
	b.media.reset()
	within(t, "ticks past the time limit", func() { e.run(12, a, b) })
	assertMixing(t, b)
	if evs := e.events(EventRecordingDone); len(evs) != 0 {
		t.Fatalf("RecordingDone before the file was final: %+v", evs)
	}
	// The room has let go of the recording at its limit: there is nothing left to stop.
	within(t, "stop after the limit", func() {
		if info, err := e.m.StopRecording(bg, "A", "R"); err != nil || info != nil {
			t.Errorf("stop after the limit: %+v %v", info, err)
		}
	})

	close(sink.release)
	evs := e.waitEvents(EventRecordingDone, 1)
	if len(evs) != 1 || evs[0].Recording.ID != started.ID || evs[0].Recording.Duration != 4*media.FrameDuration {
		t.Fatalf("done events %+v", evs)
	}
	if sink.written.Load() != 4 {
		t.Errorf("%d frames written, want 4", sink.written.Load())
	}
	e.run(3, a, b)
	if n := len(e.events(EventRecordingDone)); n != 1 {
		t.Errorf("%d done events", n)
	}
}

func TestRoomEndFinalisesRecordingOnce(t *testing.T) {
	e, sink := gatedEnv(t)
	a := e.join(req("R"), 400)
	snap, err := e.m.Get(bg, "A", "R")
	if err != nil {
		t.Fatal(err)
	}
	started, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(3, a)
	a.cancel() // the last member hangs up
	if r := a.result(t); r.Reason != HungUp {
		t.Fatalf("result %+v", r)
	}
	if evs := e.events(EventRecordingDone); len(evs) != 0 {
		t.Fatalf("RecordingDone before the file was final: %+v", evs)
	}
	close(sink.release)
	evs := e.waitEvents(EventRecordingDone, 1)
	if len(evs) != 1 || evs[0].Recording.ID != started.ID || evs[0].ConferenceUUID != snap.UUID ||
		evs[0].ConferenceName != "R" || evs[0].AccountID != "A" || evs[0].Recording.Duration != 3*media.FrameDuration {
		t.Fatalf("done events %+v", evs)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(e.events(EventRecordingDone)); n != 1 {
		t.Errorf("%d done events", n)
	}
}

func TestHangupRoomWaitsForTheRecording(t *testing.T) {
	e, sink := gatedEnv(t)
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	if _, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav"}); err != nil {
		t.Fatal(err)
	}
	e.run(3, a, b)
	hung := make(chan error, 1)
	go func() {
		_, err := e.m.HangupRoom(bg, "A", "R")
		hung <- err
	}()
	a.result(t) // the members leave at once
	b.result(t)
	select {
	case err := <-hung:
		t.Fatalf("HangupRoom answered before the recording was final: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(sink.release)
	select {
	case err := <-hung:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("HangupRoom did not answer once the sink was released")
	}
	if evs := e.events(EventRecordingDone); len(evs) != 1 {
		t.Fatalf("done events %+v", evs)
	}
}

// recording reports whether room A/R has a recording running (asked on the room goroutine).
func (e *env) recording() bool {
	r := e.m.lookup("A", "R")
	on, err := do(bg, r, func() (bool, error) { return r.rec != nil, nil })
	if err != nil {
		e.t.Error(err)
	}
	return on
}
