package app

import (
	"context"
	"time"

	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/webhook"
)

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
