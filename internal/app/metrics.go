package app

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// metrics serves counters in the Prometheus text format on /metrics: live calls, mixer ticks and
// their lateness, lost frames, pending webhooks. It is read by operators and by the load
// scripts.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	st := s.conf.Stats()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	pending, err := s.store.Pending(ctx)
	if err != nil {
		pending = -1
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	for _, m := range []struct {
		name, help, kind string
		value            int64
	}{
		{"parley_calls_live", "Live call legs.", "gauge", int64(s.calls.Len())},
		{"parley_conference_rooms_live", "Conference rooms with members.", "gauge", int64(st.RoomsLive)},
		{"parley_mixer_ticks_total", "Mixer ticks run.", "counter", st.Ticks},
		{"parley_mixer_late_ticks_total", "Mixer ticks run late to catch up.", "counter", st.LateTicks},
		{"parley_mixer_skipped_ticks_total", "Mixer ticks dropped because a room fell too far behind.", "counter", st.SkippedTicks},
		{"parley_mixer_frames_lost_total", "Member frames missing when mixed (jitter queue starved).", "counter", st.FramesLost},
		{"parley_mixer_write_errors_total", "Failed RTP writes from the mixer.", "counter", st.WriteErrors},
		{"parley_webhooks_pending", "Notifications waiting in the outbox.", "gauge", int64(pending)},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value)
	}
}
