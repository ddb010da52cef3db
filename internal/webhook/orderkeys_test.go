package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOrderKeys(t *testing.T) {
	tests := []struct {
		joined []string
		key    string
		keys   []string
	}{
		{nil, "", nil},
		{[]string{"room-1"}, "room-1", []string{"room-1"}},
		{[]string{"room-1", "call-1"}, "room-1 call-1", []string{"room-1", "call-1"}},
		{[]string{"", "call-1", "call-1", ""}, "call-1", []string{"call-1"}},
	}
	for _, tt := range tests {
		key := JoinOrderKeys(tt.joined...)
		if key != tt.key {
			t.Errorf("JoinOrderKeys(%q) = %q, want %q", tt.joined, key, tt.key)
		}
		if got := (Notification{OrderKey: key}).OrderKeys(); !slices.Equal(got, tt.keys) {
			t.Errorf("OrderKeys of %q = %q, want %q", key, got, tt.keys)
		}
	}
	// Written by hand (or by an older process): repeats and extra spaces count once.
	if got := (Notification{OrderKey: " a  b a "}).OrderKeys(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("OrderKeys of a messy list = %q", got)
	}
}

// gate is a receiver that holds the requests whose Event is "busy" until opened, and records
// when each request arrived and finished.
type gate struct {
	rc   *receiver
	open chan struct{}
	once sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{open: make(chan struct{})}
	g.rc = newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.FormValue("Event") == "busy" {
			select {
			case <-g.open:
			case <-r.Context().Done():
			}
		}
	})
	t.Cleanup(g.release)
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) events() []string {
	var evs []string
	for _, h := range g.rc.got() {
		evs = append(evs, h.form.Get("Event"))
	}
	return evs
}

// TestHangupWaitsForConferenceExit: a call's hangup {call} queued after its ConferenceExit
// {room, call} waits for the exit while the room is busy with an earlier event, although no
// earlier notification has the call's key in flight; notifications of other keys, and of
// other rooms and calls, go meanwhile.
func TestHangupWaitsForConferenceExit(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprint("notified while running=", running), func(t *testing.T) {
			g := newGate(t)
			ob := NewMemoryOutbox()
			d := NewDispatcher(ob, tokens, fastOptions(nil))
			if running {
				start(t, d)
			}
			queue := []Notification{
				note(g.rc, "room-1", "busy"), // another member's event, answered late
				note(g.rc, JoinOrderKeys("room-1", "call-1"), "exit"),
				note(g.rc, "call-1", "hangup"),
				note(g.rc, "call-2", "other call"),
				note(g.rc, JoinOrderKeys("room-2", "call-3"), "busy"), // another room, held too
				note(g.rc, JoinOrderKeys("room-2", "call-4"), "other room"),
				note(g.rc, JoinOrderKeys("room-3", "call-5"), "third room"),
			}
			for _, n := range queue {
				if err := d.Notify(context.Background(), n); err != nil {
					t.Fatal(err)
				}
			}
			if !running {
				start(t, d)
			}
			waitFor(t, "the other keys", func() bool {
				evs := g.events()
				return slices.Contains(evs, "other call") && slices.Contains(evs, "third room") &&
					len(evs) >= 4
			})
			time.Sleep(100 * time.Millisecond) // an attempt started wrongly would arrive here
			evs := g.events()
			for _, held := range []string{"exit", "hangup", "other room"} {
				if slices.Contains(evs, held) {
					t.Errorf("%q sent while its room was busy: %v", held, evs)
				}
			}
			if n := strings.Count(strings.Join(evs, ","), "busy"); n != 2 {
				t.Errorf("the two rooms' events did not run concurrently: %v", evs)
			}
			g.release()
			waitFor(t, "all delivered", func() bool { return len(ob.Pending()) == 0 })
			evs = g.events()
			if i, j := slices.Index(evs, "exit"), slices.Index(evs, "hangup"); i < 0 || j < i {
				t.Errorf("hangup before the conference exit: %v", evs)
			}
			if len(evs) != len(queue) {
				t.Errorf("%d requests for %d notifications: %v", len(evs), len(queue), evs)
			}
		})
	}
}

