package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults from §9.3.
const (
	DefaultMaxAge      = 24 * time.Hour
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	// DefaultWorkers bounds concurrent attempts: they mostly wait for the network.
	DefaultWorkers      = 32
	defaultPollInterval = 500 * time.Millisecond
	defaultBatch        = 256
	// jitter is the ± fraction applied to each backoff.
	jitter = 0.2
	// storeTimeout bounds one outbox write made after an attempt, even during shutdown.
	storeTimeout = 10 * time.Second
	// DefaultLease is how long a claim on a SharedOutbox lasts.
	DefaultLease = time.Minute
)

// DispatcherOptions configure a Dispatcher. Zero values take the defaults.
type DispatcherOptions struct {
	HTTPOptions
	// MaxAge is how long after CreatedAt an undelivered notification is dropped; default 24 h.
	MaxAge time.Duration
	// BaseBackoff is the wait after the first failed attempt, doubled after each further
	// failure (±20 %); default 1 s.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait; default 5 min.
	MaxBackoff time.Duration
	// Workers bounds concurrent attempts; default DefaultWorkers.
	Workers int
	// PollInterval is how often the outbox is read even without a wake-up (it picks up what a
	// previous process left); default 500 ms.
	PollInterval time.Duration
	// BatchSize is how many due notifications a loop reads ahead (besides those in flight,
	// which the outbox returns too); default 256. It reads again when they are used up.
	BatchSize int
	// Lease is how long this dispatcher holds what it claims from a SharedOutbox (the outbox of a
	// cluster); default DefaultLease. A notification is attempted only while at least one
	// attempt's Timeout plus a store write remain of its lease, so a lease shorter than twice
	// that is lengthened. A dispatcher that dies holds its notifications until the lease ends;
	// then another delivers them, with the same ID. Node clocks must agree to well within it.
	Lease time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter; default math/rand/v2.Float64.
	Rand func() float64
	// Observer is told the outcome and latency of every attempt; nil means nobody.
	Observer DeliveryObserver
}

// Dispatcher delivers notifications from an Outbox: every attempt signed with the account's
// token, retried with backoff until a 2xx or MaxAge.
//
// Scheduling costs O(1) per delivery: a loop (Run, or a Flush) reads a batch of due rows once
// and starts them as workers free up; it reads the outbox again only when that batch is used
// up, on a Notify, or on the poll tick. Wake-ups are coalesced in a one-slot channel.
type Dispatcher struct {
	outbox Outbox
	shared SharedOutbox // outbox, when it is shared with other processes; else nil
	// startWithin is how long after a claim its notifications may still be started: the
	// lease minus one attempt and its store write.
	startWithin time.Duration
	tokens      func(authID string) (string, bool)
	s           *sender
	o           DispatcherOptions
	log         *slog.Logger
	sem         chan struct{} // one slot per worker

	mu        sync.Mutex
	inflight  map[string]struct{} // notification IDs being attempted (or dropped)
	firstBusy map[string]struct{} // order keys with a first attempt in flight
	passes    map[*pass]struct{}  // the loops scheduling now (Run and any Flush)
}

// pass is the state of one scheduling loop: its read-ahead of due notifications and what the
// workers report to it.
type pass struct {
	flushAt time.Time       // Flush: the fixed "now"; zero for Run
	tried   map[string]bool // Flush: IDs already attempted, never tried again
	mine    *atomic.Int64   // Flush: its attempts not yet ended
	wake    chan struct{}   // one slot: wake-ups coalesce
	reread  atomic.Bool     // the outbox may hold due rows the read-ahead lacks

	// Owned by the loop's goroutine.
	waiting   map[string][]*entry // per order key, the first attempts held on it, by seq
	ready     []Notification      // read-ahead, oldest first; ready[head:] not yet looked at
	head      int
	cur       entry     // ready[head] as an entry, so looking at it allocates nothing
	prio      []*entry  // released from waiting, by seq: looked at before ready
	unheld    []string  // keys of held first attempts that were skipped: their queues move on
	truncated bool      // the last read returned as many rows as asked for
	startBy   time.Time // SharedOutbox: the read-ahead's claims are too short to start after this
	rows      int       // how many it returned
	starts    int       // notifications started or dropped since the last read

	// Guarded by Dispatcher.mu; written by workers.
	done      map[string]struct{} // IDs whose attempt ended since the last read
	released  []string            // order keys whose first attempt ended (or was dropped)
	elsewhere map[string]struct{} // Flush: due IDs that another loop had in flight at the last read
}

