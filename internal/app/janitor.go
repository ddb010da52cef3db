package app

import (
	"context"
	"time"
)

// Retention of finished rows: delivered or dropped notifications (ended call records are kept
// for the cdr_retention setting).
const (
	janitorEvery    = time.Hour
	guardSweepEvery = time.Minute
	outboxRetention = 7 * 24 * time.Hour
)

// janitor prunes old rows so the database does not grow forever.
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	go s.sweepSIPGuard(ctx)
	for {
		now := time.Now()
		if n, err := s.store.Prune(ctx, now.Add(-outboxRetention)); err != nil {
			s.log.Warn("pruning the webhook outbox", "err", err)
		} else if n > 0 {
			s.log.Info("pruned delivered webhooks", "rows", n)
		}
		s.pruneCallRecords(ctx, now)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepSIPGuard returns the memory of idle SIP sources, usernames and nonces after a flood (the
// guard's tables are bounded without it).
func (s *Server) sweepSIPGuard(ctx context.Context) {
	t := time.NewTicker(guardSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.sipGuard.Sweep(now)
		}
	}
}
