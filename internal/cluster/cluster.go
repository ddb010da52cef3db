// Package cluster joins this node to the other Parley nodes of a cluster over NATS: who the
// nodes are and whether they live (a registry in a JetStream key-value bucket that each node
// renews), which node is the home of a room (a lease in a key-value bucket that the home
// renews), and request/reply between nodes.
//
// NATS layout (nothing else in Parley touches NATS):
//   - KV bucket parley_nodes: key = node ID, value = JSON Peer plus a heartbeat counter, put
//     every HeartbeatInterval. A node is live while this node keeps receiving updates of its
//     entry: liveness is judged by local receive times of watch updates, never by another
//     machine's clock nor by key expiry (nats-server 2.9 has no per-key TTL).
//   - KV bucket parley_rooms: key = RoomKey(account, name), value = JSON {node, boot_id} of the
//     home; created if absent, taken over from a dead holder by an update at the revision seen
//     (compare-and-set), renewed by the holder with an update at its revision every heartbeat.
//   - Requests: subject parley.node.<node id>.<method> (dots of the node ID written as '%'),
//     body = the request bytes; the answer carries errors in the header Parley-Error.
//
// It must not know about calls, rooms, SIP or HTTP: app hands it keys and bytes. It must not
// decide anything two nodes could race on by itself: every such decision is a compare-and-set
// on a NATS key-value entry (create-if-absent, update-at-revision), so NATS is the only arbiter.
package cluster

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configure a node.
type Options struct {
	// URL is the NATS server list, "nats://host:port[,nats://…]".
	URL string
	// NodeID names this node; unique in the cluster. Letters, digits, '-', '_' and '.'.
	NodeID string
	// SIPAddr is where the other nodes reach this node's SIP (host:port) for internal legs.
	SIPAddr string
	// HTTPAddr is this node's REST address (host:port), shown to operators.
	HTTPAddr string
	// Logger gets the node's lines. Give it node_id (app's root logger has it when clustered):
	// Join does not add it twice.
	Logger *slog.Logger
	// Handlers are served from the moment the node joins (Handle adds more later; a request
	// for a method not yet handled gets ErrNoHandler).
	Handlers map[string]Handler

	// Replicas is how many NATS servers keep each key-value bucket when Join creates it
	// (default 1; 3 in a NATS cluster of three or more JetStream servers, so that no single
	// server holds the registry and the leases). An existing bucket is used as it is.
	Replicas int

	// HeartbeatInterval is how often the node renews its registry entry (default 500 ms).
	HeartbeatInterval time.Duration
	// PeerTimeout is how long a node may stay silent before the others take it for dead
	// (default 2 s).
	PeerTimeout time.Duration
	// CallTimeout bounds a Call whose context has no deadline (default 10 s).
	CallTimeout time.Duration
	// PeerDown is called, on every surviving node, once for each node boot that went silent
	// for PeerTimeout, left the cluster (Close) or was replaced by a new boot of the same node
	// ID (a restart). It runs on its own goroutine; several nodes run it for the same boot,
	// so what it does must be safe to do twice (a row lock or a compare-and-set decides).
	PeerDown func(Peer)
	// RoomLost is called when a lease this node held was taken by another node (this node was
	// thought dead: a pause, a partition); the caller should end its copy of the room.
	RoomLost func(key string)
	// Expelled is called once when the other nodes took this node for dead and removed its
	// registry entry (it was cut off from NATS, or stopped, for longer than PeerTimeout, and
	// they have run PeerDown for its boot). From then on the node renews nothing, holds no
	// room (RoomLost runs for each) and claims none: the process should restart to rejoin.
	Expelled func()
}

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultPeerTimeout       = 2 * time.Second
	DefaultCallTimeout       = 10 * time.Second
)

// Peer is one node of the cluster as the registry shows it.
type Peer struct {
	ID       string `json:"id"`
	BootID   string `json:"boot_id"` // new on each start of the process
	SIPAddr  string `json:"sip_addr"`
	HTTPAddr string `json:"http_addr"`
}

// Handler answers one request from another node. A returned error reaches the caller as a
// *RemoteError with its text. Handlers run concurrently, each on its own goroutine.
type Handler func(ctx context.Context, body []byte) ([]byte, error)

// ErrExpelled: the other nodes took this node for dead (see Options.Expelled).
var ErrExpelled = errors.New("cluster: this node was taken for dead by the others; restart it to rejoin")

// Errors of Call.
var (
	// ErrUnreachable: the node is not in the registry or did not answer in time.
	ErrUnreachable = errors.New("cluster: node unreachable")
	// ErrNoHandler: the node answered that it serves no such method.
	ErrNoHandler = errors.New("cluster: no handler for the method")
	// ErrTooLarge: the request, or the answer, is larger than one NATS message may be (the
	// server's max_payload, 1 MB unless configured).
	ErrTooLarge = errors.New("cluster: message larger than the NATS max_payload")
)

// RemoteError is a Handler's error, carried back to the caller.
type RemoteError struct{ Text string }

func (e *RemoteError) Error() string { return e.Text }

// roomKeyEncoding writes room keys with characters every NATS key accepts.
var roomKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// RoomKey is the lease key of the room name of an account: the same on every node, and made
// only of characters NATS keys allow whatever the name holds.
func RoomKey(accountID, name string) string {
	return roomKeyEncoding.EncodeToString([]byte(accountID + "\x00" + name))
}

// ValidateNodeID says whether id can name a node: 1–64 letters, digits, '-', '_' or '.',
// not starting or ending with '.'.
func ValidateNodeID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("node id %q: 1 to 64 characters", id)
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") {
		return fmt.Errorf("node id %q: must not start or end with '.'", id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("node id %q: only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// nodeSubject is the subject prefix of a node's requests, "parley.node.<id>.". A dot of the ID
// becomes '%' (which an ID cannot hold) so that the ID stays one subject token.
func nodeSubject(id string) string {
	return "parley.node." + strings.ReplaceAll(id, ".", "%") + "."
}

type fromNodeKey struct{}

// FromNode is the ID of the node whose Call a Handler is serving.
func FromNode(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(fromNodeKey{}).(string)
	return id, ok && id != ""
}
