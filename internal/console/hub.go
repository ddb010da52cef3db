package console

import (
	"sync"
	"sync/atomic"
)

// streamBuffer is how many events wait for a slow page before it is told to resync.
const streamBuffer = 64

// hub fans events out to the open event streams of each account. Publishing takes a short
// lock and never blocks: a stream whose buffer is full misses the event and resyncs.
type hub struct {
	max int // streams per account

	mu   sync.Mutex
	subs map[string]map[*stream]struct{}
}

// stream is one open event stream.
type stream struct {
	ch     chan Event
	missed atomic.Bool
}

func newHub(max int) *hub { return &hub{max: max, subs: map[string]map[*stream]struct{}{}} }

// subscribe opens a stream for account; nil when the account has too many open.
func (h *hub) subscribe(account string) *stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[account]
	if len(set) >= h.max {
		return nil
	}
	if set == nil {
		set = map[*stream]struct{}{}
		h.subs[account] = set
	}
	s := &stream{ch: make(chan Event, streamBuffer)}
	set[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(account string, s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[account], s)
	if len(h.subs[account]) == 0 {
		delete(h.subs, account)
	}
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.Account] {
		select {
		case s.ch <- ev:
		default:
			s.missed.Store(true)
		}
	}
}
