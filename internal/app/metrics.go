package app

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/webhook"
)

// The domain packages know nothing of Prometheus: they keep cheap counters behind Stats
// snapshots (read here at scrape time by serverCollector) and declare observer hooks for what
// needs a histogram (implemented here). This file is the only place that names a metric; the
// list with meanings is in docs/operations.md.

// A room hands the call's Output its jitter queue counters when the member leaves; the call's
// end-of-call summary depends on Output implementing the room's interface.
var _ conference.JitterQueueReporter = (*call.Output)(nil)

// metrics is the server's Prometheus registry and the instruments the observer hooks feed. It
// has its own registry (never the global default) so two Servers in one process never share a
// figure.
type metrics struct {
	reg *prometheus.Registry
	// register adds collectors to reg; in a cluster it labels every series with node_id.
	register prometheus.Registerer

	tick          prometheus.Histogram
	setup         *prometheus.HistogramVec // by direction
	jitter        prometheus.Histogram
	webhooks      *prometheus.CounterVec   // by outcome
	webhookTook   *prometheus.HistogramVec // by outcome
	restRequests  *prometheus.CounterVec   // by method, route, status
	restDurations *prometheus.HistogramVec // by method, route

	// RTP packets of calls that have ended; the live calls' figures are added at scrape time.
	ended struct{ in, out, lost atomic.Uint64 }
}

