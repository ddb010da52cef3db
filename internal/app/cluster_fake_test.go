package app

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/parley-voice/parley/internal/cluster"
)

// fakeBus is an in-memory cluster for the tests of app's cluster paths: nodes that join it
// see each other, call each other's handlers, and find room homes the test sets.
type fakeBus struct {
	mu    sync.Mutex
	live  map[string]*fakeNode
	homes map[string]string // room key -> node id
	calls map[string]int    // method -> calls from one node to another
}

func newFakeBus() *fakeBus {
	return &fakeBus{live: map[string]*fakeNode{}, homes: map[string]string{}, calls: map[string]int{}}
}

// join adds a live node with a new boot.
func (b *fakeBus) join(id, boot string) *fakeNode {
	n := &fakeNode{bus: b, self: cluster.Peer{ID: id, BootID: boot}, handlers: map[string]cluster.Handler{}}
	b.mu.Lock()
	b.live[id] = n
	b.mu.Unlock()
	return n
}

// leave makes a node dead for the others.
func (b *fakeBus) leave(id string) {
	b.mu.Lock()
	delete(b.live, id)
	b.mu.Unlock()
}

func (b *fakeBus) setHome(key, node string) {
	b.mu.Lock()
	b.homes[key] = node
	b.mu.Unlock()
}

func (b *fakeBus) count(method string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[method]
}

type fakeNode struct {
	bus  *fakeBus
	self cluster.Peer

	mu       sync.Mutex
	handlers map[string]cluster.Handler
}

func (n *fakeNode) Self() cluster.Peer {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	return n.self
}

// setHTTPAddr gives a live node the HTTP address the others see (its listener is bound only
// once it has joined).
func (b *fakeBus) setHTTPAddr(id, addr string) {
	b.mu.Lock()
	b.live[id].self.HTTPAddr = addr
	b.mu.Unlock()
}

func (n *fakeNode) Peers() []cluster.Peer {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	var out []cluster.Peer
	for _, p := range n.bus.live {
		out = append(out, p.self)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (n *fakeNode) Peer(id string) (cluster.Peer, bool) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	p, ok := n.bus.live[id]
	if !ok {
		return cluster.Peer{}, false
	}
	return p.self, true
}

func (n *fakeNode) Handle(method string, h cluster.Handler) {
	n.mu.Lock()
	n.handlers[method] = h
	n.mu.Unlock()
}

func (n *fakeNode) Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error) {
	n.bus.mu.Lock()
	to, ok := n.bus.live[nodeID]
	if ok && nodeID != n.self.ID {
		n.bus.calls[method]++
	}
	n.bus.mu.Unlock()
	if !ok {
		return nil, cluster.ErrUnreachable
	}
	to.mu.Lock()
	h, ok := to.handlers[method]
	to.mu.Unlock()
	if !ok {
		return nil, cluster.ErrNoHandler
	}
	out, err := h(ctx, body)
	if err != nil {
		return nil, &cluster.RemoteError{Text: err.Error()}
	}
	return out, nil
}

func (n *fakeNode) RoomHome(_ context.Context, key string) (cluster.Peer, bool, error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.bus.homes == nil {
		return cluster.Peer{}, false, errors.New("no bus")
	}
	home, ok := n.bus.live[n.bus.homes[key]]
	if !ok {
		return cluster.Peer{}, false, nil
	}
	return home.self, true, nil
}
