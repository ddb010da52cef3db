package cluster

import (
	"context"
	"errors"
)

// Node is this process's membership in the cluster. Its methods are safe for concurrent use.
type Node struct {
	self Peer
}

// Join connects to NATS, creates the key-value buckets if they are missing, registers this node
// with a new BootID and starts renewing its entry and watching the others'.
func Join(ctx context.Context, o Options) (*Node, error) {
	return nil, errors.New("cluster: not implemented yet")
}

// Self is this node.
func (n *Node) Self() Peer { return n.self }

// Peers are the live nodes, this one included, sorted by ID.
func (n *Node) Peers() []Peer { return nil }

// Peer finds a live node by ID.
func (n *Node) Peer(id string) (Peer, bool) { return Peer{}, false }

// Handle serves method for the other nodes (and for this one: Call to Self works).
// Register every handler before the node takes traffic.
func (n *Node) Handle(method string, h Handler) {}

// Call sends body to method on node nodeID and waits for its answer or ctx.
func (n *Node) Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error) {
	return nil, ErrUnreachable
}

// ClaimRoom returns the live home of the room key, making this node the home when the key is
// free or its holder is dead (compare-and-set: of several nodes claiming at once, one wins and
// the others get the winner). The node renews the leases it holds until ReleaseRoom or Close.
func (n *Node) ClaimRoom(ctx context.Context, key string) (Peer, error) {
	return Peer{}, errors.New("cluster: not implemented yet")
}

// RoomHome returns the live home of the room key; ok is false when no live node holds it.
func (n *Node) RoomHome(ctx context.Context, key string) (home Peer, ok bool, err error) {
	return Peer{}, false, nil
}

// ReleaseRoom gives up this node's lease on key (the room ended here).
func (n *Node) ReleaseRoom(ctx context.Context, key string) error { return nil }

// Close releases the leases, removes this node's registry entry and disconnects.
func (n *Node) Close() error { return nil }
