package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leases turns a MemoryOutbox into a shared one: its claimers (SharedOutbox views with an
// owner) lease what they claim, as the database outbox of a cluster does.
type leases struct {
	*MemoryOutbox
	mu   sync.Mutex
	held map[string]heldBy
}

type heldBy struct {
	owner string
	until time.Time
}

func newLeases() *leases {
	return &leases{MemoryOutbox: NewMemoryOutbox(), held: make(map[string]heldBy)}
}

// claimer is one dispatcher's view of a leases outbox.
type claimer struct {
	*leases
	owner string
}

var _ SharedOutbox = claimer{}

func (c claimer) Claim(ctx context.Context, now, until time.Time, limit int) ([]Notification, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	due, err := c.MemoryOutbox.Due(ctx, now, 0)
	var out []Notification
	for _, n := range due {
		if len(out) == limit {
			break
		}
		if h := c.held[n.ID]; h.owner == "" || h.owner == c.owner || !h.until.After(now) {
			c.held[n.ID] = heldBy{c.owner, until}
			out = append(out, n)
		}
	}
	return out, err
}

func (l *leases) release(id string) {
	l.mu.Lock()
	delete(l.held, id)
	l.mu.Unlock()
}

func (l *leases) MarkDelivered(ctx context.Context, id string) error {
	l.release(id)
	return l.MemoryOutbox.MarkDelivered(ctx, id)
}

func (l *leases) Reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	l.release(id)
	return l.MemoryOutbox.Reschedule(ctx, id, attempts, next, lastError)
}

func (l *leases) Drop(ctx context.Context, id, reason string) error {
	l.release(id)
	return l.MemoryOutbox.Drop(ctx, id, reason)
}

// deliveries counts the requests a server receives by X-Parley-Delivery-ID.
type deliveries struct {
	mu  sync.Mutex
	ids map[string]int
	at  map[string]time.Time
}

func (d *deliveries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	id := r.Header.Get(HeaderDeliveryID)
	d.ids[id]++
	d.at[id] = time.Now()
	d.mu.Unlock()
}

func (d *deliveries) counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.ids))
	for k, v := range d.ids {
		out[k] = v
	}
	return out
}

func newDeliveries(t *testing.T) (*deliveries, string) {
	d := &deliveries{ids: make(map[string]int), at: make(map[string]time.Time)}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv.URL + "/hook"
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Two dispatchers on one shared outbox deliver every notification exactly once.
func TestSharedOutboxTwoDispatchers(t *testing.T) {
	got, hook := newDeliveries(t)
	l := newLeases()
	var ds []*Dispatcher
	for i := range 2 {
		o := fastOptions(nil)
		o.Workers = 3
		o.BatchSize = 4 // small read-aheads, so the two read often and overlap
		d := NewDispatcher(claimer{l, fmt.Sprintf("node%d", i)}, tokens, o)
		ds = append(ds, d)
		start(t, d)
	}
	const n = 60
	for i := range n {
		if err := ds[i%2].Notify(context.Background(), Notification{AuthID: "MA_TEST", URL: hook,
			OrderKey: fmt.Sprintf("call-%d", i%7)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every delivery", func() bool { return len(got.counts()) == n && len(l.Pending()) == 0 })
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show up
	for id, c := range got.counts() {
		if c != 1 {
			t.Errorf("delivery %s sent %d times", id, c)
		}
	}
}

// The notifications of a dispatcher that died are delivered by another once their lease
// ends, not before, once each and with the same delivery IDs.
func TestSharedOutboxDeadDispatcher(t *testing.T) {
	got, hook := newDeliveries(t)
	l := newLeases()
	clock := &fakeClock{}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock.Set(t0)
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("dead-%d", i)
		ids = append(ids, id)
		if err := l.Enqueue(context.Background(), Notification{ID: id, AuthID: "MA_TEST", URL: hook, Method: "POST",
			CreatedAt: t0, NextAttempt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	lease := time.Minute
	if claimed, _ := (claimer{l, "dead"}).Claim(context.Background(), t0, t0.Add(lease), 100); len(claimed) != 5 {
		t.Fatalf("the dead dispatcher claimed %d, want 5", len(claimed))
	}
	o := fastOptions(nil)
	o.Now = clock.Now
	o.Lease = lease
	start(t, NewDispatcher(claimer{l, "survivor"}, tokens, o))
	clock.Add(lease - time.Second)
	time.Sleep(200 * time.Millisecond) // ten polls
	if c := got.counts(); len(c) != 0 {
		t.Fatalf("delivered during the dead dispatcher's lease: %v", c)
	}
	clock.Add(time.Second)
	waitFor(t, "the dead dispatcher's notifications", func() bool { return len(got.counts()) == 5 })
	time.Sleep(100 * time.Millisecond)
	c := got.counts()
	for _, id := range ids {
		if c[id] != 1 {
			t.Errorf("delivery %s sent %d times, want once", id, c[id])
		}
	}
}

// A dispatcher does not start notifications from a read-ahead whose claims ran out while its
// workers were busy: another dispatcher may hold them by then.
func TestSharedOutboxStaleReadAhead(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	release := make(chan struct{})
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(HeaderDeliveryID)]++
		mu.Unlock()
		first.Do(func() { <-release })
	}))
	t.Cleanup(srv.Close)
	l := newLeases()
	clock := &fakeClock{}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock.Set(t0)
	for _, id := range []string{"n1", "n2"} {
		if err := l.Enqueue(context.Background(), Notification{ID: id, AuthID: "MA_TEST", URL: srv.URL, Method: "POST",
			CreatedAt: t0, NextAttempt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	o := fastOptions(nil)
	o.Now = clock.Now
	o.Workers = 1
	o.Lease = time.Minute
	start(t, NewDispatcher(claimer{l, "slow"}, tokens, o))
	waitFor(t, "the first attempt", func() bool { mu.Lock(); defer mu.Unlock(); return seen["n1"] == 1 })
	// The first attempt outlives the claims (only possible with a clock jump, which is the
	// point); another dispatcher takes n2 meanwhile.
	clock.Add(2 * time.Minute)
	if got, _ := (claimer{l, "other"}).Claim(context.Background(), clock.Now(), clock.Now().Add(time.Minute), 100); len(got) != 2 {
		t.Fatalf("other claimed %d, want 2", len(got))
	}
	close(release)
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if seen["n2"] != 0 {
		t.Errorf("n2 was attempted from a read-ahead whose claim had run out")
	}
}