// entry is a row of a pass's read on its way to an attempt.
type entry struct {
	n    Notification
	seq  int      // position in the read: among first attempts sharing a key, lower goes first
	keys []string // n.OrderKeys(), filled for a first attempt when it is considered
}

// NewDispatcher returns a Dispatcher reading outbox; tokens returns an account's auth token.
func NewDispatcher(outbox Outbox, tokens func(authID string) (string, bool), opts DispatcherOptions) *Dispatcher {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = DefaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	s := newSender(opts.HTTPOptions)
	attempt := s.timeout + storeTimeout
	opts.Lease = max(opts.Lease, 2*attempt)
	shared, _ := outbox.(SharedOutbox)
	return &Dispatcher{
		outbox:      outbox,
		shared:      shared,
		startWithin: opts.Lease - attempt,
		tokens:      tokens,
		s:           s,
		o:           opts,
		log:         opts.Logger,
		sem:         make(chan struct{}, opts.Workers),
		inflight:    make(map[string]struct{}),
		firstBusy:   make(map[string]struct{}),
		passes:      make(map[*pass]struct{}),
	}
}

// Notify queues n: it fills ID, CreatedAt and NextAttempt when empty, writes n to the outbox and
// only then wakes the delivery loop. Method "" means POST.
func (d *Dispatcher) Notify(ctx context.Context, n Notification) error {
	n, err := d.Prepare(n)
	if err != nil {
		return err
	}
	if err := d.outbox.Enqueue(ctx, n); err != nil {
		return fmt.Errorf("queueing notification to %s: %w", rawBase(n.URL), err)
	}
	d.mu.Lock()
	for p := range d.passes {
		p.reread.Store(true)
		p.poke()
	}
	d.mu.Unlock()
	return nil
}

// Prepare checks a notification and fills in what Notify fills in (the method's form, ID,
// CreatedAt, NextAttempt), for a caller that writes it to the outbox itself, in a transaction
// of its own. The dispatcher delivers it from its next read of the outbox.
func (d *Dispatcher) Prepare(n Notification) (Notification, error) {
	m, err := normMethod(n.Method)
	if err != nil {
		return Notification{}, fmt.Errorf("notification not queued: %w", err)
	}
	if _, err := parseTarget(n.URL); err != nil {
		return Notification{}, fmt.Errorf("notification not queued: %w", err)
	}
	n.Method = m
	if n.ID == "" {
		n.ID = uuid.NewString()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = d.o.Now()
	}
	if n.NextAttempt.IsZero() {
		n.NextAttempt = n.CreatedAt
	}
	return n, nil
}

// Run delivers due notifications until ctx ends, then waits for the attempts in flight (they are
// cancelled and not counted) and returns nil. It reads the outbox again after a Notify and every
// PollInterval, so it resumes what a previous process left and retries that came due.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.o.PollInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	p := d.register(time.Time{}, nil, nil)
	defer d.unregister(p)
	for ctx.Err() == nil {
		if _, err := d.schedule(ctx, p, &wg); err != nil && ctx.Err() == nil {
			d.log.Error("reading the webhook outbox failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-t.C:
			p.reread.Store(true)
		}
	}
	wg.Wait()
	return nil
}

// Flush is for shutdown: it attempts once every notification due when it is called (first
// attempts sharing an order key still in order) and returns when they are done, or when ctx ends
// (with ctx's error). What is left stays in the outbox.
func (d *Dispatcher) Flush(ctx context.Context) error {
	var wg sync.WaitGroup
	var mine atomic.Int64
	p := d.register(d.o.Now(), make(map[string]bool), &mine)
	defer d.unregister(p)
	for {
		pending, err := d.schedule(ctx, p, &wg)
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("flushing webhooks: %w", err)
		}
		if !pending && mine.Load() == 0 {
			wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-p.wake:
		}
	}
}

func (d *Dispatcher) register(flushAt time.Time, tried map[string]bool, mine *atomic.Int64) *pass {
	p := &pass{
		flushAt: flushAt, tried: tried, mine: mine,
		wake:    make(chan struct{}, 1),
		waiting: make(map[string][]*entry),
		done:    make(map[string]struct{}),
	}
	if tried != nil {
		p.elsewhere = make(map[string]struct{})
	}
	p.reread.Store(true)
	d.mu.Lock()
	d.passes[p] = struct{}{}
	d.mu.Unlock()
	return p
}

