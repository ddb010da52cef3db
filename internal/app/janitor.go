package app

import (
	"context"
	"time"
)

// Retention of finished rows: delivered or dropped notifications (ended call records are kept
// for the cdr_retention setting).
const (
	janitorEvery    = time.Hour
	outboxRetention = 7 * 24 * time.Hour
)

// janitor prunes old rows so the database does not grow forever.
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
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
