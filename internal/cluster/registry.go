package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// beat puts this node's registry entry.
func (n *Node) beat(ctx context.Context, count uint64) error {
	v, err := json.Marshal(registryEntry{Peer: n.self, Beat: count, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if _, err := n.nodes.Put(ctx, n.self.ID, v); err != nil {
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	return nil
}

// heartbeatLoop renews the registry entry and the leases, and declares silent peers down.
func (n *Node) heartbeatLoop() {
	defer n.loops.Done()
	t := time.NewTicker(n.o.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for count := uint64(1); ; count++ {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.paused.Load() || n.expelled.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, n.o.HeartbeatInterval)
		err := n.beat(ctx, count)
		cancel()
		switch {
		case err != nil && !failing && n.ctx.Err() == nil:
			n.log.Warn("cluster: heartbeat failed; the others take this node for dead after the peer timeout",
				"err", err, "peer_timeout", n.o.PeerTimeout)
			failing = true
		case err == nil && failing:
			n.log.Info("cluster: heartbeat works again")
			failing = false
		}
		n.renewLeases()
		n.checkPeers(time.Now())
	}
}

// watchLoop follows the registry after Join's first read.
func (n *Node) watchLoop() {
	defer n.loops.Done()
	defer n.watch.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-n.watch.Updates():
			if !ok {
				if n.ctx.Err() == nil {
					n.log.Error("cluster: registry watch ended")
				}
				return
			}
			if e != nil {
				n.observe(e, false)
			}
		}
	}
}

// observe takes in one registry update. initial: it is from Join's first read, so it may be
// the last word of a node that died long ago.
func (n *Node) observe(e jetstream.KeyValueEntry, initial bool) {
	now := time.Now()
	id := e.Key()
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.peers[id]
	if e.Operation() != jetstream.KeyValuePut {
		switch {
		case id == n.self.ID && !initial && n.ctx.Err() == nil:
			// Not our Close (that stops the watch first): the others cleared our entry.
			go n.expel()
		case st != nil:
			// The node left (Close), or a survivor cleared the entry of a dead node.
			n.downLocked(id, st, "left")
		}
		return
	}
	var r registryEntry
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.ID != id || r.BootID == "" {
		n.log.Warn("cluster: ignoring a malformed registry entry", "key", id, "err", err)
		return
	}
	if id == n.self.ID {
		if r.BootID == n.self.BootID {
			n.selfSeen = now
		} else if r.BootID != n.twinBoot {
			n.twinBoot = r.BootID
			n.log.Error("cluster: another process writes this node's ID: node IDs must be unique", "other_boot_id", r.BootID)
		}
		return
	}
	if n.deadBoots[r.BootID] {
		// A boot declared dead stays dead (its calls were closed, its rooms re-homed), yet it
		// writes: it was cut off, not gone. Clearing its entry tells it (Options.Expelled)
		// and keeps nodes that join later from taking it for live.
		go n.clearEntry(id, r.BootID)
		return
	}
	if st != nil && st.peer.BootID != r.BootID {
		n.downLocked(id, st, "restarted")
		st = nil
	}
	if st == nil {
		st = &peerState{}
		n.peers[id] = st
		if !initial {
			n.log.Info("cluster: node up", "peer", id, "peer_boot_id", r.BootID, "sip_addr", r.SIPAddr)
		}
	}
	st.peer, st.revision = r.Peer, e.Revision()
	if now.After(st.seen) { // never back: the grace checkPeers gives after a blind time stands
		st.seen = now
	}
	// Only Join's read compares the server's stamp with this clock, and only to hide a stale
	// entry from Peers: PeerDown still waits for PeerTimeout of local silence.
	st.suspect = initial && now.Sub(e.Created()) > n.o.PeerTimeout
}

// checkPeers declares down the peers silent for PeerTimeout, as long as this node sees its own
// heartbeats: a node that sees nothing judges nobody.
func (n *Node) checkPeers(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.selfSeen) > n.o.PeerTimeout/2 {
		if !n.blind {
			n.log.Warn("cluster: this node's own heartbeats do not come back; judging no other node until they do",
				"last_seen", now.Sub(n.selfSeen).Round(time.Millisecond))
			n.blind = true
		}
		return
	}
	if n.blind {
		// The others' updates of the blind time may still be arriving: give each a fresh
		// timeout from now.
		n.log.Info("cluster: this node's heartbeats come back again")
		n.blind = false
		for _, st := range n.peers {
			st.seen = now
		}
		return
	}
	for id, st := range n.peers {
		if now.Sub(st.seen) > n.o.PeerTimeout {
			n.downLocked(id, st, "silent")
			go n.clearEntry(id, st.peer.BootID)
		}
	}
}