func (d *Dispatcher) unregister(p *pass) {
	d.mu.Lock()
	delete(d.passes, p)
	d.mu.Unlock()
}

// poke wakes the pass's loop unless a wake-up is already pending.
func (p *pass) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// now is the time due notifications are read for.
func (d *Dispatcher) now(p *pass) time.Time {
	if !p.flushAt.IsZero() {
		return p.flushAt
	}
	return d.o.Now()
}

// schedule starts attempts while workers are free and something is startable, reading the
// outbox when the read-ahead is used up and it may hold more. pending reports work left for a
// later wake-up: a notification not started (no free worker, or held behind an earlier first
// attempt sharing an order key), rows left to read, or (Flush) a due notification in flight
// elsewhere.
func (d *Dispatcher) schedule(ctx context.Context, p *pass, wg *sync.WaitGroup) (pending bool, err error) {
	for {
		if !p.startBy.IsZero() && d.o.Now().After(p.startBy) {
			// The claims of the read-ahead run out too soon to start any of it: another
			// dispatcher may take those notifications. Claim again (when a worker is free).
			p.ready, p.head, p.prio, p.unheld, p.cur, p.startBy = nil, 0, nil, nil, entry{}, time.Time{}
			clear(p.waiting)
			p.reread.Store(true)
		}
		d.mu.Lock()
		released := p.released
		p.released = nil
		d.mu.Unlock()
		p.release(released)
		p.release(p.unheld)
		p.unheld = p.unheld[:0]
		e, fromPrio, ok := p.peek()
		if !ok {
			if p.needRead() {
				if len(d.sem) == cap(d.sem) {
					return true, nil // read when a worker is free, so the rows are fresh
				}
				if err := d.read(ctx, p); err != nil {
					p.reread.Store(true)
					return true, err
				}
				if p.head < len(p.ready) {
					continue
				}
			}
			d.mu.Lock()
			elsewhere := len(p.elsewhere) > 0
			d.mu.Unlock()
			return len(p.waiting) > 0 || p.needRead() || elsewhere, nil
		}
		if stop := d.consider(ctx, p, e, fromPrio, wg); stop {
			return true, nil
		}
		p.pop(fromPrio)
	}
}

// needRead reports whether the outbox should be read again once the read-ahead is used up:
// after a Notify or poll tick, or when the last read was cut at its limit and more lies beyond.
// A read returns the held and in-flight rows again, so the latter waits until a quarter of its
// rows were started (or none is held), which keeps the rows read per delivery bounded even when
// one order key holds back most of them.
func (p *pass) needRead() bool {
	if p.reread.Load() {
		return true
	}
	if !p.truncated || p.starts == 0 {
		return false
	}
	return len(p.waiting) == 0 || p.starts >= max(1, p.rows/4)
}

// peek returns the next notification to look at: released ones first, then the read-ahead.
// The entry of a read-ahead row is valid until the next peek.
func (p *pass) peek() (e *entry, fromPrio, ok bool) {
	if len(p.prio) > 0 {
		return p.prio[0], true, true
	}
	if p.head < len(p.ready) {
		p.cur = entry{n: p.ready[p.head], seq: p.head}
		return &p.cur, false, true
	}
	return nil, false, false
}

// pop removes what peek returned.
func (p *pass) pop(fromPrio bool) {
	if fromPrio {
		p.prio = p.prio[1:]
		return
	}
	p.ready[p.head] = Notification{} // the read-ahead no longer keeps its params alive
	p.head++
}

// read replaces the read-ahead with the oldest due rows: as many as are in flight (the outbox
// still returns them, and a SharedOutbox renews their claims) plus one batch. From a
// SharedOutbox it claims them.
func (d *Dispatcher) read(ctx context.Context, p *pass) error {
	p.reread.Store(false)
	d.mu.Lock()
	limit := len(d.inflight) + d.o.BatchSize
	clear(p.done)
	d.mu.Unlock()
	var rows []Notification
	var err error
	if d.shared != nil {
		claimed := d.o.Now()
		rows, err = d.shared.Claim(ctx, d.now(p), claimed.Add(d.o.Lease), limit)
		p.startBy = claimed.Add(d.startWithin)
	} else {
		rows, err = d.outbox.Due(ctx, d.now(p), limit)
	}
	if err != nil {
		return err
	}
	p.ready, p.head, p.prio, p.unheld, p.cur = rows, 0, nil, nil, entry{}
	clear(p.waiting)
	p.truncated, p.rows, p.starts = len(rows) >= limit, len(rows), 0
	if p.elsewhere != nil {
		d.mu.Lock()
		clear(p.elsewhere)
		for _, n := range rows {
			_, busy := d.inflight[n.ID]
			_, ended := p.done[n.ID]
			if busy && !ended && !p.tried[n.ID] {
				p.elsewhere[n.ID] = struct{}{}
			}
		}
		d.mu.Unlock()
	}
	return nil
}

