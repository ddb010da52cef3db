package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/store/sqlite"
	"github.com/parley-voice/parley/internal/webhook"
)

// newReaperServer is a Server with what the call records and the reaper use, on st, as a node
// of the cluster (nil: a single node).
func newReaperServer(t *testing.T, st store.Store, node clusterNode) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Accounts = []config.Account{{AuthID: "MA_T", AuthToken: "token"}}
	s := &Server{cfg: cfg, store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), runner: &flow.Runner{},
		calls: call.NewRegistry(), nodes: node}
	s.dispatcher = webhook.NewDispatcher(outbox{st}, s.token, webhook.DispatcherOptions{})
	s.joined.Store(true)
	return s
}

func openMemoryStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The calls of a dead node boot are ended once, whichever survivors run the reaper and however
// often, with cause 5030 and one hangup webhook each that carries what a normal hangup webhook
// carries; B legs get no webhook; the calls of other boots and nodes stay live.
func TestReaperClosesDeadBootCalls(t *testing.T) {
	ctx := context.Background()
	st := openMemoryStore(t)
	bus := newFakeBus()
	dead := newReaperServer(t, st, bus.join("node-dead", "boot-1"))

	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	newCall := func(id call.Identity) *call.Call {
		id.AccountID, id.Created = "MA_T", start
		c := call.New(id, calltest.NewLeg(), dead.callOptions())
		t.Cleanup(func() { c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
		return c
	}
	in := newCall(call.Identity{Direction: call.Inbound, From: "14155550100", To: "14155550199", CallerName: "Alice",
		ForwardedFrom: "14155550000", CustomHeaders: map[string]string{"X-PH-Team": "blue"}})
	out := newCall(call.Identity{Direction: call.Outbound, From: "14155550199", To: "sip:bob@example.com"})
	bleg := newCall(call.Identity{Direction: call.Outbound, From: "14155550100", To: "sip:carol@example.com", ALegUUID: in.UUID()})
	dead.recordStart(in, "", "sip-1", "192.0.2.1", "http://app.test/hangup", "POST")
	dead.recordStart(out, "", "sip-2", "192.0.2.2", "http://app.test/out-hangup", "GET")
	dead.recordStart(bleg, in.UUID(), "sip-3", "", "", "")
	rec, err := st.GetCall(ctx, in.UUID())
	if err != nil || rec.NodeID != "node-dead" || rec.BootID != "boot-1" || rec.HangupURL != "http://app.test/hangup" {
		t.Fatalf("cluster record %+v, %v", rec, err)
	}
	// The far end answers the outbound call: its record learns it at once.
	out.MarkAnswered()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if rec, err := st.GetCall(ctx, out.UUID()); err == nil && rec.AnswerTime != nil {
			if !rec.AnswerTime.Equal(out.AnswerTime()) {
				t.Errorf("stored answer time %v, call's %v", rec.AnswerTime, out.AnswerTime())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the answer time never reached the record")
		}
	}
	// A call of another node stays live.
	other := newReaperServer(t, st, bus.join("node-c", "boot-9"))
	otherCall := newCall(call.Identity{Direction: call.Inbound, From: "1", To: "2"})
	other.recordStart(otherCall, "", "sip-4", "", "http://app.test/hangup", "POST")

	bus.leave("node-dead")
	survivors := []*Server{newReaperServer(t, st, bus.join("node-a", "boot-2")), newReaperServer(t, st, bus.join("node-b", "boot-3"))}
	down := cluster.Peer{ID: "node-dead", BootID: "boot-1"}
	for range 2 {
		for _, s := range survivors {
			s.onPeerDown(down)
		}
	}

	items, err := st.Due(ctx, time.Now().Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("%d hangup webhooks queued, want 2 (inbound and outbound, not the B leg): %+v", len(items), items)
	}
	byCall := map[string]store.OutboxItem{}
	for _, it := range items {
		byCall[it.Params.Get("CallUUID")] = it
	}
	for _, tt := range []struct {
		c                *call.Call
		url, method      string
		status           string
		hasForwardedFrom bool
	}{
		{in, "http://app.test/hangup", "POST", "completed", true},
		{out, "http://app.test/out-hangup", "GET", "completed", false},
	} {
		it, ok := byCall[tt.c.UUID()]
		if !ok {
			t.Errorf("no hangup webhook for %s", tt.c.UUID())
			continue
		}
		if it.URL != tt.url || it.Method != tt.method || it.AuthID != "MA_T" || it.OrderKey != tt.c.UUID() {
			t.Errorf("webhook %s to %s %s (account %s, order key %s)", tt.c.UUID(), it.Method, it.URL, it.AuthID, it.OrderKey)
		}
		// The same parameters as the hangup webhook of the call had it ended on its node
		// with this cause; only the end time is the reaper's.
		tt.c.Hangup(call.CauseNodeFailure, call.SourceError, 0)
		<-tt.c.Done()
		want := flow.HangupParams(tt.c)
		got := url.Values{}
		for k, v := range it.Params {
			got[k] = v
		}
		if got.Get("EndTime") == "" || got.Get("Duration") == "" {
			t.Errorf("%s: no EndTime or Duration", tt.c.UUID())
		}
		for _, k := range []string{"EndTime", "Duration", "BillDuration"} {
			got.Del(k)
			want.Del(k)
		}
		if got.Encode() != want.Encode() {
			t.Errorf("%s params:\n got %s\nwant %s", tt.c.UUID(), got.Encode(), want.Encode())
		}
		if got.Get("HangupCauseCode") != "5030" || got.Get("HangupCauseName") != "Node Failure" ||
			got.Get("HangupCause") != "NORMAL_TEMPORARY_FAILURE" || got.Get("HangupSource") != "Error" ||
			got.Get("CallStatus") != tt.status || (got.Get("ForwardedFrom") != "") != tt.hasForwardedFrom {
			t.Errorf("%s params %s", tt.c.UUID(), got.Encode())
		}
		rec, err := st.GetCall(ctx, tt.c.UUID())
		if err != nil || rec.EndTime == nil || rec.HangupCauseCode != 5030 || rec.CallStatus != tt.status {
			t.Errorf("record %+v, %v", rec, err)
		}
	}
	// The node taken for dead was not: when its calls end there, the survivor's record and
	// webhook stand.
	dead.finishCall(in, "http://app.test/hangup", "POST")
	if n, err := st.Pending(ctx); err != nil || n != 2 {
		t.Errorf("%d webhooks pending after the call ended on its node, %v; want still 2", n, err)
	}
	if rec, err := st.GetCall(ctx, in.UUID()); err != nil || rec.HangupCauseCode != 5030 {
		t.Errorf("record after the call ended on its node: %+v, %v", rec, err)
	}
	if rec, err := st.GetCall(ctx, bleg.UUID()); err != nil || rec.EndTime == nil || rec.CallStatus != "failed" {
		t.Errorf("B leg record %+v, %v", rec, err)
	}
	if node, err := st.LiveCallNode(ctx, otherCall.UUID()); err != nil || node != "node-c" {
		t.Errorf("another node's call: %q, %v; want it live on node-c", node, err)
	}
}

// A node that starts again closes what its earlier run left live, and nothing of its own boot.
func TestRestartedNodeClosesEarlierBoots(t *testing.T) {
	ctx := context.Background()
	st := openMemoryStore(t)
	bus := newFakeBus()
	before := newReaperServer(t, st, bus.join("node-a", "boot-1"))
	c := call.New(call.Identity{AccountID: "MA_T", Direction: call.Inbound, From: "1", To: "2"}, calltest.NewLeg(), call.Options{})
	t.Cleanup(func() { c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	before.recordStart(c, "", "sip-1", "", "http://app.test/hangup", "POST")

	after := newReaperServer(t, st, bus.join("node-a", "boot-2"))
	own := call.New(call.Identity{AccountID: "MA_T", Direction: call.Inbound, From: "1", To: "2"}, calltest.NewLeg(), call.Options{})
	t.Cleanup(func() { own.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	after.recordStart(own, "", "sip-2", "", "http://app.test/hangup", "POST")
	after.startCluster()

	if rec, err := st.GetCall(ctx, c.UUID()); err != nil || rec.EndTime == nil || rec.HangupCauseCode != 5030 {
		t.Errorf("the earlier run's call %+v, %v; want it ended with 5030", rec, err)
	}
	if node, err := st.LiveCallNode(ctx, own.UUID()); err != nil || node != "node-a" {
		t.Errorf("this run's call: %q, %v; want it live", node, err)
	}
	if n, err := st.Pending(ctx); err != nil || n != 1 {
		t.Errorf("%d webhooks pending, %v; want 1", n, err)
	}
}

// A request for a call whose live node does not answer gets 503 with Retry-After, not the
// local handler's answer; a request for a call of a node gone from the cluster is served here.
func TestForwardToUnansweringNode(t *testing.T) {
	ctx := context.Background()
	st := openMemoryStore(t)
	bus := newFakeBus()
	s := newReaperServer(t, st, bus.join("node-a", "boot-a"))
	bus.join("node-b", "boot-b") // serves no "http"
	if err := st.InsertCall(ctx, store.CallRecord{CallUUID: "on-b", AuthID: "MA_T", Direction: "inbound",
		StartTime: time.Now(), NodeID: "node-b", BootID: "boot-b"}); err != nil {
		t.Fatal(err)
	}
	local := 0
	h := s.clusterREST(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local++
		w.WriteHeader(http.StatusNotFound)
	}))
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodDelete, "/v1/Account/MA_T/Call/on-b/", nil))
		return w
	}
	if w := serve(); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(w.Body.String(), `"error"`) || local != 0 {
		t.Errorf("node-b does not answer: %d %v %s (local handler ran %d times)", w.Code, w.Header(), w.Body, local)
	}
	bus.leave("node-b")
	if w := serve(); w.Code != http.StatusNotFound || local != 1 {
		t.Errorf("node-b gone: %d (local handler ran %d times)", w.Code, local)
	}
}

// Until Start has joined the node, its REST API answers 503: a call placed then would have no
// node in its record, and no survivor could close it.
func TestRESTRefusedUntilJoined(t *testing.T) {
	s := newReaperServer(t, openMemoryStore(t), newFakeBus().join("node-a", "boot-a"))
	s.joined.Store(false)
	local := 0
	h := s.clusterREST(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { local++ }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/Account/MA_T/Call/", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || local != 0 {
		t.Errorf("before the join: %d %v (local handler ran %d times)", w.Code, w.Header(), local)
	}
	s.joined.Store(true)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/Account/MA_T/Call/", nil))
	if local != 1 {
		t.Errorf("after the join the local handler ran %d times, want 1", local)
	}
}

// A single node on its own SQLite file closes, when it starts again, the legs its killed run
// left live, with their hangup webhooks; on a PostgreSQL it may share with other unclustered
// processes it keeps and closes nothing.
func TestSingleNodeRestartClosesEarlierRun(t *testing.T) {
	ctx := context.Background()
	newSolo := func(st store.Store, boot, databaseURL string) *Server {
		s := newReaperServer(t, st, nil)
		s.cfg.NodeIDOverride, s.cfg.DatabaseURL, s.bootID = "solo", databaseURL, boot
		return s
	}
	newCall := func() *call.Call {
		c := call.New(call.Identity{AccountID: "MA_T", Direction: call.Inbound, From: "1", To: "2"}, calltest.NewLeg(), call.Options{})
		t.Cleanup(func() { c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
		return c
	}

	st := openMemoryStore(t)
	killed := newSolo(st, "boot-1", "")
	left := newCall()
	killed.recordStart(left, "", "sip-1", "", "http://app.test/hangup", "POST")
	again := newSolo(st, "boot-2", "")
	own := newCall()
	again.recordStart(own, "", "sip-2", "", "http://app.test/hangup", "POST")
	again.startCluster()
	if rec, err := st.GetCall(ctx, left.UUID()); err != nil || rec.EndTime == nil || rec.HangupCauseCode != 5030 {
		t.Errorf("the killed run's call %+v, %v; want it ended with 5030", rec, err)
	}
	if rec, err := st.GetCall(ctx, own.UUID()); err != nil || rec.EndTime != nil {
		t.Errorf("this run's call %+v, %v; want it live", rec, err)
	}
	if n, err := st.Pending(ctx); err != nil || n != 1 {
		t.Errorf("%d webhooks pending, %v; want the killed run's call's one", n, err)
	}

	shared := openMemoryStore(t)
	other := newSolo(shared, "boot-x", "postgres://db.invalid/parley")
	theirs := newCall()
	other.recordStart(theirs, "", "sip-3", "", "http://app.test/hangup", "POST")
	newSolo(shared, "boot-y", "postgres://db.invalid/parley").startCluster()
	if rec, err := shared.GetCall(ctx, theirs.UUID()); err != nil || rec.EndTime != nil || rec.NodeID != "" {
		t.Errorf("an unclustered process's call on a shared database %+v, %v; want it live and unowned", rec, err)
	}
}
