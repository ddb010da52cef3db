package conference

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// tickWithin runs n ticks (each member of talkers talking) and fails the test when they take
// longer than d: a room whose goroutine waits for something never takes its tick.
func tickWithin(t *testing.T, e *env, d time.Duration, n int, talkers ...*tmember) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.run(n, talkers...)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%d mixer ticks did not run within %v: the room goroutine is stalled", n, d)
	}
}

// heardEveryFrame checks that each of the last frames member x heard carries the tone.
func heardEveryFrame(t *testing.T, x *tmember, frames int, hz float64) {
	t.Helper()
	heard := x.media.last(frames)
	if len(heard) < frames*media.FrameSamples {
		t.Fatalf("heard %d samples, want %d frames", len(heard), frames)
	}
	for i := range frames {
		f := heard[i*media.FrameSamples : (i+1)*media.FrameSamples]
		if l := toneDB(f, hz); l < -30 {
			t.Fatalf("frame %d of the last %d: %.0f Hz at %.1f dBFS, a gap in the audio", i, frames, hz, l)
		}
	}
}

// TestStalledEventHandlerDoesNotStallTheMixer: while the event handler (the webhook outbox's
// store; a slow write is a short stall) does not answer, members join, hear each other in every frame and leave; a leaving
// member's Join returns only once its Exit has been delivered.
func TestStalledEventHandlerDoesNotStallTheMixer(t *testing.T) {
	store := make(chan struct{}) // closed: the store answers again
	var release sync.Once
	unstall := func() { release.Do(func() { close(store) }) }
	t.Cleanup(unstall)
	e := newEnv(t, ManagerOptions{Events: func(Event) { <-store }})
	e.handlerMayStall = true

	rq := req("R")
	rq.StayAlone = true
	a := e.join(rq, 400)
	b := e.join(rq, 700)
	if a.id == 0 || b.id == 0 {
		t.Fatal("a join did not complete while the event handler stalled")
	}
	tickWithin(t, e, 3*time.Second, 60, a, b)
	heardEveryFrame(t, b, 40, 400)
	heardEveryFrame(t, a, 40, 700)
	// Two Enter events, and Talking ones: none delivered.
	if q := e.m.Stats().EventsQueued; q < 2 {
		t.Errorf("EventsQueued = %d with the handler stalled since the first Enter, want 2 or more", q)
	}

	// A hangs up: it leaves the room at once (B hears it no more) but its Join waits for
	// the Exit event to be delivered.
	a.cancel()
	waitFor(t, e, func() bool {
		s, err := e.m.Get(bg, "A", "R")
		return err == nil && len(s.Members) == 1 && s.Members[0].ID == b.id
	})
	tickWithin(t, e, 3*time.Second, 30, a, b)
	if l := toneDB(b.media.last(10), 400); l > -40 {
		t.Errorf("B still hears A after it left: %.1f dBFS", l)
	}
	if _, gone := a.gone(); gone {
		t.Fatal("A's Join returned before its Exit event was delivered")
	}

	unstall()
	a.result(t)
	exits := e.events(EventExit)
	if len(exits) != 1 || exits[0].MemberID != a.id {
		t.Fatalf("exit events when A's Join returned: %+v", exits)
	}
	e.mu.Lock()
	var order []EventKind
	for _, ev := range e.evs {
		if ev.Kind != EventTalking {
			order = append(order, ev.Kind)
		}
	}
	e.mu.Unlock()
	if want := []EventKind{EventEnter, EventEnter, EventExit}; !slices.Equal(order, want) {
		t.Errorf("event order %v, want %v", order, want)
	}
	waitFor(t, e, func() bool { return e.m.Stats().EventsQueued == 0 })
}

// TestEventQueueBoundsJoins: a room with maxQueuedEvents undelivered events makes a new
// Join wait, outside the room goroutine, until the handler catches up; nothing is dropped.
func TestEventQueueBoundsJoins(t *testing.T) {
	var queued atomic.Int64
	store := make(chan struct{})
	var got []int64
	var mu sync.Mutex
	q := newEventQueue(func(ev Event) {
		<-store
		mu.Lock()
		got = append(got, ev.MemberID)
		mu.Unlock()
	}, &queued)
	for i := range maxQueuedEvents {
		q.push(Event{MemberID: int64(i)}, nil)
	}
	// The first event is in the handler; one more fills the queue.
	q.push(Event{MemberID: maxQueuedEvents}, nil)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if err := q.waitSpace(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitSpace on a full queue: %v, want a wait until the deadline", err)
	}
	if n := queued.Load(); n != maxQueuedEvents+1 {
		t.Errorf("queued = %d, want %d", n, maxQueuedEvents+1)
	}
	waited := make(chan error, 1)
	go func() { waited <- q.waitSpace(bg) }()
	close(store)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitSpace did not return once the handler caught up")
	}
	for deadline := time.Now().Add(5 * time.Second); !q.idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("queue not drained")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != maxQueuedEvents+1 {
		t.Fatalf("delivered %d events, want %d", len(got), maxQueuedEvents+1)
	}
	for i, id := range got {
		if id != int64(i) {
			t.Fatalf("event %d delivered in place %d: order lost", id, i)
		}
	}
	if n := queued.Load(); n != 0 {
		t.Errorf("queued = %d after the drain, want 0", n)
	}
}
