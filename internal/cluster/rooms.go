package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// claimTries bounds ClaimRoom's compare-and-set rounds; each lost round means another node
// wrote the key, and the next round sees its holder.
const claimTries = 5

// ClaimRoom returns the live home of the room key, making this node the home when the key is
// free or its holder is dead (compare-and-set: of several nodes claiming at once, one wins and
// the others get the winner). The node renews the leases it holds until ReleaseRoom or Close.
func (n *Node) ClaimRoom(ctx context.Context, key string) (Peer, error) {
	mine, err := json.Marshal(lease{Node: n.self.ID, BootID: n.self.BootID})
	if err != nil {
		return Peer{}, fmt.Errorf("cluster: %w", err)
	}
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	if n.expelled.Load() {
		return Peer{}, ErrExpelled
	}
	for range claimTries {
		e, err := n.rooms.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			rev, err := n.rooms.Create(ctx, key, mine)
			if err == nil {
				n.leases[key] = rev
				n.log.Info("cluster: room claimed", "room_key", key)
				return n.self, nil
			}
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // another node created it first
			}
			return Peer{}, fmt.Errorf("cluster: claim room %s: %w", key, err)
		}
		if err != nil {
			return Peer{}, fmt.Errorf("cluster: claim room %s: %w", key, err)
		}
		var holder lease
		if err := json.Unmarshal(e.Value(), &holder); err == nil {
			p, live, err := n.holderLive(ctx, holder)
			if err != nil {
				return Peer{}, err
			}
			if live {
				if p.ID == n.self.ID {
					n.leases[key] = e.Revision()
				}
				return p, nil
			}
		}
		rev, err := n.rooms.Update(ctx, key, mine, e.Revision())
		if err == nil {
			n.leases[key] = rev
			n.log.Info("cluster: room taken over from a dead home", "room_key", key,
				"old_home", holder.Node, "old_boot_id", holder.BootID)
			return n.self, nil
		}
		if !isConflict(err) {
			return Peer{}, fmt.Errorf("cluster: claim room %s: %w", key, err)
		}
	}
	return Peer{}, fmt.Errorf("cluster: claim room %s: still contended after %d tries", key, claimTries)
}

// RoomHome returns the live home of the room key; ok is false when no live node holds it.
func (n *Node) RoomHome(ctx context.Context, key string) (home Peer, ok bool, err error) {
	e, err := n.rooms.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Peer{}, false, nil
	}
	if err != nil {
		return Peer{}, false, fmt.Errorf("cluster: room home %s: %w", key, err)
	}
	var holder lease
	if err := json.Unmarshal(e.Value(), &holder); err != nil {
		return Peer{}, false, nil // unreadable: nobody holds it; a claim overwrites it
	}
	return n.holderLive(ctx, holder)
}

// ReleaseRoom gives up this node's lease on key (the room ended here).
func (n *Node) ReleaseRoom(ctx context.Context, key string) error {
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	rev, ok := n.leases[key]
	if !ok {
		return nil
	}
	delete(n.leases, key)
	// Only our own entry: if another node took the key meanwhile, it is theirs.
	if err := n.rooms.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && !isConflict(err) {
		return fmt.Errorf("cluster: release room %s: %w", key, err)
	}
	n.log.Info("cluster: room released", "room_key", key)
	return nil
}

// renewParallel bounds the lease updates in flight at once: a node homing many rooms renews
// them all within a heartbeat without a burst of thousands of requests.
const renewParallel = 16

// renewLeases updates each held lease at its revision; one that another node took is lost.
func (n *Node) renewLeases() {
	mine, err := json.Marshal(lease{Node: n.self.ID, BootID: n.self.BootID})
	if err != nil {
		return
	}
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	if len(n.leases) == 0 {
		return
	}
	type result struct {
		key string
		rev uint64 // 0: lost
		err error
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.o.HeartbeatInterval)
	defer cancel()
	count := len(n.leases)
	results := make(chan result, count)
	slots := make(chan struct{}, renewParallel)
	for key, rev := range n.leases {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			newRev, err := n.rooms.Update(ctx, key, mine, rev)
			if isConflict(err) {
				newRev, err = n.reclaim(ctx, key, mine)
			}
			results <- result{key, newRev, err}
		}()
	}
	var lost []string
	failed, firstErr := 0, error(nil)
	for range count {
		r := <-results
		switch {
		case r.err != nil:
			failed++
			firstErr = cmp.Or(firstErr, r.err)
		case r.rev == 0:
			lost = append(lost, r.key)
			delete(n.leases, r.key)
		default:
			n.leases[r.key] = r.rev
		}
	}
	if failed > 0 && n.ctx.Err() == nil {
		n.log.Warn("cluster: lease renewals failed; retrying at the next heartbeat", "rooms", failed, "err", firstErr)
	}
	for _, key := range lost {
		n.log.Warn("cluster: room lost to another node", "room_key", key)
		if n.o.RoomLost != nil {
			go n.o.RoomLost(key)
		}
	}
}

// reclaim looks at a lease whose renewal met another revision: still ours (a write we did not
// see the answer of) → renewed at the new revision; gone (the bucket was lost) → created again;
// another node's → 0 (lost).
func (n *Node) reclaim(ctx context.Context, key string, mine []byte) (uint64, error) {
	e, err := n.rooms.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		rev, err := n.rooms.Create(ctx, key, mine)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, nil
		}
		return rev, err
	}
	if err != nil {
		return 0, err
	}
	var holder lease
	if json.Unmarshal(e.Value(), &holder) != nil || holder.Node != n.self.ID || holder.BootID != n.self.BootID {
		return 0, nil
	}
	rev, err := n.rooms.Update(ctx, key, mine, e.Revision())
	if isConflict(err) {
		return 0, nil
	}
	return rev, err
}

// isConflict: a compare-and-set lost to another writer.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}
