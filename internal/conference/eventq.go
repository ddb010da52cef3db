package conference

import (
	"context"
	"sync"
	"sync/atomic"
)

// maxQueuedEvents is how many undelivered events a room may hold before a new Join waits (on
// the joining call's goroutine, never the room's) for its queue to shrink: a stalled event
// handler, such as a store that no longer answers, stops a room from growing rather than its
// queue from growing without bound. Events are never dropped.
const maxQueuedEvents = 256

// eventQueue carries one room's events to ManagerOptions.Events, in order, on a goroutine of
// its own: the room goroutine only appends, so its mixer tick never waits for the handler
// (which may write to a database). The drain goroutine runs while the queue has events and
// ends when it is empty. Safe for concurrent use.
type eventQueue struct {
	deliver func(Event)
	queued  *atomic.Int64 // the Manager's count of undelivered events, all rooms

	mu       sync.Mutex
	items    []queuedEvent // items[head:] are undelivered, oldest first
	head     int
	draining bool          // a drain goroutine is running
	space    chan struct{} // closed when the queue drops below maxQueuedEvents; nil when nobody waits
}

// queuedEvent is an event and what to do once the handler has returned (e.g. let Join return).
type queuedEvent struct {
	ev    Event
	after func()
}

func newEventQueue(deliver func(Event), queued *atomic.Int64) *eventQueue {
	return &eventQueue{deliver: deliver, queued: queued}
}

// push queues ev; after (may be nil) runs on the drain goroutine once ev has been delivered.
// It never blocks for long: the lock only guards an append.
func (q *eventQueue) push(ev Event, after func()) {
	q.queued.Add(1)
	q.mu.Lock()
	q.items = append(q.items, queuedEvent{ev, after})
	start := !q.draining
	q.draining = true
	q.mu.Unlock()
	if start {
		go q.drain()
	}
}

// drain delivers until the queue is empty.
func (q *eventQueue) drain() {
	for {
		q.mu.Lock()
		if q.head == len(q.items) {
			q.items, q.head, q.draining = q.items[:0], 0, false
			q.mu.Unlock()
			return
		}
		it := q.items[q.head]
		q.items[q.head] = queuedEvent{} // let the event's data go
		q.head++
		if q.space != nil && len(q.items)-q.head < maxQueuedEvents {
			close(q.space)
			q.space = nil
		}
		q.mu.Unlock()
		q.deliver(it.ev)
		q.queued.Add(-1)
		if it.after != nil {
			it.after()
		}
	}
}

// idle reports whether every queued event has been delivered and its after has run.
func (q *eventQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.draining
}

// waitSpace returns once the queue holds fewer than maxQueuedEvents, or ctx's error when ctx
// ends first. Never called on the room goroutine.
func (q *eventQueue) waitSpace(ctx context.Context) error {
	for {
		q.mu.Lock()
		if len(q.items)-q.head < maxQueuedEvents {
			q.mu.Unlock()
			return nil
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
