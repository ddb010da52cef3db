package sipguard

import (
	"sync"
)

// table is a bounded map with least-recently-used eviction, split in shards so that sources
// hashing to different shards do not contend for one lock. Entries idle for longer than idle
// are reset on their next use and are the first to go when a shard is full.
//
// Callers lock the shard (shardFor), use get, and unlock; a *V stays valid only while the
// shard is locked.
type table[K comparable, V any] struct {
	shards []shard[K, V]
	hash   func(K) uint64
	idle   int64 // nanoseconds
	// pinned reports entries that eviction should pass over when it can (active bans), so a
	// flood of new keys does not wash a ban out; a full shard evicts them anyway after
	// pinnedSkips tries, because the bound on memory comes first.
	pinned func(v *V, now int64) bool
}

const pinnedSkips = 4

type shard[K comparable, V any] struct {
	mu         sync.Mutex
	m          map[K]*node[K, V]
	head, tail *node[K, V] // head is the most recently used
	capacity   int
}

type node[K comparable, V any] struct {
	key        K
	val        V
	seen       int64 // last use, Unix nanoseconds
	prev, next *node[K, V]
}

// newTable makes a table holding at most capacity entries (at least one per shard).
func newTable[K comparable, V any](capacity, shards int, idle int64, hash func(K) uint64) *table[K, V] {
	if shards < 1 {
		shards = 1
	}
	if capacity < shards {
		shards = max(capacity, 1)
	}
	per := max(capacity/shards, 1)
	t := &table[K, V]{shards: make([]shard[K, V], shards), hash: hash, idle: idle}
	for i := range t.shards {
		t.shards[i].m = make(map[K]*node[K, V], min(per, 1024))
		t.shards[i].capacity = per
	}
	return t
}

func (t *table[K, V]) shardFor(k K) *shard[K, V] {
	return &t.shards[t.hash(k)%uint64(len(t.shards))]
}

// lookup returns k's value without creating or touching it, nil when absent or idle too long.
// The shard must be locked.
func (t *table[K, V]) lookup(s *shard[K, V], k K, now int64) *V {
	n := s.m[k]
	if n == nil || now-n.seen > t.idle {
		return nil
	}
	return &n.val
}

// get returns k's value, creating a zero one (fresh=true) when absent or idle for too long, and
// marks it used at now. The shard must be locked.
func (t *table[K, V]) get(s *shard[K, V], k K, now int64) (v *V, fresh bool) {
	if n := s.m[k]; n != nil {
		if now-n.seen > t.idle {
			var zero V
			n.val, fresh = zero, true
		}
		n.seen = now
		s.moveToFront(n)
		return &n.val, fresh
	}
	var n *node[K, V]
	if len(s.m) >= s.capacity {
		n = t.evict(s, now)
		n.key, n.seen, n.prev, n.next = k, now, nil, nil
		var zero V
		n.val = zero
	} else {
		n = &node[K, V]{key: k, seen: now}
	}
	s.m[k] = n
	s.pushFront(n)
	return &n.val, true
}

// evict removes the least recently used entry, preferring one that is not pinned, and returns
// its node for reuse.
func (t *table[K, V]) evict(s *shard[K, V], now int64) *node[K, V] {
	n := s.tail
	if t.pinned != nil {
		for i := 0; i < pinnedSkips && n != nil && now-n.seen <= t.idle && t.pinned(&n.val, now); i++ {
			n = n.prev
		}
		if n == nil {
			n = s.tail
		}
	}
	s.unlink(n)
	delete(s.m, n.key)
	return n
}

// sweep drops entries idle for longer than the table's idle time and returns how many remain.
func (t *table[K, V]) sweep(now int64) int {
	left := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for s.tail != nil && now-s.tail.seen > t.idle {
			n := s.tail
			s.unlink(n)
			delete(s.m, n.key)
		}
		left += len(s.m)
		s.mu.Unlock()
	}
	return left
}

// size counts the entries.
func (t *table[K, V]) size() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// each calls fn for every entry not idle for too long, shard by shard under the shard's lock.
func (t *table[K, V]) each(now int64, fn func(k K, v *V)) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for n := s.head; n != nil; n = n.next {
			if now-n.seen <= t.idle {
				fn(n.key, &n.val)
			}
		}
		s.mu.Unlock()
	}
}

func (s *shard[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = nil, s.head
	if s.head != nil {
		s.head.prev = n
	}
	s.head = n
	if s.tail == nil {
		s.tail = n
	}
}

func (s *shard[K, V]) unlink(n *node[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		s.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (s *shard[K, V]) moveToFront(n *node[K, V]) {
	if s.head == n {
		return
	}
	s.unlink(n)
	s.pushFront(n)
}