// clearEntry removes the registry entry of a dead boot unless that node has written a new
// boot's entry meanwhile: nodes that join later do not take the dead boot for live, and if it
// was only cut off it learns it was expelled. Several survivors may do it at once; each delete
// is at the revision it read.
func (n *Node) clearEntry(id, bootID string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.o.PeerTimeout)
	defer cancel()
	for range 3 {
		e, err := n.nodes.Get(ctx, id)
		if err != nil {
			return // gone already, or NATS trouble: the next survivor or heartbeat tries again
		}
		var r registryEntry
		if json.Unmarshal(e.Value(), &r) == nil && r.BootID != bootID {
			return
		}
		if err := n.nodes.Delete(ctx, id, jetstream.LastRevision(e.Revision())); !isConflict(err) {
			return
		}
	}
}

// expel is what a node does when the others removed its registry entry: it stops renewing,
// gives up its rooms and says so (Options.Expelled).
func (n *Node) expel() {
	if !n.expelled.CompareAndSwap(false, true) {
		return
	}
	n.log.Error("cluster: the other nodes took this node for dead and removed it from the registry; it gives up its rooms and renews nothing: restart it to rejoin")
	ctx, cancel := context.WithTimeout(context.Background(), n.o.PeerTimeout)
	defer cancel()
	n.leaseMu.Lock()
	var lost []string
	for key, rev := range n.leases {
		// Free the key at once (only if it is still our entry): nobody need wait for the
		// dead-boot check.
		_ = n.rooms.Delete(ctx, key, jetstream.LastRevision(rev))
		delete(n.leases, key)
		lost = append(lost, key)
	}
	n.leaseMu.Unlock()
	for _, key := range lost {
		if n.o.RoomLost != nil {
			go n.o.RoomLost(key)
		}
	}
	if n.o.Expelled != nil {
		go n.o.Expelled()
	}
}

// downLocked forgets a peer's boot for good and reports it. n.mu is held.
func (n *Node) downLocked(id string, st *peerState, why string) {
	delete(n.peers, id)
	n.deadBoots[st.peer.BootID] = true
	n.log.Warn("cluster: node down", "peer", id, "peer_boot_id", st.peer.BootID, "why", why)
	if n.o.PeerDown != nil {
		go n.o.PeerDown(st.peer)
	}
}

// holderLive finds whether the holder of a lease is a live node boot, and which.
func (n *Node) holderLive(ctx context.Context, l lease) (Peer, bool, error) {
	if l.Node == n.self.ID {
		return n.self, l.BootID == n.self.BootID, nil
	}
	n.mu.Lock()
	st, dead := n.peers[l.Node], n.deadBoots[l.BootID]
	var p Peer
	var live, known bool
	if st != nil && st.peer.BootID == l.BootID {
		p, live, known = st.peer, !st.suspect, true
	}
	n.mu.Unlock()
	if known || dead {
		return p, live, nil
	}
	// A node that joined a moment ago may hold a lease before its registry entry reached our
	// watcher: ask the registry itself.
	e, err := n.nodes.Get(ctx, l.Node)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Peer{}, false, nil
		}
		return Peer{}, false, fmt.Errorf("cluster: registry: %w", err)
	}
	var r registryEntry
	if json.Unmarshal(e.Value(), &r) != nil || r.BootID != l.BootID {
		return Peer{}, false, nil
	}
	return r.Peer, true, nil
}