// TestDroppedHeldAttemptFreesItsKeys: a first attempt held on two keys and then dropped as too
// old lets the next one of its other key go, without waiting for a poll.
func TestDroppedHeldAttemptFreesItsKeys(t *testing.T) {
	g := newGate(t)
	o := fastOptions(nil)
	o.PollInterval = time.Hour // only wake-ups drive it
	o.MaxAge = time.Hour
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, o)
	if err := d.Notify(context.Background(), note(g.rc, "a", "busy")); err != nil {
		t.Fatal(err)
	}
	start(t, d)
	waitFor(t, "the busy one", func() bool { return len(g.rc.got()) == 1 })
	old := note(g.rc, JoinOrderKeys("a", "b"), "old")
	old.CreatedAt = time.Now().Add(-time.Hour + 300*time.Millisecond) // expires while held
	for _, n := range []Notification{old, note(g.rc, "b", "after")} {
		if err := d.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if evs := g.events(); len(evs) != 1 {
		t.Fatalf("sent while a key was busy: %v", evs)
	}
	g.release()
	waitFor(t, "the one after the dropped one", func() bool { return len(ob.Pending()) == 0 })
	if evs := g.events(); !slices.Equal(evs, []string{"busy", "after"}) {
		t.Errorf("receiver saw %v, want busy then after (old dropped)", evs)
	}
}

// TestOverlappingKeysKeepOrderWithoutDeadlock: notifications with one to three keys from a
// small set form overlapping chains (a→b, b→c, c→a, …). Every one is delivered, and per key
// the first attempts reach the receiver one at a time, in the order they were queued, even with
// retries, small reads, several loops (a Flush beside Run) and random answer times.
func TestOverlappingKeysKeepOrderWithoutDeadlock(t *testing.T) {
	const total = 400
	pool := []string{"room-1", "room-2", "call-1", "call-2", "call-3", "call-4", "call-5"}
	var mu sync.Mutex
	seen := map[string]bool{}     // delivery IDs attempted
	active := map[string]string{} // key -> event whose first attempt is at the receiver
	last := map[string]int{}      // key -> the last event number first attempted
	var problems []string
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		id, keys := r.Header.Get(HeaderDeliveryID), (Notification{OrderKey: r.FormValue("Key")}).OrderKeys()
		var ev int
		fmt.Sscan(r.FormValue("Event"), &ev)
		mu.Lock()
		first := !seen[id]
		seen[id] = true
		if first {
			for _, k := range keys {
				if a, ok := active[k]; ok {
					problems = append(problems, fmt.Sprintf("%d started while %s of key %s was in flight", ev, a, k))
				}
				if l, ok := last[k]; ok && l > ev {
					problems = append(problems, fmt.Sprintf("%d after %d on key %s", ev, l, k))
				}
				active[k], last[k] = fmt.Sprint(ev), ev
			}
		}
		fail := first && ev%17 == 0 // a retry must not hold the others back
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
		mu.Lock()
		if first {
			for _, k := range keys {
				delete(active, k)
			}
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	o := fastOptions(nil)
	o.Workers, o.BatchSize = 6, 24
	o.BaseBackoff = 10 * time.Millisecond
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, o)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range total {
		keys := make([]string, 1+rnd.IntN(3))
		for j := range keys {
			keys[j] = pool[rnd.IntN(len(pool))]
		}
		if err := d.Notify(context.Background(), note(rc, JoinOrderKeys(keys...), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (a deadlock?)", err)
	}
	waitFor(t, "all delivered", func() bool { return len(ob.Pending()) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Errorf("%d notifications attempted, want %d", len(seen), total)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