// newMetrics builds the registry; a non-empty nodeID (a clustered node) becomes the const
// label node_id of every series, so the nodes' figures stay apart once scraped together.
func newMetrics(nodeID string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.register = m.reg
	if nodeID != "" {
		m.register = prometheus.WrapRegistererWith(prometheus.Labels{"node_id": nodeID}, m.reg)
	}
	m.tick = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_mixer_tick_seconds",
		Help:    "Time one conference room tick took to mix its due frames (budget: 20 ms).",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .02, .05},
	})
	m.setup = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "parley_call_setup_seconds",
		Help:    "Time from a call's creation (INVITE received or call placed) to its answer, observed when an answered call ends.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60},
	}, []string{"direction"})
	m.jitter = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_rtp_jitter_seconds",
		Help:    "RFC 3550 interarrival jitter of a call's received audio, observed when the call ends.",
		Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .1, .2},
	})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome (delivered, retry, dropped).",
	}, []string{"outcome"})
	m.webhookTook = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "parley_webhook_delivery_seconds",
		Help:    "Duration of webhook delivery attempts by outcome.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"outcome"})
	m.restRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_http_requests_total",
		Help: "REST API requests by method, route template and status.",
	}, []string{"method", "route", "status"})
	m.restDurations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "parley_http_request_duration_seconds",
		Help:    "REST API request durations by method and route template.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route"})
	for _, o := range []string{webhook.OutcomeDelivered, webhook.OutcomeRetry, webhook.OutcomeDropped} {
		m.webhooks.WithLabelValues(o) // served at 0 before the first attempt
	}
	m.register.MustRegister(m.tick, m.setup, m.jitter, m.webhooks, m.webhookTook, m.restRequests, m.restDurations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// TickDuration implements conference.Observer (a lock-free histogram update).
func (m *metrics) TickDuration(d time.Duration) { m.tick.Observe(d.Seconds()) }

// Delivery implements webhook.DeliveryObserver.
func (m *metrics) Delivery(outcome string, took time.Duration) {
	m.webhooks.WithLabelValues(outcome).Inc()
	m.webhookTook.WithLabelValues(outcome).Observe(took.Seconds())
}

// Request implements api.RequestObserver.
func (m *metrics) Request(method, route string, status int, took time.Duration) {
	m.restRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.restDurations.WithLabelValues(method, route).Observe(took.Seconds())
}

// callEnded is the call registry's observer: the call's figures are final.
func (m *metrics) callEnded(c *call.Call) {
	st := c.MediaStats()
	m.ended.in.Add(st.PacketsIn)
	m.ended.out.Add(st.PacketsOut)
	m.ended.lost.Add(st.PacketsLost)
	if st.PacketsIn > 0 {
		m.jitter.Observe(st.Jitter.Seconds())
	}
	if at := c.AnswerTime(); !at.IsZero() {
		m.setup.WithLabelValues(string(c.Identity().Direction)).Observe(at.Sub(c.Identity().Created).Seconds())
	}
}

// serverCollector reads the domain packages' Stats snapshots at scrape time. It is an
// unchecked collector (Describe sends nothing): the series are the rows of Collect's tables,
// so adding one is one row.
type serverCollector struct {
	s *Server

	// RTP counters are the ended calls' totals plus the live calls' figures; a call that has
	// just ended is briefly in neither, so the last value sent is kept and never undercut
	// (a counter that went down would read as a reset).
	mu       sync.Mutex
	rtpFloor [3]int64
}

// Describe implements prometheus.Collector; see serverCollector.
func (c *serverCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.conf.Stats()
	live := s.calls.All()
	rtp := c.rtpTotals(live)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g := s.sipGuard.Stats()
	edge := s.sip.EdgeStats()
	pending, oldest, err := s.store.Backlog(ctx)
	if err != nil {
		s.log.Warn("metrics: reading the webhook outbox failed", "err", err)
		pending = -1
	}
	for _, m := range []struct {
		name, help, kind string
		value            int64
	}{
		{"parley_calls_live", "Live call legs.", "gauge", int64(len(live))},
		{"parley_conference_rooms_live", "Conference rooms with members.", "gauge", int64(st.RoomsLive)},
		{"parley_conference_members_live", "Members in conference rooms.", "gauge", int64(st.MembersLive)},
		{"parley_conference_events_queued", "Conference room events (callbacks among them) not yet written to the webhook outbox.", "gauge", st.EventsQueued},
		{"parley_mixer_ticks_total", "Mixer ticks run.", "counter", st.Ticks},
		{"parley_mixer_late_ticks_total", "Mixer ticks run late to catch up.", "counter", st.LateTicks},
		{"parley_mixer_skipped_ticks_total", "Mixer ticks dropped because a room fell too far behind.", "counter", st.SkippedTicks},
		{"parley_mixer_frames_lost_total", "Member frames missing when mixed (jitter queue starved).", "counter", st.FramesLost},
		{"parley_mixer_write_errors_total", "Failed RTP writes from the mixer.", "counter", st.WriteErrors},
		{"parley_recording_frames_dropped_total", "Conference recording frames dropped because the writer fell behind (counted when a recording stops).", "counter", st.RecordingFramesDropped},
		{"parley_jitter_queue_dropped_frames_total", "Frames dropped by members' jitter queues because they were full (counted when a member leaves).", "counter", st.JitterDropped},
		{"parley_jitter_queue_starved_total", "Times a member's jitter queue ran dry after audio had flowed (counted when a member leaves).", "counter", st.JitterStarved},
		{"parley_rtp_packets_in_total", "RTP packets received by call legs.", "counter", rtp[0]},
		{"parley_rtp_packets_out_total", "RTP packets sent by call legs.", "counter", rtp[1]},
		{"parley_rtp_packets_lost_total", "RTP packets the far ends' sequence numbers say never arrived.", "counter", rtp[2]},
		{"parley_webhooks_pending", "Notifications waiting in the outbox (its depth); -1 when the store could not be read.", "gauge", int64(pending)},
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
		kind := prometheus.GaugeValue
		if m.kind == "counter" {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(m.name, m.help, nil, nil), kind, float64(m.value))
	}

	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("parley_webhook_outbox_oldest_age_seconds",
		"Age of the oldest notification waiting in the outbox; 0 when it is empty.", nil, nil), prometheus.GaugeValue, age)

	byAccount := map[string]int{}
	for _, a := range s.cfg.Accounts {
		byAccount[a.AuthID] = 0 // every configured account, also at zero
	}
	for _, cl := range live {
		byAccount[cl.Identity().AccountID]++
	}
	accountCalls := prometheus.NewDesc("parley_account_calls_live", "Live call legs by account.", []string{"account"}, nil)
	for acct, n := range byAccount {
		ch <- prometheus.MustNewConstMetric(accountCalls, prometheus.GaugeValue, float64(n), acct)
	}

	sipStats := s.sip.TrafficStats()
	requests := prometheus.NewDesc("parley_sip_requests_total", "SIP requests received by method.", []string{"method"}, nil)
	for method, n := range sipStats.Requests {
		ch <- prometheus.MustNewConstMetric(requests, prometheus.CounterValue, float64(n), method)
	}
	responses := prometheus.NewDesc("parley_sip_responses_total", "SIP responses sent by request method and status code.", []string{"method", "code"}, nil)
	for k, n := range sipStats.Responses {
		ch <- prometheus.MustNewConstMetric(responses, prometheus.CounterValue, float64(n), k.Method, strconv.Itoa(k.Code))
	}
}

// rtpTotals adds the live calls' RTP figures to the ended calls' totals: packets in, out, lost.
func (c *serverCollector) rtpTotals(live []*call.Call) [3]int64 {
	m := c.s.metrics
	rtp := [3]int64{int64(m.ended.in.Load()), int64(m.ended.out.Load()), int64(m.ended.lost.Load())}
	for _, cl := range live {
		st := cl.MediaStats()
		rtp[0] += int64(st.PacketsIn)
		rtp[1] += int64(st.PacketsOut)
		rtp[2] += int64(st.PacketsLost)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range rtp {
		rtp[i] = max(rtp[i], c.rtpFloor[i])
		c.rtpFloor[i] = rtp[i]
	}
	return rtp
}

// metricsHandler serves the registry in the Prometheus text format (or OpenMetrics when asked)
// on /metrics. It needs no credentials (see docs/operations.md).
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s}})
}

// slogErrorLog hands promhttp's errors to the server's logger.
type slogErrorLog struct{ s *Server }

func (l slogErrorLog) Println(v ...any) { l.s.log.Error("metrics: scrape failed", "err", v) }
