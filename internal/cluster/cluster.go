// Package cluster joins this node to the other Parley nodes of a cluster over NATS: who the
// nodes are and whether they live (a registry in a JetStream key-value bucket that each node
// renews), which node is the home of a room (a lease in a key-value bucket that the home
// renews), and request/reply between nodes.
//
// It must not know about calls, rooms, SIP or HTTP: app hands it keys and bytes. It must not
// decide anything two nodes could race on by itself: every such decision is a compare-and-set
// on a NATS key-value entry (create-if-absent, update-at-revision), so NATS is the only arbiter.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Options configure a node.
type Options struct {
	// URL is the NATS server list, "nats://host:port[,nats://…]".
	URL string
	// NodeID names this node; unique in the cluster.
	NodeID string
	// SIPAddr is where the other nodes reach this node's SIP (host:port) for internal legs.
	SIPAddr string
	// HTTPAddr is this node's REST address (host:port), shown to operators.
	HTTPAddr string
	// Logger gets the node's lines; Join adds node_id.
	Logger *slog.Logger

	// HeartbeatInterval is how often the node renews its registry entry (default 500 ms).
	HeartbeatInterval time.Duration
	// PeerTimeout is how long a node may stay silent before the others take it for dead
	// (default 2 s).
	PeerTimeout time.Duration
	// PeerDown is called, on every surviving node, once for each node boot that went silent
	// for PeerTimeout. It runs on its own goroutine; several nodes run it for the same boot,
	// so what it does must be safe to do twice (a row lock or a compare-and-set decides).
	PeerDown func(Peer)
	// RoomLost is called when a lease this node held was taken by another node (this node was
	// thought dead: a pause, a partition); the caller should end its copy of the room.
	RoomLost func(key string)
}

// Peer is one node of the cluster as the registry shows it.
type Peer struct {
	ID       string `json:"id"`
	BootID   string `json:"boot_id"` // new on each start of the process
	SIPAddr  string `json:"sip_addr"`
	HTTPAddr string `json:"http_addr"`
}

// Handler answers one request from another node. A returned error reaches the caller as a
// *RemoteError with its text.
type Handler func(ctx context.Context, body []byte) ([]byte, error)

// Errors of Call.
var (
	// ErrUnreachable: the node is not in the registry or did not answer in time.
	ErrUnreachable = errors.New("cluster: node unreachable")
	// ErrNoHandler: the node answered that it serves no such method.
	ErrNoHandler = errors.New("cluster: no handler for the method")
)

// RemoteError is a Handler's error, carried back to the caller.
type RemoteError struct{ Text string }

func (e *RemoteError) Error() string { return e.Text }
