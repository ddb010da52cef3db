package webhook

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Notification is one queued notification request (§9.1). store.OutboxItem has the same fields
// so the app converts between them with a struct conversion.
type Notification struct {
	ID          string // X-Parley-Delivery-ID, a UUID, fixed for all attempts
	AuthID      string // account whose token signs it
	URL, Method string
	Params      url.Values
	OrderKey    string // call uuid or room uuid: first attempts keep event order per key
	Attempts    int
	NextAttempt time.Time
	CreatedAt   time.Time
	LastError   string
}

// Outbox is the durable queue of notifications. Implementations must be safe for concurrent use.
type Outbox interface {
	// Enqueue stores a new notification.
	Enqueue(ctx context.Context, n Notification) error
	// Due returns up to limit notifications whose NextAttempt is not after now, oldest first
	// (CreatedAt, then insertion order).
	Due(ctx context.Context, now time.Time, limit int) ([]Notification, error)
	// MarkDelivered removes a delivered notification for good.
	MarkDelivered(ctx context.Context, id string) error
	// Reschedule records a failed attempt.
	Reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error
	// Drop removes a notification that will never be delivered.
	Drop(ctx context.Context, id string, reason string) error
}

// MemoryOutbox is an Outbox in memory: for tests and for running without a database (nothing
// survives the process then).
type MemoryOutbox struct {
	mu    sync.Mutex
	seq   uint64
	items map[string]memItem
}

type memItem struct {
	n   Notification
	seq uint64
}

var _ Outbox = (*MemoryOutbox)(nil)

// NewMemoryOutbox returns an empty MemoryOutbox.
func NewMemoryOutbox() *MemoryOutbox {
	return &MemoryOutbox{items: make(map[string]memItem)}
}

// Enqueue stores n; an ID already queued is an error.
func (m *MemoryOutbox) Enqueue(_ context.Context, n Notification) error {
	if n.ID == "" {
		return fmt.Errorf("notification has no ID")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[n.ID]; ok {
		return fmt.Errorf("notification %s is already queued", n.ID)
	}
	m.seq++
	n.Params = cloneValues(n.Params)
	m.items[n.ID] = memItem{n: n, seq: m.seq}
	return nil
}

// Due returns copies of the due notifications, oldest first.
func (m *MemoryOutbox) Due(_ context.Context, now time.Time, limit int) ([]Notification, error) {
	m.mu.Lock()
	due := make([]memItem, 0, len(m.items))
	for _, it := range m.items {
		if !it.n.NextAttempt.After(now) {
			due = append(due, it)
		}
	}
	m.mu.Unlock()
	sortItems(due)
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]Notification, len(due))
	for i, it := range due {
		out[i] = it.n
		out[i].Params = cloneValues(it.n.Params)
	}
	return out, nil
}

// MarkDelivered removes id; an unknown id is not an error (another worker may have finished it).
func (m *MemoryOutbox) MarkDelivered(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.items, id)
	m.mu.Unlock()
	return nil
}

// Reschedule updates id's attempt count, next attempt time and last error; an unknown id is
// ignored.
func (m *MemoryOutbox) Reschedule(_ context.Context, id string, attempts int, next time.Time, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[id]
	if !ok {
		return nil
	}
	it.n.Attempts, it.n.NextAttempt, it.n.LastError = attempts, next, lastError
	m.items[id] = it
	return nil
}

// Drop removes id; an unknown id is ignored.
func (m *MemoryOutbox) Drop(_ context.Context, id string, _ string) error {
	m.mu.Lock()
	delete(m.items, id)
	m.mu.Unlock()
	return nil
}

// Pending returns copies of every queued notification, oldest first, due or not.
func (m *MemoryOutbox) Pending() []Notification {
	m.mu.Lock()
	all := make([]memItem, 0, len(m.items))
	for _, it := range m.items {
		all = append(all, it)
	}
	m.mu.Unlock()
	sortItems(all)
	out := make([]Notification, len(all))
	for i, it := range all {
		out[i] = it.n
		out[i].Params = cloneValues(it.n.Params)
	}
	return out
}

func sortItems(s []memItem) {
	slices.SortFunc(s, func(a, b memItem) int {
		if c := a.n.CreatedAt.Compare(b.n.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, s := range v {
		out[k] = slices.Clone(s)
	}
	return out
}