// consider starts e, holds it behind an order key, or skips it. stop reports that no worker
// was free, so e was left as it was.
func (d *Dispatcher) consider(ctx context.Context, p *pass, e *entry, fromPrio bool, wg *sync.WaitGroup) (stop bool) {
	n := e.n
	first := n.Attempts == 0 && n.OrderKey != ""
	if first && e.keys == nil {
		e.keys = n.OrderKeys()
	}
	d.mu.Lock()
	_, busy := d.inflight[n.ID]
	_, ended := p.done[n.ID] // attempted since it was read: the row is stale
	if busy && p.elsewhere != nil && !p.tried[n.ID] {
		p.elsewhere[n.ID] = struct{}{} // Flush waits for another loop's attempt
	}
	if busy || ended || p.tried[n.ID] {
		d.mu.Unlock()
		if fromPrio {
			p.unheld = append(p.unheld, e.keys...) // the next in its queues may go
		}
		return false
	}
	if first && d.held(p, e) {
		d.mu.Unlock()
		if !fromPrio {
			h := *e
			e = &h
		}
		p.hold(e)
		return false
	}
	if d.now(p).Sub(n.CreatedAt) > d.o.MaxAge {
		d.inflight[n.ID] = struct{}{} // so no other loop starts it meanwhile
		d.mu.Unlock()
		d.drop(ctx, n, "undelivered after webhook_max_age")
		d.observe(OutcomeDropped, 0)
		var keys []string
		if first {
			keys = e.keys
		}
		d.ended(n.ID, keys, false)
		p.starts++
		return false
	}
	select {
	case d.sem <- struct{}{}:
	default:
		d.mu.Unlock()
		return true
	}
	d.inflight[n.ID] = struct{}{}
	var keys []string
	if first {
		keys = e.keys
		for _, k := range keys {
			d.firstBusy[k] = struct{}{}
		}
	}
	if p.tried != nil {
		p.tried[n.ID] = true
	}
	d.mu.Unlock()
	p.starts++
	mine := p.mine
	if mine != nil {
		mine.Add(1)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.deliver(ctx, n)
		<-d.sem
		if mine != nil {
			mine.Add(-1)
		}
		// The outcome is in the outbox before n leaves inflight, so no loop reads n as due
		// and free after a delivery.
		d.ended(n.ID, keys, true)
	}()
	return false
}

// held reports whether the first attempt e must wait: one of its keys has a first attempt in
// flight, or an earlier row of this read holding that key waits. Called with d.mu held.
func (d *Dispatcher) held(p *pass, e *entry) bool {
	for _, k := range e.keys {
		if _, ok := d.firstBusy[k]; ok {
			return true
		}
		if w := p.waiting[k]; len(w) > 0 && w[0].seq < e.seq {
			return true
		}
	}
	return false
}

// hold queues e on every one of its keys, in read order.
func (p *pass) hold(e *entry) {
	for _, k := range e.keys {
		p.waiting[k] = insertBySeq(p.waiting[k], e)
	}
}

// release moves to prio each first attempt that now heads every queue it waits in, after the
// keys given became free (or may have). consider checks the keys' attempts in flight again, so
// a release that proves early only queues it again.
func (p *pass) release(keys []string) {
	for _, k := range keys {
		w := p.waiting[k]
		if len(w) == 0 {
			continue
		}
		e := w[0]
		if !p.heads(e) {
			continue // an earlier row shares another of its keys: that one's end releases it
		}
		for _, ek := range e.keys {
			if q := p.waiting[ek]; len(q) == 1 {
				delete(p.waiting, ek)
			} else {
				q[0] = nil
				p.waiting[ek] = q[1:]
			}
		}
		p.prio = insertBySeq(p.prio, e)
	}
}

