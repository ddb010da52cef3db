package sipguard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// Nonces issues digest nonces and remembers which were used with which nonce-count.
//
// A nonce is 56 hex digits: its issue time (8 bytes, Unix nanoseconds), 8 random bytes, and 12
// bytes of HMAC-SHA256 of the first 16 under a per-process key. Checking one needs no state;
// only nonces that were used are remembered, with the highest nonce-count (nc) seen, so the
// same nc (or a lower one) is refused: a captured Authorization header replayed is useless.
//
// The memory of used nonces is a ring of MaxNonces entries. When a nonce still in its lifetime
// has to be forgotten to make room, every nonce issued no later than it counts as stale from
// then on, so forgetting never lets a replay through: a real client is merely asked to take a
// fresh nonce (stale=true), which it does without asking its user.
type Nonces struct {
	key   []byte
	ttl   int64 // nanoseconds
	stats *counters

	mu        sync.Mutex
	used      map[[16]byte]nonceUse
	ring      [][16]byte // used nonces in order of first use
	head, n   int        // oldest entry, count
	watermark int64      // nonces issued at or before this instant and not in used are stale
}

type nonceUse struct {
	issued int64
	lastNC uint32
}

// NonceResult is the state of a nonce presented in credentials.
type NonceResult uint8

// The nonce results.
const (
	NonceOK      NonceResult = iota // ours, fresh, and (for Use) this nc not seen before
	NonceStale                      // ours but expired or forgotten: challenge again with stale=true
	NonceReplay                     // ours, fresh, but this nc was used already: refuse, challenge again
	NonceInvalid                    // not a nonce we issued: treat as no credentials
)

// String names the result for logs.
func (r NonceResult) String() string {
	switch r {
	case NonceOK:
		return "ok"
	case NonceStale:
		return "stale"
	case NonceReplay:
		return "replay"
	case NonceInvalid:
		return "invalid"
	}
	return "unknown"
}

// nonceLen is the length of a nonce in hex digits.
const nonceLen = 2 * (16 + 12)

// clockSkew is how far in the future an issue time may lie (a clock stepped back).
const clockSkew = int64(time.Minute)

func newNonces(key []byte, ttl time.Duration, capacity int, stats *counters) *Nonces {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand since Go 1.24)
	}
	return &Nonces{
		key:   append([]byte(nil), key...),
		ttl:   ttl.Nanoseconds(),
		stats: stats,
		used:  make(map[[16]byte]nonceUse, min(capacity, 4096)),
		ring:  make([][16]byte, capacity),
	}
}

// Issue returns a new nonce for a challenge.
func (ns *Nonces) Issue(now time.Time) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(raw[8:])
	ns.stats.noncesIssued.Add(1)
	return ns.encode(raw)
}

// encode signs raw and writes the nonce.
func (ns *Nonces) encode(raw [16]byte) string {
	mac := ns.mac(raw)
	var out [nonceLen]byte
	hex.Encode(out[:32], raw[:])
	hex.Encode(out[32:], mac[:])
	return string(out[:])
}

func (ns *Nonces) mac(raw [16]byte) [12]byte {
	m := hmac.New(sha256.New, ns.key)
	m.Write(raw[:])
	var sum [sha256.Size]byte
	var out [12]byte
	copy(out[:], m.Sum(sum[:0]))
	return out
}

// parseNonce splits a nonce into its signed part and its MAC; ok is false for anything that is
// not 56 hex digits.
func parseNonce(s string) (raw [16]byte, mac [12]byte, ok bool) {
	if len(s) != nonceLen {
		return raw, mac, false
	}
	if _, err := hex.Decode(raw[:], []byte(s[:32])); err != nil {
		return raw, mac, false
	}
	if _, err := hex.Decode(mac[:], []byte(s[32:])); err != nil {
		return raw, mac, false
	}
	return raw, mac, true
}

