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
	g := s.sipGuard.Stats()
	edge := s.sip.EdgeStats()
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
		{"parley_sip_requests_allowed_total", "New SIP requests the guard let through.", "counter", g.Allowed},
		{"parley_sip_dropped_rate_total", "SIP requests dropped unanswered: over the source's rate limit.", "counter", g.DroppedRate},
		{"parley_sip_dropped_scanner_total", "SIP requests dropped unanswered: scanner User-Agent.", "counter", g.DroppedScanner},
		{"parley_sip_dropped_backoff_total", "SIP requests dropped unanswered: source or username in authentication back-off.", "counter", g.DroppedBackoff},
		{"parley_sip_dropped_banned_total", "SIP requests dropped unanswered: banned source or username.", "counter", g.DroppedBanned},
		{"parley_sip_auth_failures_total", "Wrong digest credentials from untrusted sources.", "counter", g.AuthFailures},
		{"parley_sip_bans_total", "SIP bans started (source or username).", "counter", g.Bans},
		{"parley_sip_nonces_issued_total", "Digest nonces issued.", "counter", g.NoncesIssued},
		{"parley_sip_nonces_stale_total", "Expired digest nonces answered with stale=true.", "counter", g.NoncesStale},
		{"parley_sip_nonce_replays_total", "Replayed digest credentials refused.", "counter", g.NonceReplays},
		{"parley_sip_nonces_invalid_total", "Digest nonces that Parley did not issue.", "counter", g.NoncesInvalid},
		{"parley_sip_tracked_sources", "Source addresses the SIP guard remembers.", "gauge", int64(g.TrackedSources)},
		{"parley_sip_tracked_users", "Usernames the SIP guard remembers.", "gauge", int64(g.TrackedUsers)},
		{"parley_rtp_dropped_total", "Received RTP packets dropped: not RTP, or from a source the RTP source rules refused.", "counter", int64(edge.RTPDropped)},
		{"parley_sip_transactions_pending", "SIP server transactions alive (counted against sip_max_pending).", "gauge", edge.PendingTransactions},
		{"parley_sip_shed_total", "SIP requests refused because sip_max_pending was reached.", "counter", int64(edge.Shed)},
		{"parley_sip_tcp_conns", "Inbound SIP-TCP connections open.", "gauge", edge.TCPConns},
		{"parley_sip_tcp_refused_total", "Inbound SIP-TCP connections closed at once by the caps.", "counter", int64(edge.TCPRefused)},
		{"parley_sip_tracked_nonces", "Used digest nonces remembered.", "gauge", int64(g.TrackedNonces)},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value)
	}
}
