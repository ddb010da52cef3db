package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

var metricNameRE = regexp.MustCompile(`\b(?:parley|process|go)_[a-z_]+[a-z]\b`)

// scrape reads /metrics through the Prometheus text parser.
func scrape(t *testing.T, p *kit.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	var parser expfmt.TextParser
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample adds up the series of family name whose labels include want (name=value pairs): the
// value of a counter or gauge, the sample count of a histogram. present says whether the
// family exists at all.
func sample(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, present bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && labels[want[i]] == want[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, true
}

// logLine returns the first JSON log line with that message whose key has that value.
func logLine(t *testing.T, logs, msg, key, value string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg && m[key] == value {
			return m
		}
	}
	t.Errorf("no %q log line with %s=%s", msg, key, value)
	return nil
}

// TestMetricsMoveDuringACall: a scrape before and after two calls that hear a <Speak>, meet in
// a conference room, get a REST request and a webhook each shows every metric family moving
// (those that only count trouble, like lost packets or skipped ticks, are there at zero here:
// memberLeft returns the "member left" log line of member id.
func memberLeft(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "member left" && fmt.Sprintf("%.0f", m["member_id"]) == id {
			return m
		}
	}
	t.Errorf("no member left log line of member %s", id)
	return nil
}

// TestMetricsMoveOnTrouble provokes them), and the end-of-call and member-exit log lines carry
// their media figures.
func TestMetricsMoveDuringACall(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak>Welcome.</Speak><Conference beep="false" stayAlone="true" callbackUrl="/events">Metrics</Conference></Response>`)
	w.OK("/events")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_LOG_FORMAT": "json"}})
	before := scrape(t, p)

	cs := newCallers(400, 700)
	for _, c := range cs {
		c.join(t, p)
	}
	members(t, p, "Metrics", cs...) // the REST request
	time.Sleep(time.Second)         // the room mixes for a while
	during := scrape(t, p)
	for _, c := range cs {
		if err := c.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
			t.Fatalf("hang up %s: %v", c.name, err)
		}
	}
	w.WaitFor(t, "/hangup", 2, 10*time.Second)
	// The dispatcher counts a delivery after the customer answered: poll for it.
	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = scrape(t, p)
		if v, _ := sample(after, "parley_webhook_deliveries_total", "outcome", "delivered"); v >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	grew := func(name string, by float64, labels ...string) {
		t.Helper()
		b, _ := sample(before, name, labels...)
		a, ok := sample(after, name, labels...)
		if !ok {
			t.Errorf("%s is missing from /metrics", name)
			return
		}
		if a-b < by {
			t.Errorf("%s%v went from %v to %v, want it to grow by at least %v", name, labels, b, a, by)
		}
	}
	there := func(name string) {
		t.Helper()
		if _, ok := sample(after, name); !ok {
			t.Errorf("%s is missing from /metrics", name)
		}
	}
	duringIs := func(name string, want float64, labels ...string) {
		t.Helper()
		if v, _ := sample(during, name, labels...); v != want {
			t.Errorf("during the call %s%v = %v, want %v", name, labels, v, want)
		}
	}

	// SIP by method and code; set-up latency.
	grew("parley_sip_requests_total", 2, "method", "INVITE")
	grew("parley_sip_requests_total", 2, "method", "BYE")
	grew("parley_sip_responses_total", 2, "method", "INVITE", "code", "200")
	grew("parley_sip_responses_total", 2, "method", "BYE", "code", "200")
	grew("parley_call_setup_seconds", 2, "direction", "inbound")
	// RTP and the jitter queues.
	grew("parley_rtp_packets_in_total", 50)
	grew("parley_rtp_packets_out_total", 50)
	there("parley_rtp_packets_lost_total")
	grew("parley_rtp_jitter_seconds", 2)
	there("parley_jitter_queue_dropped_frames_total")
	there("parley_jitter_queue_starved_total")
	// The mixer, its rooms and members.
	grew("parley_mixer_tick_seconds", 25)
	grew("parley_mixer_ticks_total", 25)
	there("parley_mixer_late_ticks_total")
	there("parley_mixer_skipped_ticks_total")
	there("parley_mixer_frames_lost_total")
	there("parley_mixer_write_errors_total")
	duringIs("parley_conference_rooms_live", 1)
	duringIs("parley_conference_members_live", 2)
	there("parley_recording_frames_dropped_total")
	// Webhooks: two ConferenceEnter/Exit pairs and two hangups, at least 4 delivered by now.
	grew("parley_webhook_deliveries_total", 4, "outcome", "delivered")
	grew("parley_webhook_delivery_seconds", 4, "outcome", "delivered")
	there("parley_webhooks_pending")
	there("parley_webhook_outbox_oldest_age_seconds")
	// REST by route template and status.
	grew("parley_http_requests_total", 1, "method", "GET", "route", "/Account/{auth_id}/Conference/{name}", "status", "200")
	grew("parley_http_request_duration_seconds", 1, "method", "GET", "route", "/Account/{auth_id}/Conference/{name}")
	// Live calls, in all and per account.
	duringIs("parley_calls_live", 2)
	duringIs("parley_account_calls_live", 2, "account", kit.AuthID)
	if v, _ := sample(after, "parley_calls_live"); v != 0 {
		t.Errorf("parley_calls_live = %v after the calls ended", v)
	}

	// The dashboard and the operations guide name only metrics that exist.
	for _, doc := range []string{"../../docs/grafana-dashboard.json", "../../docs/operations.md"} {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricNameRE.FindAllString(string(raw), -1) {
			base := strings.TrimSuffix(name, "_bucket")
			if _, ok := after[base]; !ok {
				t.Errorf("%s names %s, which /metrics does not serve", doc, name)
			}
		}
	}

	// One media summary per call and per member, with the figures filled in.
	logs := p.Logs()
	ended := 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["msg"] != "call ended" {
			continue
		}
		ended++
		for _, k := range []string{"call_uuid", "rtp_in", "rtp_out", "rtp_lost", "loss_pct", "jitter_ms", "jq_frames_in", "jq_dropped", "jq_starved"} {
			if _, ok := m[k]; !ok {
				t.Errorf("call ended line lacks %s: %v", k, m)
			}
		}
		if in, _ := m["jq_frames_in"].(float64); in < 25 {
			t.Errorf("call ended line: jq_frames_in %v, want the room's frames (>= 25)", m["jq_frames_in"])
		}
		if uuid, _ := m["call_uuid"].(string); uuid != "" {
			l := logLine(t, logs, "member left", "call_uuid", uuid)
			if l != nil && (l["conference"] != "Metrics" || l["member_id"] == nil || l["frames_mixed"].(float64) < 25) {
				t.Errorf("member left line = %v, want conference Metrics, a member_id and the frames mixed", l)
			}
		}
	}
	if ended != 2 {
		t.Errorf("%d call ended lines, want 2", ended)
	}
}

// TestMetricsMoveOnTrouble provokes, on loopback and for real, the trouble that the families
// TestMetricsMoveDuringACall only finds at zero, and checks each family moves:
//   - a caller that loses every 5th packet (sequence gaps) moves parley_rtp_packets_lost_total
//     while its call is up, and the jitter histogram when it ends;
//   - a room member that stops sending three times for 200 ms starves its jitter queue each time
//     (and the mixer counts the frames it missed); one that sends 20 frames at once overflows its
//     queue (6 frames), so frames are dropped; both are counted when the members leave;
//   - the server process stopped (SIGSTOP) for 150 ms makes the room's next tick mix the ~7 due
//     frames at once (late ticks); stopped for 500 ms it is ~25 frames behind, more than the
//     mixer's catch-up limit of 10, so the rest are skipped;
//   - a callback URL that answers 500 once is retried, one that always answers 500 is dropped
//     after webhook_max_age (2 s here: the second failure's next attempt would come too late),
//     and while it waits the outbox has depth and age.
//
// parley_recording_frames_dropped_total is provoked by TestMetricsRecordingFramesDropped (an
// MP3 encoder that stalls). Not provoked: parley_mixer_write_errors_total counts failed RTP
// writes, which on an unconnected loopback UDP socket do not fail. Both stay checked as present.
func TestMetricsMoveOnTrouble(t *testing.T) {
	w := kit.NewApp(t)
	cs := newCallers(400, 500, 600, 700, 0, 0)
	lossy, steady, pauser, burster, flaky, dead := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5]
	room := func(name, callback string) string {
		return `<Response><Conference beep="false" stayAlone="true" callbackUrl="` + callback + `">` + name + `</Conference></Response>`
	}
	// The failing callbacks have rooms of their own: a room's events are delivered in order, so
	// a notification waiting for its retry holds back the later ones of its room.
	w.DocsByFrom("/answer", map[string]string{
		"":             room("Trouble", "/events"),
		flaky.number(): room("Flaky", "/flaky"),
		dead.number():  room("Dead", "/dead"),
	})
	w.OK("/events")
	w.OK("/hangup")
	var flakyHits atomic.Int32
	w.HandleFunc("/flaky", func(rw http.ResponseWriter, _ *http.Request) {
		if flakyHits.Add(1) == 1 {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		rw.WriteHeader(http.StatusOK)
	})
	w.HandleFunc("/dead", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusInternalServerError) })
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_WEBHOOK_MAX_AGE": "2s", "PARLEY_LOG_FORMAT": "json"}})
	before := scrape(t, p)

	// grew checks that the series of family name with labels went up by at least by between
	// scrapes a and b.
	grew := func(what string, a, b map[string]*dto.MetricFamily, name string, by float64, labels ...string) {
		t.Helper()
		va, _ := sample(a, name, labels...)
		vb, ok := sample(b, name, labels...)
		if !ok {
			t.Errorf("%s: %s is missing from /metrics", what, name)
			return
		}
		if vb-va < by {
			t.Errorf("%s: %s%v went from %v to %v, want it to grow by at least %v", what, name, labels, va, vb, by)
		}
	}
	// poll scrapes until ok says the figures are there, at most for d; it returns the last scrape.
	poll := func(d time.Duration, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		deadline := time.Now().Add(d)
		for {
			fams := scrape(t, p)
			if ok(fams) || time.Now().After(deadline) {
				return fams
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Webhooks: the first attempt at the dead room's ConferenceEnter fails and waits in the outbox.
	flaky.join(t, p)
	dead.join(t, p)
	waiting := poll(3*time.Second, func(f map[string]*dto.MetricFamily) bool {
		n, _ := sample(f, "parley_webhooks_pending")
		age, _ := sample(f, "parley_webhook_outbox_oldest_age_seconds")
		return n >= 1 && age > 0
	})
	if n, _ := sample(waiting, "parley_webhooks_pending"); n < 1 {
		t.Errorf("parley_webhooks_pending = %v while a callback was failing, want at least 1", n)
	}
	if age, _ := sample(waiting, "parley_webhook_outbox_oldest_age_seconds"); age <= 0 {
		t.Errorf("parley_webhook_outbox_oldest_age_seconds = %v while a callback was failing, want > 0", age)
	}

	// RTP loss and the jitter queues, in room Trouble.
	lossy.call = kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199",
		siptest.DialOptions{From: lossy.from, Send: kit.ToneSource(lossy.tone), DropEvery: 5})
	for _, c := range []*caller{steady, pauser, burster} {
		c.join(t, p)
	}
	members(t, p, "Trouble", lossy, steady, pauser, burster)
	time.Sleep(time.Second) // every queue flows
	flowing := scrape(t, p)
	burster.call.Burst(20)
	for range 3 {
		pauser.call.PauseSending(200 * time.Millisecond)
		time.Sleep(500 * time.Millisecond)
	}
	live := scrape(t, p)
	grew("during the lossy call", before, live, "parley_rtp_packets_lost_total", 10)
	for _, c := range []*caller{pauser, burster} {
		if err := c.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
			t.Fatalf("hang up %s: %v", c.name, err)
		}
	}
	membersAs(t, p, kit.AuthID, kit.AuthToken, "Trouble", 2)
	queues := scrape(t, p)
	grew("after the pause and the burst", live, queues, "parley_jitter_queue_starved_total", 1)
	grew("after the pause and the burst", live, queues, "parley_jitter_queue_dropped_frames_total", 10)
	grew("after the pauses", flowing, queues, "parley_mixer_frames_lost_total", 20)
	// The lossy caller starves its queue too, and any member may now and then: the members'
	// own lines say the pauses and the burst did it.
	if l := memberLeft(t, p.Logs(), pauser.id); l != nil {
		if st, _ := l["jq_starved"].(float64); st < 3 {
			t.Errorf("pauser: jq_starved %v after three pauses, want at least 3: %v", l["jq_starved"], l)
		}
		if lost, _ := l["frames_lost"].(float64); lost < 24 {
			t.Errorf("pauser: frames_lost %v after 600 ms of pauses, want at least 24: %v", l["frames_lost"], l)
		}
	}
	if l := memberLeft(t, p.Logs(), burster.id); l != nil {
		if d, _ := l["jq_dropped"].(float64); d < 10 {
			t.Errorf("burster: jq_dropped %v after a burst of 20 frames, want at least 10: %v", l["jq_dropped"], l)
		}
	}

	// The mixer: the process stopped, the room behind.
	stopped := func(d time.Duration) map[string]*dto.MetricFamily {
		t.Helper()
		p.Signal(syscall.SIGSTOP)
		time.Sleep(d)
		p.Signal(syscall.SIGCONT)
		time.Sleep(200 * time.Millisecond) // the room catches up
		return scrape(t, p)
	}
	ticks := scrape(t, p)
	late := stopped(150 * time.Millisecond)
	grew("after a 150 ms stop", ticks, late, "parley_mixer_late_ticks_total", 6)
	skipped := stopped(500 * time.Millisecond)
	grew("after a 500 ms stop", late, skipped, "parley_mixer_skipped_ticks_total", 5)
	grew("after a 500 ms stop", late, skipped, "parley_mixer_late_ticks_total", 5)

	for _, c := range []*caller{lossy, steady, flaky, dead} {
		if err := c.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
			t.Fatalf("hang up %s: %v", c.name, err)
		}
	}
	// Polled rather than waited for on the hangup webhooks: the dead room's are held back
	// behind its failing ConferenceExit and may themselves run out of webhook_max_age.
	after := poll(10*time.Second, func(f map[string]*dto.MetricFamily) bool {
		retry, _ := sample(f, "parley_webhook_deliveries_total", "outcome", "retry")
		dropped, _ := sample(f, "parley_webhook_deliveries_total", "outcome", "dropped")
		jitter, _ := sample(f, "parley_rtp_jitter_seconds")
		live, _ := sample(f, "parley_calls_live")
		return retry >= 2 && dropped >= 1 && jitter >= 6 && live == 0
	})
	grew("after the calls", before, after, "parley_rtp_packets_lost_total", 10)
	grew("after the calls", before, after, "parley_rtp_jitter_seconds", 6)
	// The flaky room's first attempt and the dead room's first.
	grew("after the calls", before, after, "parley_webhook_deliveries_total", 2, "outcome", "retry")
	grew("after the calls", before, after, "parley_webhook_delivery_seconds", 2, "outcome", "retry")
	// The dead room's ConferenceEnter, at least.
	grew("after the calls", before, after, "parley_webhook_deliveries_total", 1, "outcome", "dropped")
	grew("after the calls", before, after, "parley_webhook_delivery_seconds", 1, "outcome", "dropped")
	for _, name := range []string{"parley_rtp_packets_lost_total", "parley_jitter_queue_starved_total",
		"parley_jitter_queue_dropped_frames_total", "parley_mixer_frames_lost_total", "parley_mixer_late_ticks_total",
		"parley_mixer_skipped_ticks_total", "parley_webhook_deliveries_total"} {
		v, _ := sample(after, name)
		t.Logf("%s: %v", name, v)
	}
	if flakyHits.Load() < 2 {
		t.Errorf("the flaky callback was asked %d times, want the retry too", flakyHits.Load())
	}
	for _, name := range []string{"parley_recording_frames_dropped_total", "parley_mixer_write_errors_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s is missing from /metrics", name)
		}
	}
}

// stalledLame is a stand-in for Debian's lame that reads nothing until the file named by its
// first argument exists (at most 30 s), then copies its input to the output file (lame's last
// argument), so that a recording's writer is stuck for as long as the test wants.
const stalledLame = `#!/bin/sh
gate=%q
for a; do out=$a; done
i=0
while [ ! -e "$gate" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
exec cat >"$out"
`

// TestMetricsRecordingFramesDropped: an MP3 room recording whose encoder (a fake lame found
// first on PATH) reads nothing for 9 s fills the pipe (~2 s of audio) and the recorder's queue
// (250 frames, 5 s), so the room drops the frames after that; parley_recording_frames_dropped_total
// counts them when the recording stops. The room is not harmed: its ticks do not fall behind
// and its members keep hearing each other while the writer is stuck.
func TestMetricsRecordingFramesDropped(t *testing.T) {
	bin := t.TempDir()
	gate := filepath.Join(t.TempDir(), "read")
	if err := os.WriteFile(filepath.Join(bin, "lame"), []byte(fmt.Sprintf(stalledLame, gate)), 0o755); err != nil {
		t.Fatal(err)
	}
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true">Stalled</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{
		"PATH": bin + string(os.PathListSeparator) + os.Getenv("PATH"), "PARLEY_LOG_FORMAT": "json",
	}})
	cs := newCallers(400, 700)
	a, b := cs[0], cs[1]
	for _, c := range cs {
		c.join(t, p)
	}
	members(t, p, "Stalled", a, b)
	time.Sleep(time.Second) // the room mixes
	before := scrape(t, p)

	st, body := p.REST(t, "POST", kit.AccountPath("/Conference/Stalled/Record/"), map[string]any{"file_format": "mp3"})
	if st != 200 {
		t.Fatalf("start recording: %d %v", st, body)
	}
	if u, _ := body["url"].(string); !strings.HasSuffix(u, ".mp3") {
		t.Fatalf("start recording: url %q, want an MP3 file (the fake lame on PATH)", u)
	}
	time.Sleep(9 * time.Second) // 2 s past the ~7 s the pipe and the queue hold
	// The members hear each other while the writer is stuck and frames are dropped.
	if l := kit.ToneLevels(b.call, measureWindow, 400)[400]; l < heardDBFS {
		t.Errorf("b hears a at %.1f dBFS while the recording is stuck, want above %v", l, heardDBFS)
	}
	if l := kit.ToneLevels(a.call, measureWindow, 700)[700]; l < heardDBFS {
		t.Errorf("a hears b at %.1f dBFS while the recording is stuck, want above %v", l, heardDBFS)
	}
	stuck := scrape(t, p)
	if v, _ := sample(stuck, "parley_recording_frames_dropped_total"); v != 0 {
		t.Errorf("parley_recording_frames_dropped_total = %v before the recording stopped, want 0 (counted at the stop)", v)
	}
	// Let the encoder read, so the stop does not wait for it, then stop.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	member204(t, p, "DELETE", "/Conference/Stalled/Record/")
	after := scrape(t, p)

	b0, _ := sample(before, "parley_recording_frames_dropped_total")
	dropped, ok := sample(after, "parley_recording_frames_dropped_total")
	if !ok {
		t.Fatal("parley_recording_frames_dropped_total is missing from /metrics")
	}
	// 9 s of the room is 450 frames; ~100 fit the pipe and 250 the queue.
	if dropped-b0 < 40 || dropped-b0 > 450 {
		t.Errorf("parley_recording_frames_dropped_total went from %v to %v, want about 100 more (450 frames, ~350 held)", b0, dropped)
	}
	t.Logf("recording frames dropped: %v", dropped-b0)
	if l := logLine(t, p.Logs(), "recording lost frames: the disk could not keep up", "level", "WARN"); l != nil {
		if f, _ := l["frames"].(float64); f != dropped-b0 {
			t.Errorf("the recording's log line says %v frames lost, the metric %v", l["frames"], dropped-b0)
		}
	}
	// The room kept time: a stuck writer holding up the room goroutine would put it seconds
	// behind (hundreds of late or skipped ticks); load alone gives a few.
	late := func(f map[string]*dto.MetricFamily) float64 {
		l, _ := sample(f, "parley_mixer_late_ticks_total")
		s, _ := sample(f, "parley_mixer_skipped_ticks_total")
		return l + s
	}
	t.Logf("late and skipped ticks meanwhile: %v", late(after)-late(before))
	if d := late(after) - late(before); d > 50 {
		t.Errorf("late and skipped ticks grew by %v during the stuck recording, want the room on time (<= 50)", d)
	}
	ticks0, _ := sample(before, "parley_mixer_ticks_total")
	ticks1, _ := sample(after, "parley_mixer_ticks_total")
	if ticks1-ticks0 < 400 {
		t.Errorf("parley_mixer_ticks_total grew by %v in ~9.5 s, want the room ticking (>= 400)", ticks1-ticks0)
	}
}
