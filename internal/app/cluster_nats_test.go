package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// Two nodes on real NATS and PostgreSQL: a room homed on node-b is read through node-a with
// node-b's answer and listed on both; when node-b leaves the cluster, node-a ends its call in
// the store with cause 5030 and its hangup webhook is delivered once.
func TestClusterOverNATS(t *testing.T) {
	nats := natsSrv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var hangups []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			io.WriteString(w, `<Response><Conference>Room One</Conference></Response>`)
		case "/hangup":
			mu.Lock()
			hangups = append(hangups, r.Form.Get("CallUUID")+" "+r.Form.Get("HangupCauseCode")+" "+r.Form.Get("CallStatus"))
			mu.Unlock()
		}
	}))
	defer web.Close()
	servers := startClusterServers(t, ctx, "t_app_cluster_nats", web.URL, nats.URL(), nil)
	a, b := servers[0], servers[1]
	nodes := map[string]*cluster.Node{"node-a": a.node, "node-b": b.node}
	for deadline := time.Now().Add(10 * time.Second); len(a.nodes.Peers()) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node-a sees %v", a.nodes.Peers())
		}
	}

	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cl, err := client.Dial(ctx, "sip:14155550199@"+b.sip.Addr().String(), siptest.DialOptions{From: "+14155550100"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-cl.Answered():
	case <-ctx.Done():
		t.Fatal("not answered")
	}
	for deadline := time.Now().Add(10 * time.Second); len(b.conf.List(clusterAcct)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the caller never entered the room")
		}
	}
	if home, err := nodes["node-b"].ClaimRoom(ctx, roomKey(clusterAcct, "Room One")); err != nil || home.ID != "node-b" {
		t.Fatalf("claim: %+v, %v", home, err)
	}
	callUUID := b.calls.List(clusterAcct)[0].UUID()
	base := "/v1/Account/" + clusterAcct
	for _, path := range []string{base + "/Conference/Room%20One/", base + "/Call/" + callUUID + "/?status=live"} {
		sameAnswer(t, path, rest(t, a, http.MethodGet, path, nil), rest(t, b, http.MethodGet, path, nil))
	}
	var live struct{ Calls []string }
	if got := rest(t, a, http.MethodGet, base+"/Call/?status=live", nil); json.Unmarshal(got.body, &live) != nil ||
		!reflect.DeepEqual(live.Calls, []string{callUUID}) {
		t.Errorf("live calls on node-a: %s", got.body)
	}
	var confs struct{ Conferences []string }
	if got := rest(t, a, http.MethodGet, base+"/Conference/", nil); json.Unmarshal(got.body, &confs) != nil ||
		!reflect.DeepEqual(confs.Conferences, []string{"Room One"}) {
		t.Errorf("conferences on node-a: %s", got.body)
	}

	// node-b leaves: node-a closes its call and sends the hangup webhook, once.
	if err := nodes["node-b"].Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{callUUID + " 5030 completed"}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := append([]string(nil), hangups...)
		mu.Unlock()
		if len(got) > 0 {
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("hangup webhooks %q, want %q", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no hangup webhook for the call of the node that left")
		}
	}
	// The caller hangs up on node-b, which nobody takes for alive any more: no second webhook.
	_ = cl.Hangup(ctx)
	for deadline := time.Now().Add(5 * time.Second); b.calls.Count(clusterAcct) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // room for a duplicate
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(hangups, want) {
		t.Errorf("hangup webhooks %q, want %q", hangups, want)
	}
}
