package webhook

import "time"

// Outcomes of one delivery attempt, as a DeliveryObserver is told.
const (
	OutcomeDelivered = "delivered" // 2xx: done
	OutcomeRetry     = "retry"     // failed; rescheduled with backoff
	OutcomeDropped   = "dropped"   // failed for good (permanent error, webhook_max_age, unknown account)
)

// DeliveryObserver is told the outcome of every delivery attempt and how long the HTTP attempt
// took (zero when none was made). The app feeds it to counters and a latency histogram. It is
// called on the delivering worker and must not block.
type DeliveryObserver interface {
	Delivery(outcome string, took time.Duration)
}

func (d *Dispatcher) observe(outcome string, took time.Duration) {
	if d.o.Observer != nil {
		d.o.Observer.Delivery(outcome, took)
	}
}
