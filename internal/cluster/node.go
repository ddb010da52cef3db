package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket names (see the package comment).
const (
	nodesBucket = "parley_nodes"
	roomsBucket = "parley_rooms"
)

// Node is this process's membership in the cluster. Its methods are safe for concurrent use.
type Node struct {
	o     Options
	self  Peer
	log   *slog.Logger
	nc    *nats.Conn
	nodes jetstream.KeyValue
	rooms jetstream.KeyValue
	sub   *nats.Subscription
	watch jetstream.KeyWatcher

	ctx      context.Context // ends at Close: stops the loops and the handlers
	cancel   context.CancelFunc
	loops    sync.WaitGroup
	serving  sync.WaitGroup // running handlers
	closeOne sync.Once
	closeErr error
	// paused makes the heartbeat loop skip its rounds, as a stopped process would: a test
	// hook for a node the others take for dead while it still thinks it is live.
	paused atomic.Bool
	// expelled: the others removed this node's registry entry (Options.Expelled).
	expelled atomic.Bool

	mu        sync.Mutex
	peers     map[string]*peerState // the other nodes by ID, as last seen
	deadBoots map[string]bool       // boots declared dead here: never live again
	handlers  map[string]Handler
	// selfSeen is when our own latest heartbeat came back through the watcher. While it is
	// old the watcher shows nothing fresh (NATS unreachable, this process stalled), so the
	// others' silence proves nothing: blind is set and nobody is declared down.
	selfSeen time.Time
	blind    bool
	// twinBoot is the last other boot seen writing this node's ID (said once, not per beat).
	twinBoot string

	// leaseMu serialises this node's writes to parley_rooms, so a renewal and a release of
	// the same key never race on its revision.
	leaseMu sync.Mutex
	leases  map[string]uint64 // room key → revision of our lease entry
}

// peerState is another node as this node last saw it.
type peerState struct {
	peer     Peer
	seen     time.Time // local time the last update of its entry arrived
	revision uint64    // of that update
	// suspect: the entry was already old (by the server's stamp) when this node joined; the
	// node is not listed until a fresh update arrives, and declared down after PeerTimeout
	// of local silence like any other.
	suspect bool
}

// registryEntry is the value of a node's key in parley_nodes.
type registryEntry struct {
	Peer
	Beat uint64    `json:"beat"` // heartbeat counter of this boot
	At   time.Time `json:"at"`   // the writer's clock, for operators only: never compared
}

// lease is the value of a room's key in parley_rooms.
type lease struct {
	Node   string `json:"node"`
	BootID string `json:"boot_id"`
}

// Join connects to NATS, creates the key-value buckets if they are missing, registers this node
// with a new BootID and starts renewing its entry and watching the others'. It returns once it
// has read the registry, so Peers is right at once.
func Join(ctx context.Context, o Options) (*Node, error) {
	if err := ValidateNodeID(o.NodeID); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if o.URL == "" {
		return nil, errors.New("cluster: no NATS URL")
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = DefaultPeerTimeout
	}
	if o.PeerTimeout < 2*o.HeartbeatInterval {
		return nil, fmt.Errorf("cluster: peer timeout %v must be at least twice the heartbeat interval %v",
			o.PeerTimeout, o.HeartbeatInterval)
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		o:         o,
		self:      Peer{ID: o.NodeID, BootID: uuid.NewString(), SIPAddr: o.SIPAddr, HTTPAddr: o.HTTPAddr},
		peers:     map[string]*peerState{},
		deadBoots: map[string]bool{},
		handlers:  map[string]Handler{},
		leases:    map[string]uint64{},
	}
	n.log = o.Logger
	for method, h := range o.Handlers {
		n.handlers[method] = h
	}
	if _, ok := ctx.Deadline(); !ok { // a process's start context often has none
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.selfSeen = time.Now()
	if err := n.join(ctx); err != nil {
		n.cancel()
		if n.nc != nil {
			n.nc.Close()
		}
		return nil, err
	}
	n.loops.Add(2)
	go n.watchLoop()
	go n.heartbeatLoop()
	n.log.Info("cluster: joined", "boot_id", n.self.BootID, "peers", len(n.Peers())-1)
	return n, nil
}

func (n *Node) join(ctx context.Context) error {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return fmt.Errorf("cluster: connect to NATS: %w", context.DeadlineExceeded)
		}
	}
	nc, err := nats.Connect(n.o.URL,
		nats.Name("parley "+n.o.NodeID),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close
				n.log.Warn("cluster: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { n.log.Info("cluster: NATS reconnected", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS %s: %w", n.o.URL, err)
	}
	n.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if n.nodes, err = bucket(ctx, js, jetstream.KeyValueConfig{Bucket: nodesBucket,
		Description: "Parley nodes: who is in the cluster"}, n.o.Replicas); err != nil {
		return err
	}
	if n.rooms, err = bucket(ctx, js, jetstream.KeyValueConfig{Bucket: roomsBucket,
		Description: "Parley rooms: the home node of each room"}, n.o.Replicas); err != nil {
		return err
	}
	// Requests first, so that once the others see us we answer.
	if n.sub, err = nc.Subscribe(nodeSubject(n.self.ID)+">", n.dispatch); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if err := n.beat(ctx, 0); err != nil {
		return err
	}
	if n.watch, err = n.nodes.WatchAll(n.ctx); err != nil {
		return fmt.Errorf("cluster: watch %s: %w", nodesBucket, err)
	}
	// The watcher sends the current entries, then nil.
	for {
		select {
		case e, ok := <-n.watch.Updates():
			if !ok {
				return fmt.Errorf("cluster: watch %s ended", nodesBucket)
			}
			if e == nil {
				return nil
			}
			n.observe(e, true)
		case <-ctx.Done():
			return fmt.Errorf("cluster: read %s: %w", nodesBucket, ctx.Err())
		}
	}
}