// verify checks the nonce's signature and age: NonceOK, NonceStale or NonceInvalid.
func (ns *Nonces) verify(nonce string, now int64) (raw [16]byte, issued int64, r NonceResult) {
	raw, mac, ok := parseNonce(nonce)
	if !ok {
		return raw, 0, NonceInvalid
	}
	want := ns.mac(raw)
	if !hmac.Equal(want[:], mac[:]) {
		return raw, 0, NonceInvalid
	}
	issued = int64(binary.BigEndian.Uint64(raw[:8]))
	if age := now - issued; age > ns.ttl || age < -clockSkew {
		return raw, issued, NonceStale
	}
	return raw, issued, NonceOK
}

// Check says whether nonce is ours and fresh (NonceOK, NonceStale, NonceInvalid) without using
// it. Call it before looking up a password, so a foreign nonce costs nothing more.
func (ns *Nonces) Check(nonce string, now time.Time) NonceResult {
	_, _, r := ns.verify(nonce, now.UnixNano())
	ns.count(r)
	return r
}

// Use records that credentials with nonce and nonce-count nc were accepted, once the digest
// response has been verified right (so that wrong guesses cannot burn a client's nonce). nc is
// the 8 hex digits of the credentials, "" when they have no qop (the nonce is then single use).
// It returns NonceOK when the credentials may be accepted, NonceReplay when this nc (or a
// higher one) was seen already, NonceStale when the nonce expired or was forgotten, and
// NonceInvalid for a nonce we did not issue or a malformed nc.
func (ns *Nonces) Use(nonce, nc string, now time.Time) NonceResult {
	t := now.UnixNano()
	raw, issued, r := ns.verify(nonce, t)
	if r != NonceOK {
		ns.count(r)
		return r
	}
	count, ok := parseNC(nc)
	if !ok {
		ns.count(NonceInvalid)
		return NonceInvalid
	}
	ns.mu.Lock()
	r = ns.useLocked(raw, issued, count, t)
	ns.mu.Unlock()
	ns.count(r)
	return r
}

func (ns *Nonces) useLocked(raw [16]byte, issued int64, nc uint32, now int64) NonceResult {
	if u, seen := ns.used[raw]; seen {
		if nc <= u.lastNC || nc == 0 {
			return NonceReplay
		}
		u.lastNC = nc
		ns.used[raw] = u
		return NonceOK
	}
	if issued <= ns.watermark {
		return NonceStale
	}
	ns.expireLocked(now)
	if ns.n == len(ns.ring) { // full of live nonces: forget the oldest, and everything before it
		old := ns.ring[ns.head]
		if u, ok := ns.used[old]; ok && u.issued > ns.watermark {
			ns.watermark = u.issued
		}
		delete(ns.used, old)
		ns.head = (ns.head + 1) % len(ns.ring)
		ns.n--
		if issued <= ns.watermark {
			return NonceStale
		}
	}
	ns.used[raw] = nonceUse{issued: issued, lastNC: nc}
	ns.ring[(ns.head+ns.n)%len(ns.ring)] = raw
	ns.n++
	return NonceOK
}

// expireLocked drops used nonces from the front of the ring whose lifetime is over; they are
// refused as stale by their age anyway.
func (ns *Nonces) expireLocked(now int64) {
	for ns.n > 0 {
		old := ns.ring[ns.head]
		if u, ok := ns.used[old]; ok && now-u.issued <= ns.ttl {
			return
		}
		delete(ns.used, old)
		ns.head = (ns.head + 1) % len(ns.ring)
		ns.n--
	}
}

func (ns *Nonces) sweep(now time.Time) {
	ns.mu.Lock()
	ns.expireLocked(now.UnixNano())
	ns.mu.Unlock()
}

func (ns *Nonces) size() int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.n
}

func (ns *Nonces) count(r NonceResult) {
	switch r {
	case NonceStale:
		ns.stats.noncesStale.Add(1)
	case NonceReplay:
		ns.stats.nonceReplays.Add(1)
	case NonceInvalid:
		ns.stats.noncesInvalid.Add(1)
	}
}

// parseNC reads a nonce-count: "" (no qop) is 0, otherwise exactly 8 hex digits.
func parseNC(nc string) (uint32, bool) {
	if nc == "" {
		return 0, true
	}
	if len(nc) != 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 8; i++ {
		c := nc[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}
