package call

import (
	"sync"
)

// Registry holds the live calls of the server. It is a small, cold structure, so a mutex is
// enough.
//
// A call is live until it has ended: an ended call is no longer reported even while its entry
// waits to be removed, so whoever ends a call (a REST hang-up) and then reads the registry never
// sees it.
type Registry struct {
	mu    sync.Mutex
	calls map[string]*Call
	order []*Call // insertion order, for "oldest first" listings
	// ended, when set, is told about every call once it has ended (its figures are final).
	ended func(*Call)
	// onChange, when set, hears of every call added or removed (its account), outside the lock.
	onChange func(accountID string)
}

// OnChange sets a function told the account of every call that starts or ends (live views
// such as the console). It must not block; set it before calls are added.
func (r *Registry) OnChange(fn func(accountID string)) {
	r.mu.Lock()
	r.onChange = fn
	r.mu.Unlock()
}

func (r *Registry) changed(c *Call) {
	r.mu.Lock()
	fn := r.onChange
	r.mu.Unlock()
	if fn != nil {
		fn(c.id.AccountID)
	}
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{calls: make(map[string]*Call)}
}

// NewObservedRegistry returns an empty registry that calls ended with each registered call
// once it has ended, before it leaves the registry: the app folds the call's final media
// figures into its metrics there. ended runs on its own goroutine per call; it must be quick.
func NewObservedRegistry(ended func(*Call)) *Registry {
	return &Registry{calls: make(map[string]*Call), ended: ended}
}

// Add registers a live call; it is removed automatically when the call ends.
func (r *Registry) Add(c *Call) {
	r.mu.Lock()
	r.calls[c.UUID()] = c
	r.order = append(r.order, c)
	r.mu.Unlock()
	r.changed(c)
	go func() {
		<-c.Done()
		if r.ended != nil {
			r.ended(c)
		}
		r.remove(c)
		r.changed(c)
	}()
}

func (r *Registry) remove(c *Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.calls, c.UUID())
	for i, x := range r.order {
		if x == c {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// Get returns the live call of an account with that CallUUID.
func (r *Registry) Get(accountID, callUUID string) (*Call, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.calls[callUUID]
	if !ok || c.id.AccountID != accountID || c.State() == Ended {
		return nil, false
	}
	return c, true
}

// List returns the live calls of an account, oldest first.
func (r *Registry) List(accountID string) []*Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Call
	for _, c := range r.order {
		if c.id.AccountID == accountID && c.State() != Ended {
			out = append(out, c)
		}
	}
	return out
}

// All returns every live call, oldest first.
func (r *Registry) All() []*Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Call
	for _, c := range r.order {
		if c.State() != Ended {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls an account has live.
func (r *Registry) Count(accountID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.order {
		if c.id.AccountID == accountID && c.State() != Ended {
			n++
		}
	}
	return n
}

// Len returns how many calls are live in total.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.order {
		if c.State() != Ended {
			n++
		}
	}
	return n
}
