package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/store/postgres"
	"github.com/parley-voice/parley/internal/store/sqlite"

	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/webhook"
)

// openStore opens the configured store and the webhook outbox on it: the embedded SQLite file,
// read by this process alone, or the PostgreSQL database of database_url, which other Parley
// processes may share, so its outbox is claimed (see webhook.SharedOutbox).
func openStore(ctx context.Context, cfg *config.Config) (store.Store, webhook.Outbox, error) {
	if cfg.DatabaseURL == "" {
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "parley.db"))
		if err != nil {
			return nil, nil, err
		}
		return st, outbox{st}, nil
	}
	st, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	return st, sharedOutbox{outbox{st}, claimOwner()}, nil
}

// claimOwner names this process in outbox leases: unique, so two processes on one host (or a
// restarted one) never take each other's claims for their own.
func claimOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "parley"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// outbox lets the webhook dispatcher use the store's durable outbox. The two packages declare
// identical structs (store.OutboxItem, webhook.Notification) so neither imports the other.
type outbox struct{ st store.OutboxStore }

func (o outbox) Enqueue(ctx context.Context, n webhook.Notification) error {
	return o.st.Enqueue(ctx, store.OutboxItem(n))
}

func (o outbox) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Notification, error) {
	items, err := o.st.Due(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Notification, len(items))
	for i := range items {
		out[i] = webhook.Notification(items[i])
	}
	return out, nil
}

func (o outbox) MarkDelivered(ctx context.Context, id string) error {
	return o.st.MarkDelivered(ctx, id)
}

func (o outbox) Reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	return o.st.Reschedule(ctx, id, attempts, next, lastError)
}

func (o outbox) Drop(ctx context.Context, id, reason string) error {
	return o.st.Drop(ctx, id, reason)
}

// sharedOutbox is the outbox of a database that other processes share: reads claim.
type sharedOutbox struct {
	outbox
	owner string
}

var _ webhook.SharedOutbox = sharedOutbox{}

func (o sharedOutbox) Claim(ctx context.Context, now, leaseUntil time.Time, limit int) ([]webhook.Notification, error) {
	items, err := o.st.ClaimDue(ctx, o.owner, now, leaseUntil, limit)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Notification, len(items))
	for i := range items {
		out[i] = webhook.Notification(items[i])
	}
	return out, nil
}