// bucket opens a key-value bucket, creating it when missing (several nodes may race: the
// loser opens the winner's).
func bucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		cfg.Storage, cfg.Replicas = jetstream.FileStorage, max(replicas, 1)
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: key-value bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Self is this node.
func (n *Node) Self() Peer { return n.self }

// Peers are the live nodes, this one included, sorted by ID.
func (n *Node) Peers() []Peer {
	n.mu.Lock()
	out := []Peer{n.self}
	for _, st := range n.peers {
		if !st.suspect {
			out = append(out, st.peer)
		}
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Peer finds a live node by ID.
func (n *Node) Peer(id string) (Peer, bool) {
	if id == n.self.ID {
		return n.self, true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if st := n.peers[id]; st != nil && !st.suspect {
		return st.peer, true
	}
	return Peer{}, false
}

// Close releases the leases, removes this node's registry entry and disconnects.
func (n *Node) Close() error {
	n.closeOne.Do(func() {
		n.cancel()
		n.loops.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		n.leaseMu.Lock()
		for key, rev := range n.leases {
			if err := n.rooms.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil &&
				!errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
				errs = append(errs, fmt.Errorf("cluster: release room %s: %w", key, err))
			}
			delete(n.leases, key)
		}
		n.leaseMu.Unlock()
		if err := n.leaveRegistry(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster: leave the registry: %w", err))
		}
		// No new requests; those already received still get their answers. The handlers
		// are counted only once the subscription has dispatched its last message.
		if err := n.sub.Drain(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: drain: %w", err))
		}
		for n.sub.IsValid() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		n.waitHandlers(ctx)
		closed := make(chan struct{})
		n.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := n.nc.Drain(); err != nil {
			n.nc.Close()
		} else {
			select {
			case <-closed:
			case <-ctx.Done():
				n.nc.Close()
			}
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("cluster: left")
	})
	return n.closeErr
}

// leaveRegistry deletes this boot's registry entry: only its own (a new process with this ID
// may have replaced it already).
func (n *Node) leaveRegistry(ctx context.Context) error {
	e, err := n.nodes.Get(ctx, n.self.ID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var r registryEntry
	if json.Unmarshal(e.Value(), &r) != nil || r.BootID != n.self.BootID {
		return nil
	}
	if err := n.nodes.Delete(ctx, n.self.ID, jetstream.LastRevision(e.Revision())); err != nil && !isConflict(err) {
		return err
	}
	return nil
}

// kill stops the node the way kill -9 would look to the others: no heartbeat, no answers,
// its registry entry and leases left behind. For tests.
func (n *Node) kill() {
	n.closeOne.Do(func() {
		n.cancel()
		n.nc.Close()
		n.loops.Wait()
	})
}

// waitHandlers waits for the running handlers, at most until ctx ends.
func (n *Node) waitHandlers(ctx context.Context) {
	done := make(chan struct{})
	go func() { n.serving.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("cluster: handlers still running at close")
	}
}
