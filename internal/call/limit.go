package call

import (
	"context"
	"time"
)

// DefaultMaxAnswered caps how long any call may stay answered (vobiz-api.md §8.7: 86400 s
// after answer, cause 6000, source Vobiz), whatever its document or time_limit says.
const DefaultMaxAnswered = 24 * time.Hour

// armAnsweredCap starts the cap of Options.MaxAnswered; it runs once, when the call becomes
// answered, and the timer goes with the call.
func (c *Call) armAnsweredCap() {
	limit := c.opts.MaxAnswered
	if limit == 0 {
		limit = DefaultMaxAnswered
	}
	if limit < 0 {
		return
	}
	t := time.AfterFunc(limit, func() {
		c.log.Info("the call reached the maximum call duration", "max_call_duration", limit)
		c.Hangup(CauseScheduledHangup, SourceVobiz, 0)
	})
	context.AfterFunc(c.ctx, func() { t.Stop() })
}
