package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

const clusterAcct = "MA_CLUSTER1"

// startClusterServers starts two servers, node-a and node-b, on one new PostgreSQL database,
// each joined to a cluster by join before it starts, or by Start itself (natsURL set).
func startClusterServers(t *testing.T, ctx context.Context, db, webURL, natsURL string, join func(id string, s *Server) clusterNode) [2]*Server {
	t.Helper()
	srvPG := pg.Require(t)
	dbURL, err := srvPG.CreateDatabase(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var servers [2]*Server
	for i, id := range []string{"node-a", "node-b"} {
		env := map[string]string{
			"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0",
			"PARLEY_RTP_PORTS": fmt.Sprintf("%d-%d", 19600+100*i, 19699+100*i),
			"PARLEY_DATA_DIR":  t.TempDir(), "PARLEY_DATABASE_URL": dbURL,
			"PARLEY_AUTH_ID": clusterAcct, "PARLEY_AUTH_TOKEN": "cluster-token",
			"PARLEY_ANSWER_URL": webURL + "/answer", "PARLEY_HANGUP_URL": webURL + "/hangup",
			"PARLEY_NODE_ID": id,
		}
		if natsURL != "" {
			env["PARLEY_NATS_URL"] = natsURL
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if join != nil {
			s.nodes = join(id, s)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		servers[i] = s
	}
	return servers
}

type restAnswer struct {
	status int
	header http.Header
	body   []byte
}

// rest sends one authenticated REST request to s.
func rest(t *testing.T, s *Server, method, path string, extra http.Header) restAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.HTTPAddr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(clusterAcct, "cluster-token")
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Header.Del("Date")
	return restAnswer{resp.StatusCode, resp.Header, body}
}

// sameAnswer compares two answers to one request: status, headers and JSON body, except the
// fields that differ between any two requests (api_id, a run time in seconds).
func sameAnswer(t *testing.T, what string, got, want restAnswer) {
	t.Helper()
	if got.status != want.status || !reflect.DeepEqual(got.header, want.header) {
		t.Errorf("%s: %d %v, want %d %v", what, got.status, got.header, want.status, want.header)
	}
	var g, w map[string]any
	if err := json.Unmarshal(got.body, &g); err != nil {
		t.Fatalf("%s: body %q: %v", what, got.body, err)
	}
	if err := json.Unmarshal(want.body, &w); err != nil {
		t.Fatalf("%s: body %q: %v", what, want.body, err)
	}
	for _, k := range []string{"api_id", "conference_run_time"} {
		delete(g, k)
		delete(w, k)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: body %s, want %s", what, got.body, want.body)
	}
}

// REST on any node: conference routes reach the room's home and call routes the call's node,
// and the answer is the home's; the live lists cover both nodes; what is unknown, or marked as
// forwarded already, is answered where it arrives.
func TestClusterRESTForwarding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var hangups []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			io.WriteString(w, `<Response><Conference stayAlone="true">Room One</Conference></Response>`)
		case "/hangup":
			mu.Lock()
			hangups = append(hangups, r.Form.Get("CallUUID")+" "+r.Form.Get("HangupSource"))
			mu.Unlock()
		}
	}))
	defer web.Close()
	bus := newFakeBus()
	servers := startClusterServers(t, ctx, "t_app_cluster_rest", web.URL, "", func(id string, s *Server) clusterNode {
		n := bus.join(id, id+"-boot")
		for method, h := range s.restHandlers() {
			n.Handle(method, h)
		}
		return n
	})
	a, b := servers[0], servers[1]

	// Two callers on node-b in a room homed there.
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for range 2 {
		cl, err := client.Dial(ctx, "sip:14155550199@"+b.sip.Addr().String(), siptest.DialOptions{From: "+14155550100"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-cl.Answered():
		case <-ctx.Done():
			t.Fatal("not answered")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if snap, err := b.conf.Get(ctx, clusterAcct, "Room One"); err == nil && len(snap.Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the callers never entered the room")
		}
	}
	bus.setHome(roomKey(clusterAcct, "Room One"), "node-b")
	calls := b.calls.List(clusterAcct)
	if len(calls) != 2 {
		t.Fatalf("%d calls on node-b", len(calls))
	}
	callUUID, otherUUID := calls[0].UUID(), calls[1].UUID()
	base := "/v1/Account/" + clusterAcct

	// Conference and call routes through node-a get node-b's answers.
	for _, path := range []string{
		base + "/Conference/Room%20One/",
		base + "/conference/Room%20One",
		base + "/Call/" + callUUID + "/?status=live",
		base + "/Call/" + callUUID + "/",
	} {
		forwards := bus.count(methodHTTP)
		sameAnswer(t, path, rest(t, a, http.MethodGet, path, nil), rest(t, b, http.MethodGet, path, nil))
		if bus.count(methodHTTP) != forwards+1 {
			t.Errorf("%s: not forwarded", path)
		}
	}
	if got := rest(t, a, http.MethodGet, base+"/Conference/Room%20One/", nil); got.status != http.StatusOK ||
		!strings.Contains(string(got.body), callUUID) {
		t.Errorf("room through node-a: %d %s", got.status, got.body)
	}

	// The lists cover the cluster.
	for _, s := range servers {
		var confs struct{ Conferences []string }
		if got := rest(t, s, http.MethodGet, base+"/Conference/", nil); json.Unmarshal(got.body, &confs) != nil ||
			!reflect.DeepEqual(confs.Conferences, []string{"Room One"}) {
			t.Errorf("conference list on %s: %s", s.nodes.Self().ID, got.body)
		}
		var live struct{ Calls []string }
		if got := rest(t, s, http.MethodGet, base+"/Call/?status=live", nil); json.Unmarshal(got.body, &live) != nil ||
			!reflect.DeepEqual(live.Calls, []string{callUUID, otherUUID}) {
			t.Errorf("live calls on %s: %s", s.nodes.Self().ID, got.body)
		}
	}
	if bus.count(methodCallsLive) == 0 || bus.count(methodConferencesList) == 0 {
		t.Errorf("list parts asked: %d calls, %d conferences", bus.count(methodCallsLive), bus.count(methodConferencesList))
	}

	// Answered where it arrives: an unknown call, a room with no home, a forwarded request,
	// a bad password (the home would answer the same).
	forwards := bus.count(methodHTTP)
	for _, tt := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{base + "/Call/no-such-call/?status=live", nil, http.StatusNotFound},
		{base + "/Conference/Nobody%20Here/", nil, http.StatusNotFound},
		{base + "/Conference/Room%20One/", http.Header{forwardedHeader: {"node-x"}}, http.StatusNotFound},
	} {
		if got := rest(t, a, http.MethodGet, tt.path, tt.header); got.status != tt.want {
			t.Errorf("%s on node-a: %d %s, want %d", tt.path, got.status, got.body, tt.want)
		}
	}
	if n := bus.count(methodHTTP); n != forwards {
		t.Errorf("%d requests forwarded, want none", n-forwards)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.HTTPAddr().String()+base+"/Conference/Room%20One/", nil)
	req.SetBasicAuth(clusterAcct, "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password through node-a: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A hang-up through node-a ends the call on node-b: one hangup webhook, by the API.
	if got := rest(t, a, http.MethodDelete, base+"/Call/"+callUUID+"/", nil); got.status != http.StatusNoContent {
		t.Fatalf("hang-up through node-a: %d %s", got.status, got.body)
	}
	if n := b.calls.Count(clusterAcct); n != 1 {
		t.Errorf("%d calls left on node-b after the hang-up, want 1", n)
	}

	// Hanging up every conference through node-a ends the other caller's call on node-b.
	if got := rest(t, a, http.MethodDelete, base+"/Conference/", nil); got.status != http.StatusNoContent {
		t.Fatalf("hang-up of all conferences through node-a: %d %s", got.status, got.body)
	}
	if n := b.calls.Count(clusterAcct); n != 0 {
		t.Errorf("%d calls left on node-b after hanging up all conferences", n)
	}

	// Ended: its record is read on any node, without forwarding.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := a.store.LiveCallNode(ctx, callUUID); err != nil || time.Now().After(deadline) {
			break
		}
	}
	forwards = bus.count(methodHTTP)
	if got := rest(t, a, http.MethodGet, base+"/Call/"+callUUID+"/", nil); got.status != http.StatusOK ||
		!strings.Contains(string(got.body), `"call_status":"completed"`) {
		t.Errorf("record of the ended call on node-a: %d %s", got.status, got.body)
	}
	if bus.count(methodHTTP) != forwards {
		t.Error("the record of an ended call was forwarded")
	}

	// One hangup webhook per call, by the API.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(hangups)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // room for a duplicate
	mu.Lock()
	sort.Strings(hangups)
	want := []string{callUUID + " API Request", otherUUID + " API Request"}
	sort.Strings(want)
	if !reflect.DeepEqual(hangups, want) {
		t.Errorf("hangup webhooks %q, want %q", hangups, want)
	}
	mu.Unlock()

	// The home is gone: its room's routes are answered here.
	bus.leave("node-b")
	if got := rest(t, a, http.MethodGet, base+"/Conference/Room%20One/", nil); got.status != http.StatusNotFound {
		t.Errorf("room of a dead home: %d %s", got.status, got.body)
	}
}
