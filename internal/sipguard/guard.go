package sipguard

import (
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Verdict is what the SIP layer does with a request.
type Verdict uint8

// The verdicts. Drop and Banned both mean "send nothing back": an answer, even a challenge
// that the transaction layer retransmits, would amplify an attack.
const (
	Allow  Verdict = iota // go on with the request
	Drop                  // over a rate limit, in authentication back-off, or a scanner: ignore it
	Banned                // the source (or username) is banned: ignore it
)

// String names the verdict for logs.
func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Drop:
		return "drop"
	case Banned:
		return "banned"
	}
	return "unknown"
}

// Limit is a token bucket: Rate requests per second sustained, Burst at once. A Rate of 0
// turns the limit off.
type Limit struct {
	Rate  float64
	Burst int
}

// Config says what the guard allows. Zero fields take the defaults listed with each field
// (DefaultConfig returns them all).
type Config struct {
	// Invite, Register and Options limit each untrusted source address's requests of that
	// method. Defaults: INVITE 5/s burst 20, REGISTER 2/s burst 10, OPTIONS 2/s burst 10. A
	// negative Rate turns that limit off.
	Invite, Register, Options Limit
	// MaxSources caps the source addresses tracked for rate limits and for authentication
	// failures (each table separately); default 65536. When full the least recently seen
	// source is forgotten.
	MaxSources int
	// MaxUsers caps the usernames tracked for authentication failures; default 16384.
	MaxUsers int
	// IdleExpiry forgets a source or username not seen for this long; default 10 minutes. It
	// is also the window of failure counting: a count starts again after this much quiet.
	IdleExpiry time.Duration
	// Trusted networks (the trusted gateways) are exempt from limits, back-off and bans.
	Trusted []netip.Prefix
	// TrustedAlso, when set, names more trusted sources that change at run time (the other
	// nodes of a cluster). It is asked for every request and packet filter: it must be cheap.
	TrustedAlso func(src netip.Addr) bool

	// BackoffAfter is the number of authentication failures allowed before back-off starts
	// (default 3). From then each failure doubles the wait, starting at BackoffBase (default
	// 1 s) and capped at BackoffMax (default 1 minute); while it lasts, INVITE and REGISTER
	// from the source (or with the username) are dropped.
	BackoffAfter int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	// BanAfter failures from one source ban it for BanDuration (defaults 10 and 15 minutes):
	// every request from it is dropped. UserBanAfter failures for one username (default 30,
	// from any sources) ban the username for BanDuration: requests carrying credentials for it
	// are dropped from untrusted sources, including its own phones, so it is set higher.
	BanAfter     int
	UserBanAfter int
	BanDuration  time.Duration

	// NonceTTL is how long a nonce is accepted (default 5 minutes); an older one gets
	// stale=true. MaxNonces caps the nonces whose use is remembered (default 65536).
	NonceTTL  time.Duration
	MaxNonces int
	// NonceKey signs nonces; nil means 32 random bytes drawn once by New (per process).
	NonceKey []byte

	// ScannerUserAgents are extra User-Agent fragments to drop (matched case-insensitively
	// anywhere in the header), added to DefaultScanners unless NoDefaultScanners is set.
	ScannerUserAgents []string
	NoDefaultScanners bool

	// Logger receives the ban lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of every Config field.
func DefaultConfig() Config {
	return Config{
		Invite:       Limit{Rate: 5, Burst: 20},
		Register:     Limit{Rate: 2, Burst: 10},
		Options:      Limit{Rate: 2, Burst: 10},
		MaxSources:   65536,
		MaxUsers:     16384,
		IdleExpiry:   10 * time.Minute,
		BackoffAfter: 3,
		BackoffBase:  time.Second,
		BackoffMax:   time.Minute,
		BanAfter:     10,
		UserBanAfter: 30,
		BanDuration:  15 * time.Minute,
		NonceTTL:     5 * time.Minute,
		MaxNonces:    65536,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	lim := func(l *Limit, def Limit) {
		switch {
		case l.Rate == 0 && l.Burst == 0:
			*l = def
		case l.Rate < 0:
			*l = Limit{}
		case l.Burst < 1:
			l.Burst = max(int(l.Rate+0.999), 1)
		}
	}
	lim(&c.Invite, d.Invite)
	lim(&c.Register, d.Register)
	lim(&c.Options, d.Options)
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.MaxSources, d.MaxSources)
	setInt(&c.MaxUsers, d.MaxUsers)
	setInt(&c.BackoffAfter, d.BackoffAfter)
	setInt(&c.BanAfter, d.BanAfter)
	setInt(&c.UserBanAfter, d.UserBanAfter)
	setInt(&c.MaxNonces, d.MaxNonces)
	setDur(&c.IdleExpiry, d.IdleExpiry)
	setDur(&c.BackoffBase, d.BackoffBase)
	setDur(&c.BackoffMax, d.BackoffMax)
	setDur(&c.BanDuration, d.BanDuration)
	setDur(&c.NonceTTL, d.NonceTTL)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Guard holds the per-source and per-user state. It is safe for concurrent use.
type Guard struct {
	cfg          Config
	log          *slog.Logger
	trusted      []netip.Prefix
	scanners     []string // lower-case fragments
	scannerBytes [][]byte // the same, for bytes.Contains

	rates    *table[netip.Addr, sourceRates]
	srcFails *table[netip.Addr, failures]
	usrFails *table[string, failures]
	nonces   *Nonces

	stats counters
}

// sourceRates are one source's buckets, one per limited method.
type sourceRates struct {
	invite, register, options bucket
}

// failures is the authentication failure record of one source or username.
type failures struct {
	count        int
	backoffUntil int64 // Unix nanoseconds; 0 when none
	bannedUntil  int64
}

const tableShards = 16

// New builds a Guard. It draws the nonce key from crypto/rand when cfg.NonceKey is nil.
func New(cfg Config) *Guard {
	cfg = cfg.withDefaults()
	g := &Guard{cfg: cfg, log: cfg.Logger}
	for _, p := range cfg.Trusted {
		g.trusted = append(g.trusted, p.Masked())
	}
	g.scanners = scannerList(cfg.ScannerUserAgents, !cfg.NoDefaultScanners)
	for _, s := range g.scanners {
		g.scannerBytes = append(g.scannerBytes, []byte(s))
	}
	seed := maphash.MakeSeed()
	addrHash := func(a netip.Addr) uint64 {
		b := a.As16()
		return maphash.Bytes(seed, b[:])
	}
	idle := cfg.IdleExpiry.Nanoseconds()
	// A ban must outlive the idle expiry of its entry.
	failIdle := max(idle, cfg.BanDuration.Nanoseconds())
	g.rates = newTable[netip.Addr, sourceRates](cfg.MaxSources, tableShards, idle, addrHash)
	g.srcFails = newTable[netip.Addr, failures](cfg.MaxSources, tableShards, failIdle, addrHash)
	g.usrFails = newTable[string, failures](cfg.MaxUsers, tableShards, failIdle,
		func(s string) uint64 { return maphash.String(seed, s) })
	isBanned := func(f *failures, now int64) bool { return f.bannedUntil > now }
	g.srcFails.pinned = isBanned
	g.usrFails.pinned = isBanned
	g.nonces = newNonces(cfg.NonceKey, cfg.NonceTTL, cfg.MaxNonces, &g.stats)
	return g
}

// Nonces returns the guard's digest nonce state.
func (g *Guard) Nonces() *Nonces { return g.nonces }

// Trusted reports whether src is in a trusted network.
func (g *Guard) Trusted(src netip.Addr) bool {
	src = src.Unmap()
	for _, p := range g.trusted {
		if p.Contains(src) {
			return true
		}
	}
	return g.cfg.TrustedAlso != nil && g.cfg.TrustedAlso(src)
}

// Admit decides whether a new request (outside a dialog, or the first of a transaction) from
// src may cost anything. method is the SIP method as sent (upper case); userAgent the
// User-Agent header ("" when absent). Trusted sources are always allowed. A banned source gets
// Banned for every method; a source in authentication back-off gets Drop for INVITE and
// REGISTER; a scanner User-Agent gets Drop; then the method's token bucket decides.
func (g *Guard) Admit(src netip.Addr, method, userAgent string, now time.Time) Verdict {
	src = src.Unmap()
	if g.Trusted(src) {
		g.stats.allowed.Add(1)
		return Allow
	}
	t := now.UnixNano()
	if g.isScanner(userAgent) {
		g.stats.droppedScanner.Add(1)
		return Drop
	}
	if v := failureVerdictIn(g, g.srcFails, src, method, t); v != Allow {
		return v
	}
	lim, pick := g.limitFor(method)
	if lim.Rate > 0 {
		s := g.rates.shardFor(src)
		s.mu.Lock()
		r, fresh := g.rates.get(s, src, t)
		b := pick(r)
		if fresh {
			*b = bucket{tokens: float64(lim.Burst), last: t}
		}
		ok := b.take(lim, t)
		s.mu.Unlock()
		if !ok {
			g.stats.droppedRate.Add(1)
			return Drop
		}
	}
	g.stats.allowed.Add(1)
	return Allow
}

// Banned reports whether src is banned at now, without counting anything. It is cheap enough
// for a transport read filter, before a packet is even parsed.
func (g *Guard) Banned(src netip.Addr, now time.Time) bool {
	src = src.Unmap()
	if g.Trusted(src) {
		return false
	}
	t := now.UnixNano()
	s := g.srcFails.shardFor(src)
	s.mu.Lock()
	f := g.srcFails.lookup(s, src, t)
	banned := f != nil && f.bannedUntil > t
	s.mu.Unlock()
	return banned
}

// CheckUser decides whether credentials for user, received from src, may be checked at all:
// Banned while the username is banned, Drop while it is in back-off (for INVITE and REGISTER).
// Call it once the username of an Authorization header is known and before the password is
// looked up. Trusted sources are always allowed.
func (g *Guard) CheckUser(src netip.Addr, user, method string, now time.Time) Verdict {
	if user == "" || g.Trusted(src) {
		return Allow
	}
	return failureVerdictIn(g, g.usrFails, user, method, now.UnixNano())
}

// failureVerdictIn looks key up in a failure table: Banned while banned, Drop while in back-off
// for methods that carry credentials.
func failureVerdictIn[K comparable](g *Guard, t *table[K, failures], key K, method string, now int64) Verdict {
	s := t.shardFor(key)
	s.mu.Lock()
	f := t.lookup(s, key, now)
	var banned, backoff bool
	if f != nil {
		banned = f.bannedUntil > now
		backoff = f.backoffUntil > now
	}
	s.mu.Unlock()
	switch {
	case banned:
		g.stats.droppedBanned.Add(1)
		return Banned
	case backoff && (method == "INVITE" || method == "REGISTER"):
		g.stats.droppedBackoff.Add(1)
		return Drop
	}
	return Allow
}

// limitFor returns the limit of method and how to find its bucket.
func (g *Guard) limitFor(method string) (Limit, func(*sourceRates) *bucket) {
	switch method {
	case "INVITE":
		return g.cfg.Invite, func(r *sourceRates) *bucket { return &r.invite }
	case "REGISTER":
		return g.cfg.Register, func(r *sourceRates) *bucket { return &r.register }
	case "OPTIONS":
		return g.cfg.Options, func(r *sourceRates) *bucket { return &r.options }
	}
	return Limit{}, nil
}

// AuthFailed records wrong credentials for user (the username the request claimed; "" when
// none) from src. It starts or lengthens the back-off of both and bans the source after
// BanAfter failures, the username after UserBanAfter. A ban writes one log line at warning
// level, message "parley sip ban", with the keys source, user, reason, failures and duration in
// that order; reason is "source-failures" or "user-failures". Failures from trusted sources
// are not counted.
func (g *Guard) AuthFailed(src netip.Addr, user string, now time.Time) {
	src = src.Unmap()
	if g.Trusted(src) {
		return
	}
	g.stats.authFailures.Add(1)
	t := now.UnixNano()
	if n, banned := recordFailureIn(g, g.srcFails, src, g.cfg.BanAfter, t); banned {
		g.ban(src, user, "source-failures", n)
	}
	if user != "" {
		if n, banned := recordFailureIn(g, g.usrFails, user, g.cfg.UserBanAfter, t); banned {
			g.ban(src, user, "user-failures", n)
		}
	}
}

// recordFailureIn counts one failure for key; banned is true when this failure started a ban.
func recordFailureIn[K comparable](g *Guard, t *table[K, failures], key K, banAfter int, now int64) (count int, banned bool) {
	s := t.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	f, _ := t.get(s, key, now)
	if f.bannedUntil > now {
		return f.count, false // already banned: one log line per ban
	}
	if f.bannedUntil != 0 { // a ban ended: start counting again
		*f = failures{}
	}
	f.count++
	if f.count >= banAfter {
		f.bannedUntil = now + g.cfg.BanDuration.Nanoseconds()
		f.backoffUntil = 0
		return f.count, true
	}
	if over := f.count - g.cfg.BackoffAfter; over >= 0 {
		wait := g.cfg.BackoffBase
		for i := 0; i < over && wait < g.cfg.BackoffMax; i++ {
			wait *= 2
		}
		f.backoffUntil = now + min(wait, g.cfg.BackoffMax).Nanoseconds()
	}
	return f.count, false
}

// ban counts and logs a new ban.
func (g *Guard) ban(src netip.Addr, user, reason string, count int) {
	g.stats.bans.Add(1)
	g.log.Warn("parley sip ban", "source", src.String(), "user", user, "reason", reason,
		"failures", count, "duration", g.cfg.BanDuration.String())
}

// AuthSucceeded clears the failure counts of src and user after right credentials. A ban in
// force is kept (a banned source never gets that far; a banned username may, from a trusted
// source).
func (g *Guard) AuthSucceeded(src netip.Addr, user string, now time.Time) {
	t := now.UnixNano()
	clearFailures(g.srcFails, src.Unmap(), t)
	if user != "" {
		clearFailures(g.usrFails, user, t)
	}
}

func clearFailures[K comparable](t *table[K, failures], key K, now int64) {
	s := t.shardFor(key)
	s.mu.Lock()
	if f := t.lookup(s, key, now); f != nil && f.bannedUntil <= now {
		*f = failures{}
	}
	s.mu.Unlock()
}

// Sweep forgets sources, usernames and nonces idle for longer than their expiry. Memory is
// bounded without it; calling it now and then (say every minute) returns memory after a flood.
func (g *Guard) Sweep(now time.Time) {
	t := now.UnixNano()
	g.rates.sweep(t)
	g.srcFails.sweep(t)
	g.usrFails.sweep(t)
	g.nonces.sweep(now)
}

// Ban is one ban in force.
type Ban struct {
	Source netip.Addr // set for a source ban
	User   string     // set for a username ban
	Until  time.Time
}

// Bans lists the bans in force at now.
func (g *Guard) Bans(now time.Time) []Ban {
	t := now.UnixNano()
	var out []Ban
	g.srcFails.each(t, func(k netip.Addr, f *failures) {
		if f.bannedUntil > t {
			out = append(out, Ban{Source: k, Until: time.Unix(0, f.bannedUntil)})
		}
	})
	g.usrFails.each(t, func(k string, f *failures) {
		if f.bannedUntil > t {
			out = append(out, Ban{User: k, Until: time.Unix(0, f.bannedUntil)})
		}
	})
	return out
}

// counters are the guard's atomic counters.
type counters struct {
	allowed, droppedRate, droppedScanner, droppedBackoff, droppedBanned atomic.Int64
	authFailures, bans                                                  atomic.Int64
	noncesIssued, noncesStale, nonceReplays, noncesInvalid              atomic.Int64
}

// Stats is a snapshot of the counters (totals since start) and of the table sizes.
type Stats struct {
	Allowed        int64 // requests Admit allowed
	DroppedRate    int64 // over a method's token bucket
	DroppedScanner int64 // scanner User-Agents
	DroppedBackoff int64 // source or username in authentication back-off
	DroppedBanned  int64 // banned source or username
	AuthFailures   int64 // wrong credentials from untrusted sources
	Bans           int64 // bans started
	NoncesIssued   int64
	NoncesStale    int64 // expired (or forgotten) nonces answered with stale=true
	NonceReplays   int64 // a nonce-count used again: replayed credentials refused
	NoncesInvalid  int64 // nonces we did not issue
	// TrackedSources, TrackedUsers and TrackedNonces are the current table sizes.
	TrackedSources int
	TrackedUsers   int
	TrackedNonces  int
}

// Stats returns the counters.
func (g *Guard) Stats() Stats {
	c := &g.stats
	return Stats{
		Allowed:        c.allowed.Load(),
		DroppedRate:    c.droppedRate.Load(),
		DroppedScanner: c.droppedScanner.Load(),
		DroppedBackoff: c.droppedBackoff.Load(),
		DroppedBanned:  c.droppedBanned.Load(),
		AuthFailures:   c.authFailures.Load(),
		Bans:           c.bans.Load(),
		NoncesIssued:   c.noncesIssued.Load(),
		NoncesStale:    c.noncesStale.Load(),
		NonceReplays:   c.nonceReplays.Load(),
		NoncesInvalid:  c.noncesInvalid.Load(),
		TrackedSources: g.rates.size(),
		TrackedUsers:   g.usrFails.size(),
		TrackedNonces:  g.nonces.size(),
	}
}
