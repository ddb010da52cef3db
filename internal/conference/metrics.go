package conference

import (
	"context"
	"log/slog"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Observer receives the mixer figures that need a distribution rather than a counter (the app
// feeds them to histograms). It is called on a room goroutine, inside the mixer tick: it must be
// cheap and must never block.
type Observer interface {
	// TickDuration is how long one tick took to mix its due frames (wall time).
	TickDuration(d time.Duration)
}

// JitterQueueReporter may be implemented by a MemberMedia (call.Output does): when the member
// leaves, the room hands it the member's jitter queue counters, so the call's own end-of-call
// summary can say how many frames its queue dropped or ran dry. It must not block.
type JitterQueueReporter interface {
	JitterQueueStats(st media.JitterStats)
}

// memberFigures are one member's media figures in its room; owned by the room goroutine.
type memberFigures struct {
	mixed int64 // frames taken from the member's jitter queue into the mix
	lost  int64 // ticks the member had no frame after its audio had started to flow
}

// exitFigures logs one member's media summary as it leaves and folds its jitter queue counters
// into the manager's totals. One line per member answers "was it the network or us?": frames
// lost while the queue ran dry, frames the queue dropped because the caller sent too fast.
func (r *room) exitFigures(x *member, reason Reason) {
	q := x.input.q.Stats()
	r.m.stats.jitterDropped.Add(int64(q.Dropped))
	r.m.stats.jitterStarved.Add(int64(q.Starved))
	if rep, ok := x.out.(JitterQueueReporter); ok {
		rep.JitterQueueStats(q)
	}
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "member left",
		slog.Int64("member_id", x.id), slog.String("call_uuid", x.req.Call.CallUUID),
		slog.String("conference_uuid", r.uuid), slog.String("reason", reason.String()),
		slog.Int64("in_room_ms", r.m.clock.Now().Sub(x.joined).Milliseconds()),
		slog.Int64("frames_mixed", x.fig.mixed), slog.Int64("frames_lost", x.fig.lost),
		slog.Uint64("jq_frames_in", q.Pushed), slog.Uint64("jq_dropped", q.Dropped),
		slog.Uint64("jq_starved", q.Starved))
}
