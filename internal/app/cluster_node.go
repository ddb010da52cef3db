package app

import (
	"context"

	"github.com/parley-voice/parley/internal/cluster"
)

// clusterNode is what app uses of its membership in a cluster: *cluster.Node, or a fake in the
// tests of forwarding, lists and the reaper. Server.nodes is nil on a single node, and every
// cluster path starts from that nil check.
type clusterNode interface {
	// Self is this node.
	Self() cluster.Peer
	// Peers are the live nodes, this one included.
	Peers() []cluster.Peer
	// Peer finds a live node.
	Peer(id string) (cluster.Peer, bool)
	// Handle serves a method for the other nodes.
	Handle(method string, h cluster.Handler)
	// Call asks node nodeID.
	Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error)
	// RoomHome is the live home of a room key.
	RoomHome(ctx context.Context, key string) (home cluster.Peer, ok bool, err error)
}

var _ clusterNode = (*cluster.Node)(nil)

// roomKey is the cluster's key of the room (account, name).
func roomKey(account, name string) string {
	return cluster.RoomKey(account, name)
}
