package webhook

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
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
	// OrderKey lists the notification's order keys (call or room UUIDs), joined by
	// OrderKeySeparator: see JoinOrderKeys. A first attempt starts only after the first
	// attempts of the earlier notifications sharing any of its keys have ended. Stored as one
	// text column, so the outbox schema stays one key wide.
	OrderKey    string
	Attempts    int
	NextAttempt time.Time
	CreatedAt   time.Time
	LastError   string
}

// OrderKeySeparator separates the keys of an OrderKey: a space, which no UUID contains.
const OrderKeySeparator = " "

// JoinOrderKeys returns the OrderKey of a notification ordered under every one of keys; empty
// keys and repeats are left out.
func JoinOrderKeys(keys ...string) string {
	kept := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" && !slices.Contains(kept, k) {
			kept = append(kept, k)
		}
	}
	return strings.Join(kept, OrderKeySeparator)
}

// OrderKeys returns the distinct keys of n.OrderKey, none for an empty one. It is the one
// parser of that list.
func (n Notification) OrderKeys() []string {
	if !strings.Contains(n.OrderKey, OrderKeySeparator) {
		if n.OrderKey == "" {
			return nil
		}
		return []string{n.OrderKey} // the usual case: one call or one room
	}
	var keys []string
	for k := range strings.SplitSeq(n.OrderKey, OrderKeySeparator) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
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

// SharedOutbox is an Outbox that dispatchers in several processes use at once (the nodes of a
// cluster on one database). Each dispatcher claims what it reads, so a notification is
// attempted by one dispatcher at a time, and one whose dispatcher died is taken over, with the
// same ID, when the claim's lease ends. Each SharedOutbox value is one claimer.
type SharedOutbox interface {
	Outbox
	// Claim is Due for one of several dispatchers: it returns, oldest first, up to limit
	// notifications due at now that no other claimer holds (free, already held by this one, or
	// whose lease ended) and leases them to this claimer until leaseUntil, atomically.
	// MarkDelivered, Reschedule and Drop end the lease.
	Claim(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Notification, error)
}

// MemoryOutbox is an Outbox in memory: for tests and for running without a database (nothing
// survives the process then). Due costs O(limit) plus the rows it skips, not O(queue).
type MemoryOutbox struct {
	mu    sync.Mutex
	seq   uint64
	items map[string]memItem
	// order lists the queued items by (CreatedAt, seq). Removed items stay in it until they
	// reach the front or a compaction; dead counts those in order[front:].
	order []memRef
	front int
	dead  int
}

type memItem struct {
	n   Notification
	seq uint64
}

// memRef is an entry of MemoryOutbox.order; seq tells a live entry from a removed one.
type memRef struct {
	id      string
	seq     uint64
	created time.Time
}

func (r memRef) less(o memRef) bool {
	if c := r.created.Compare(o.created); c != 0 {
		return c < 0
	}
	return r.seq < o.seq
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
	ref := memRef{id: n.ID, seq: m.seq, created: n.CreatedAt}
	if len(m.order) == m.front || !ref.less(m.order[len(m.order)-1]) {
		m.order = append(m.order, ref) // the usual case: newest so far
		return nil
	}
	i, _ := slices.BinarySearchFunc(m.order[m.front:], ref, func(a, b memRef) int {
		if a.less(b) {
			return -1
		}
		return 1
	})
	m.order = slices.Insert(m.order, m.front+i, ref)
	return nil
}

// live reports whether r still names a queued item.
func (m *MemoryOutbox) live(r memRef) bool {
	it, ok := m.items[r.id]
	return ok && it.seq == r.seq
}

// Due returns copies of the due notifications, oldest first.
func (m *MemoryOutbox) Due(_ context.Context, now time.Time, limit int) ([]Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Notification
	for _, r := range m.order[m.front:] {
		if limit > 0 && len(out) >= limit {
			break
		}
		it, ok := m.items[r.id]
		if !ok || it.seq != r.seq || it.n.NextAttempt.After(now) {
			continue
		}
		n := it.n
		n.Params = cloneValues(it.n.Params)
		out = append(out, n)
	}
	return out, nil
}

// remove deletes id and trims or compacts order so dead entries stay a minority.
func (m *MemoryOutbox) remove(id string) {
	if _, ok := m.items[id]; !ok {
		return
	}
	delete(m.items, id)
	m.dead++
	for m.front < len(m.order) && !m.live(m.order[m.front]) {
		m.order[m.front] = memRef{}
		m.front++
		m.dead--
	}
	rest := len(m.order) - m.front
	if m.front > len(m.order)/2 || (m.dead > 32 && m.dead > rest/2) {
		kept := make([]memRef, 0, rest-m.dead)
		for _, r := range m.order[m.front:] {
			if m.live(r) {
				kept = append(kept, r)
			}
		}
		m.order, m.front, m.dead = kept, 0, 0
	}
}

// MarkDelivered removes id; an unknown id is not an error (another worker may have finished it).
func (m *MemoryOutbox) MarkDelivered(_ context.Context, id string) error {
	m.mu.Lock()
	m.remove(id)
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
	m.remove(id)
	m.mu.Unlock()
	return nil
}

// Pending returns copies of every queued notification, oldest first, due or not.
func (m *MemoryOutbox) Pending() []Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Notification, 0, len(m.items))
	for _, r := range m.order[m.front:] {
		if it, ok := m.items[r.id]; ok && it.seq == r.seq {
			n := it.n
			n.Params = cloneValues(it.n.Params)
			out = append(out, n)
		}
	}
	return out
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
