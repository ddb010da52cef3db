package call

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// jitterTotals add up the jitter queues the call's received audio went through (one per
// conference room it was a member of). Only rooms have jitter queues: a call that never joined
// one keeps zeros.
type jitterTotals struct {
	framesIn, dropped, starved atomic.Uint64
}

// JitterQueueStats adds one jitter queue's counters to the call's end-of-call summary. A
// conference room calls it when the call's member leaves (conference.JitterQueueReporter).
func (o *Output) JitterQueueStats(st media.JitterStats) {
	o.c.jq.framesIn.Add(st.Pushed)
	o.c.jq.dropped.Add(st.Dropped)
	o.c.jq.starved.Add(st.Starved)
}

// summaryWait bounds how long the summary waits for a room or bridge to give the output back.
const summaryWait = 2 * time.Second

// summarize logs the end-of-call summary: at once, or, while a conference room (or a Dial
// bridge) still owns the call's output, once it gives it back. A room reports the member's
// jitter queue before it releases the output, and a call hung up by the far end ends before
// its member has left the room.
func (c *Call) summarize(out Outcome, cause Cause, source string) {
	m := c.media
	m.outMu.Lock()
	given := m.given
	if !m.taken {
		given = nil
	}
	m.outMu.Unlock()
	if given == nil {
		c.logSummary(out, cause, source)
		return
	}
	go func() {
		t := time.NewTimer(summaryWait)
		defer t.Stop()
		select {
		case <-given:
		case <-t.C:
		}
		c.logSummary(out, cause, source)
	}()
}

// logSummary writes the one line that sums up a call's media when it ends: what was sent and
// received, what the network lost and how much it jittered (RTP, from the leg), and what our
// own jitter queues dropped or ran dry on. One grep for "call ended" tells a network problem
// (loss, jitter) from ours (queue drops and starvation with a clean network).
func (c *Call) logSummary(out Outcome, cause Cause, source string) {
	st := c.rtp.Stats()
	var lossPct float64
	if expected := st.PacketsIn + st.PacketsLost; expected > 0 {
		lossPct = 100 * float64(st.PacketsLost) / float64(expected)
	}
	var talkMS int64
	if !out.Answered.IsZero() {
		talkMS = out.Ended.Sub(out.Answered).Milliseconds()
	}
	c.log.LogAttrs(context.Background(), slog.LevelInfo, "call ended",
		slog.Int("cause", cause.Code), slog.String("cause_name", cause.Name), slog.String("source", source),
		slog.String("direction", string(c.id.Direction)), slog.Bool("answered", !out.Answered.IsZero()),
		slog.Int64("duration_ms", talkMS), slog.String("codec", c.rtp.Codec().String()),
		slog.Uint64("rtp_in", st.PacketsIn), slog.Uint64("rtp_out", st.PacketsOut),
		slog.Uint64("bytes_in", st.BytesIn), slog.Uint64("bytes_out", st.BytesOut),
		slog.Uint64("rtp_lost", st.PacketsLost), slog.Float64("loss_pct", round2(lossPct)),
		slog.Float64("jitter_ms", round2(float64(st.Jitter)/float64(time.Millisecond))),
		slog.Uint64("jq_frames_in", c.jq.framesIn.Load()), slog.Uint64("jq_dropped", c.jq.dropped.Load()),
		slog.Uint64("jq_starved", c.jq.starved.Load()))
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
