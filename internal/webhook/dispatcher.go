package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults from §9.3.
const (
	DefaultMaxAge       = 24 * time.Hour
	DefaultBaseBackoff  = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	defaultWorkers      = 4
	defaultPollInterval = 500 * time.Millisecond
	defaultBatch        = 256
	// jitter is the ± fraction applied to each backoff.
	jitter = 0.2
	// storeTimeout bounds one outbox write made after an attempt, even during shutdown.
	storeTimeout = 10 * time.Second
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
	// Workers bounds concurrent attempts; default 4.
	Workers int
	// PollInterval is how often the outbox is read even without a wake-up (it picks up what a
	// previous process left); default 500 ms.
	PollInterval time.Duration
	// BatchSize is how many due notifications are read at a time; default 256.
	BatchSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter; default math/rand/v2.Float64.
	Rand func() float64
}

// Dispatcher delivers notifications from an Outbox: every attempt signed with the account's
// token, retried with backoff until a 2xx or MaxAge.
type Dispatcher struct {
	outbox Outbox
	tokens func(authID string) (string, bool)
	s      *sender
	o      DispatcherOptions
	log    *slog.Logger
	sem    chan struct{} // one slot per worker

	mu        sync.Mutex
	inflight  map[string]struct{} // notification IDs being attempted
	firstBusy map[string]struct{} // OrderKeys with a first attempt in flight

	sigMu   sync.Mutex    // separate from mu so Notify never waits for a scan
	changed chan struct{} // closed and replaced when something changes
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
		opts.Workers = defaultWorkers
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	return &Dispatcher{
		outbox:    outbox,
		tokens:    tokens,
		s:         newSender(opts.HTTPOptions),
		o:         opts,
		log:       opts.Logger,
		sem:       make(chan struct{}, opts.Workers),
		inflight:  make(map[string]struct{}),
		firstBusy: make(map[string]struct{}),
		changed:   make(chan struct{}),
	}
}

// Notify queues n: it fills ID, CreatedAt and NextAttempt when empty, writes n to the outbox and
// only then wakes the delivery loop. Method "" means POST.
func (d *Dispatcher) Notify(ctx context.Context, n Notification) error {
	m, err := normMethod(n.Method)
	if err != nil {
		return fmt.Errorf("notification not queued: %w", err)
	}
	if _, err := parseTarget(n.URL); err != nil {
		return fmt.Errorf("notification not queued: %w", err)
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
	if err := d.outbox.Enqueue(ctx, n); err != nil {
		return fmt.Errorf("queueing notification to %s: %w", rawBase(n.URL), err)
	}
	d.signal()
	return nil
}

// Run delivers due notifications until ctx ends, then waits for the attempts in flight (they are
// cancelled and not counted) and returns nil. It reads the outbox on every wake-up and every
// PollInterval, so it resumes what a previous process left.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.o.PollInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	for ctx.Err() == nil {
		ch := d.changedChan()
		if _, err := d.startDue(ctx, d.o.Now(), nil, &wg, nil); err != nil && ctx.Err() == nil {
			d.log.Error("reading the webhook outbox failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-ch:
		case <-t.C:
		}
	}
	wg.Wait()
	return nil
}

// Flush is for shutdown: it attempts once every notification due when it is called (first
// attempts of one OrderKey still in order) and returns when they are done, or when ctx ends
// (with ctx's error). What is left stays in the outbox.
func (d *Dispatcher) Flush(ctx context.Context) error {
	now := d.o.Now()
	tried := make(map[string]bool)
	var wg sync.WaitGroup
	var mine atomic.Int64
	for {
		ch := d.changedChan()
		waiting, err := d.startDue(ctx, now, tried, &wg, &mine)
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("flushing webhooks: %w", err)
		}
		if !waiting && mine.Load() == 0 {
			wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-ch:
		}
	}
}

func (d *Dispatcher) changedChan() <-chan struct{} {
	d.sigMu.Lock()
	defer d.sigMu.Unlock()
	return d.changed
}

// signal wakes every loop waiting for a change.
func (d *Dispatcher) signal() {
	d.sigMu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.sigMu.Unlock()
}

// startDue starts attempts for due notifications while workers are free. tried, when not nil,
// skips IDs already attempted and records the ones started; mine counts the started attempts
// until they end. waiting reports a due notification left for later (no free worker, already
// in flight, or behind an earlier first attempt of its OrderKey).
func (d *Dispatcher) startDue(ctx context.Context, now time.Time, tried map[string]bool, wg *sync.WaitGroup, mine *atomic.Int64) (waiting bool, err error) {
	// d.mu is held for the whole scan: a worker leaves d.inflight only after the outbox records
	// its outcome, so a scan never sees a finished notification as due and free.
	d.mu.Lock()
	defer d.mu.Unlock()
	items, err := d.outbox.Due(ctx, now, len(d.inflight)+d.o.BatchSize)
	if err != nil {
		return false, err
	}
	held := make(map[string]bool) // keys whose earlier first attempt was not started here
	for _, n := range items {
		if tried[n.ID] {
			continue
		}
		first := n.Attempts == 0 && n.OrderKey != ""
		_, busy := d.inflight[n.ID]
		if !busy && first {
			_, busy = d.firstBusy[n.OrderKey]
			busy = busy || held[n.OrderKey]
		}
		if busy {
			waiting = true
			if first {
				held[n.OrderKey] = true
			}
			continue
		}
		if now.Sub(n.CreatedAt) > d.o.MaxAge {
			d.drop(ctx, n, "undelivered after webhook_max_age")
			continue
		}
		select {
		case d.sem <- struct{}{}:
		default:
			return true, nil
		}
		d.inflight[n.ID] = struct{}{}
		if first {
			d.firstBusy[n.OrderKey] = struct{}{}
		}
		if tried != nil {
			tried[n.ID] = true
		}
		if mine != nil {
			mine.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.deliver(ctx, n)
			d.mu.Lock()
			delete(d.inflight, n.ID)
			if first {
				delete(d.firstBusy, n.OrderKey)
			}
			d.mu.Unlock()
			<-d.sem
			if mine != nil {
				mine.Add(-1)
			}
			d.signal()
		}()
	}
	return waiting, nil
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, n Notification) {
	log := d.log.With("delivery_id", n.ID, "url", rawBase(n.URL), "order_key", n.OrderKey)
	token, ok := d.tokens(n.AuthID)
	if !ok {
		d.drop(ctx, n, fmt.Sprintf("unknown account %q", n.AuthID))
		return
	}
	hdr := http.Header{HeaderDeliveryID: {n.ID}}
	rep, err := d.s.attempt(ctx, n.Method, n.URL, n.Params, token, hdr, 0)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err == nil && rep.status >= 200 && rep.status <= 299 {
		if err := d.outbox.MarkDelivered(sctx, n.ID); err != nil {
			log.Error("webhook delivered but not marked; it may be sent again", "err", err)
			return
		}
		log.Debug("webhook delivered", "attempts", n.Attempts+1)
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
		return
	}
	attempts := n.Attempts + 1
	next := d.o.Now().Add(d.backoff(attempts))
	if next.Sub(n.CreatedAt) > d.o.MaxAge {
		d.drop(ctx, n, "undelivered after webhook_max_age, last error: "+err.Error())
		return
	}
	if rerr := d.outbox.Reschedule(sctx, n.ID, attempts, next, err.Error()); rerr != nil {
		log.Error("recording a failed webhook attempt failed", "err", rerr)
		return
	}
	log.Warn("webhook attempt failed; will retry", "attempts", attempts, "next_attempt", next, "err", err)
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
