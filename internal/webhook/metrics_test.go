package webhook

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// outcomes is a DeliveryObserver that counts what it is told.
type outcomes struct {
	mu   sync.Mutex
	n    map[string]int
	took []time.Duration
}

func (o *outcomes) Delivery(outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[outcome]++
	o.took = append(o.took, took)
}

func (o *outcomes) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// TestDeliveryObserver: two failed attempts then a success are two retries and one delivery,
// each with the attempt's latency; an unknown account is one drop with no attempt.
func TestDeliveryObserver(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			time.Sleep(10 * time.Millisecond)
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	})
	obs := &outcomes{n: map[string]int{}}
	o := fastOptions(nil)
	o.Observer = obs
	d := NewDispatcher(NewMemoryOutbox(), tokens, o)
	start(t, d)
	if err := d.Notify(context.Background(), note(rc, "call-1", "Hangup")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery", func() bool { return obs.count(OutcomeDelivered) == 1 })
	if r := obs.count(OutcomeRetry); r != 2 {
		t.Errorf("retries = %d, want 2", r)
	}
	obs.mu.Lock()
	for i, d := range obs.took[:2] {
		if d < 10*time.Millisecond {
			t.Errorf("attempt %d latency %v, want >= 10ms (the receiver slept)", i+1, d)
		}
	}
	obs.mu.Unlock()

	n := note(rc, "call-2", "Hangup")
	n.AuthID = "MA_NOBODY"
	if err := d.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drop", func() bool { return obs.count(OutcomeDropped) == 1 })
	if len(rc.got()) != 3 {
		t.Errorf("%d requests, want 3 (no attempt for an unknown account)", len(rc.got()))
	}
}