// heads reports whether e is first in every queue it waits in.
func (p *pass) heads(e *entry) bool {
	for _, k := range e.keys {
		if w := p.waiting[k]; len(w) == 0 || w[0] != e {
			return false
		}
	}
	return true
}

// insertBySeq inserts e into q, which is ordered by seq. Rows mostly come in order, so it
// looks from the back.
func insertBySeq(q []*entry, e *entry) []*entry {
	i := len(q)
	for i > 0 && q[i-1].seq > e.seq {
		i--
	}
	return slices.Insert(q, i, e)
}

// ended records that the attempt (or drop) of notification id is over and wakes every loop (a
// worker is free, its order keys may be free). owned says the attempt held keys in firstBusy.
func (d *Dispatcher) ended(id string, keys []string, owned bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, id)
	if owned {
		for _, k := range keys {
			delete(d.firstBusy, k)
		}
	}
	for p := range d.passes {
		p.done[id] = struct{}{}
		p.released = append(p.released, keys...)
		if _, ok := p.elsewhere[id]; ok {
			delete(p.elsewhere, id)
			p.reread.Store(true) // it may still be due (an attempt cut short)
		}
		p.poke()
	}
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, n Notification) {
	log := d.log.With("delivery_id", n.ID, "url", rawBase(n.URL), "order_key", n.OrderKey)
	token, ok := d.tokens(n.AuthID)
	if !ok {
		d.drop(ctx, n, fmt.Sprintf("unknown account %q", n.AuthID))
		d.observe(OutcomeDropped, 0)
		return
	}
	hdr := http.Header{HeaderDeliveryID: {n.ID}}
	began := time.Now()
	rep, err := d.s.attempt(ctx, n.Method, n.URL, n.Params, token, hdr, 0)
	took := time.Since(began)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err == nil && rep.status >= 200 && rep.status <= 299 {
		if err := d.outbox.MarkDelivered(sctx, n.ID); err != nil {
			log.Error("webhook delivered but not marked; it may be sent again", "err", err)
			return
		}
		log.Debug("webhook delivered", "attempts", n.Attempts+1)
		d.observe(OutcomeDelivered, took)
		return
	}
	if ctx.Err() != nil {
		// Stopped by shutdown: the attempt is not counted and stays due.
		return
	}
	if err == nil {
		err = &StatusError{Code: rep.status}
	}
	if errors.Is(err, errPermanent) {
		d.drop(ctx, n, err.Error())
		d.observe(OutcomeDropped, took)
		return
	}
	attempts := n.Attempts + 1
	next := d.o.Now().Add(d.backoff(attempts))
	if next.Sub(n.CreatedAt) > d.o.MaxAge {
		d.drop(ctx, n, "undelivered after webhook_max_age, last error: "+err.Error())
		d.observe(OutcomeDropped, took)
		return
	}
	if rerr := d.outbox.Reschedule(sctx, n.ID, attempts, next, err.Error()); rerr != nil {
		log.Error("recording a failed webhook attempt failed", "err", rerr)
		return
	}
	log.Warn("webhook attempt failed; will retry", "attempts", attempts, "next_attempt", next, "err", err)
	d.observe(OutcomeRetry, took)
}

// drop removes n for good and logs why.
func (d *Dispatcher) drop(ctx context.Context, n Notification, reason string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	d.log.Error("webhook dropped", "delivery_id", n.ID, "url", rawBase(n.URL), "order_key", n.OrderKey,
		"attempts", n.Attempts, "created_at", n.CreatedAt, "reason", reason, "last_error", n.LastError)
	if err := d.outbox.Drop(sctx, n.ID, reason); err != nil {
		d.log.Error("dropping a webhook from the outbox failed", "delivery_id", n.ID, "err", err)
	}
}

// backoff is the wait after the given number of failed attempts: BaseBackoff doubled each time,
// ±20 % jitter, at most MaxBackoff (so 4–5 min at the default cap).
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.o.BaseBackoff
	for i := 1; i < attempts && b < d.o.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.MaxBackoff) // capped before the jitter too, so waits at the cap still spread
	f := 1 + (d.o.Rand()*2-1)*jitter
	b = time.Duration(float64(b) * f)
	if b > d.o.MaxBackoff {
		b = d.o.MaxBackoff
	}
	if b <= 0 {
		b = time.Millisecond
	}
	return b
}
