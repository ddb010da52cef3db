package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/console"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// consoleClient is a browser signed in to s's console.
type consoleClient struct {
	t    *testing.T
	base string
	cl   *http.Client
	csrf string
}

func signInConsole(t *testing.T, s *Server) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &consoleClient{t: t, base: "http://" + s.HTTPAddr().String(), cl: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	res, err := c.cl.PostForm(c.base+"/console/login", url.Values{"auth_id": {clusterAcct}, "auth_token": {"cluster-token"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb struct{ CSRF string }
	if err := json.NewDecoder(res.Body).Decode(&sb); err != nil || res.StatusCode != http.StatusOK || sb.CSRF == "" {
		t.Fatalf("console sign-in: %d, %v", res.StatusCode, err)
	}
	c.csrf = sb.CSRF
	return c
}

type consoleSnapshot struct {
	Rooms  []console.Room
	Calls  []console.Call
	Errors []string
}

func (c *consoleClient) snapshot() consoleSnapshot {
	c.t.Helper()
	res, err := c.cl.Get(c.base + "/console/api/snapshot")
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var snap consoleSnapshot
	if err := json.NewDecoder(res.Body).Decode(&snap); err != nil || res.StatusCode != http.StatusOK {
		c.t.Fatalf("console snapshot: %d, %v", res.StatusCode, err)
	}
	return snap
}

func (c *consoleClient) act(action string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+"/console/api/action", strings.NewReader(action))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// The console of a node lists the live calls and rooms of every node, and its actions on
// another node's room or call run there.
func TestClusterConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/answer" {
			io.WriteString(w, `<Response><Conference stayAlone="true">Room One</Conference></Response>`)
		}
	}))
	defer web.Close()
	bus := newFakeBus()
	servers := startClusterServers(t, ctx, "t_app_cluster_console", web.URL, "", func(id string, s *Server) clusterNode {
		n := bus.join(id, id+"-boot")
		for method, h := range s.restHandlers() {
			n.Handle(method, h)
		}
		for method, h := range s.consoleHandlers() {
			n.Handle(method, h)
		}
		return n
	})
	a, b := servers[0], servers[1]

	// Two callers on node-b in a room homed there; node-a holds nothing.
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
	if n := a.calls.Count(clusterAcct); n != 0 {
		t.Fatalf("%d calls on node-a, want none", n)
	}
	onB := b.calls.List(clusterAcct)
	if len(onB) != 2 {
		t.Fatalf("%d calls on node-b", len(onB))
	}
	callUUID, otherUUID := onB[0].UUID(), onB[1].UUID()

	// node-a's console shows node-b's calls, with node-b's view of them, and node-b's room.
	con := signInConsole(t, a)
	snap := con.snapshot()
	if len(snap.Errors) != 0 {
		t.Errorf("snapshot errors: %v", snap.Errors)
	}
	for _, c := range snap.Calls {
		if c.State != "answered" || c.Codec == "" || c.From == "" || c.Started.IsZero() {
			t.Errorf("call in node-a's console: %+v", c)
		}
	}
	if uuids := liveUUIDs(snap.Calls); !slices.Equal(uuids, []string{callUUID, otherUUID}) {
		t.Errorf("calls in node-a's console %v, want node-b's %v", uuids, []string{callUUID, otherUUID})
	}
	if len(snap.Rooms) != 1 || snap.Rooms[0].Name != "Room One" || len(snap.Rooms[0].Members) != 2 {
		t.Fatalf("rooms in node-a's console: %+v", snap.Rooms)
	}
	members := snap.Rooms[0].Members
	var memberCalls []string
	for _, m := range members {
		memberCalls = append(memberCalls, m.CallUUID)
	}
	if !slices.Contains(memberCalls, callUUID) || !slices.Contains(memberCalls, otherUUID) {
		t.Errorf("members of the room in node-a's console: %+v", members)
	}
	if bus.count(methodCallsLive) == 0 || bus.count(methodConferencesList) == 0 {
		t.Errorf("list parts asked: %d calls, %d conferences", bus.count(methodCallsLive), bus.count(methodConferencesList))
	}

	// A mute through node-a's console mutes the member in node-b's room.
	asked := bus.count(methodConsoleAction)
	mute, _ := json.Marshal(map[string]any{"do": "mute", "room": "Room One", "member": members[0].ID})
	if st, body := con.act(string(mute)); st != http.StatusOK {
		t.Fatalf("mute through node-a's console: %d %s", st, body)
	}
	room, err := b.conf.Get(ctx, clusterAcct, "Room One")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range room.Members {
		if m.Muted != (m.ID == members[0].ID) {
			t.Errorf("member %d on node-b: muted %v after muting member %d", m.ID, m.Muted, members[0].ID)
		}
	}
	if bus.count(methodConsoleAction) != asked+1 {
		t.Error("the mute did not go to node-b")
	}

	// A hang-up through node-a's console ends the call on node-b.
	hangup, _ := json.Marshal(map[string]any{"do": "hangup-call", "call": callUUID})
	if st, body := con.act(string(hangup)); st != http.StatusOK {
		t.Fatalf("hang-up through node-a's console: %d %s", st, body)
	}
	if _, live := b.calls.Get(clusterAcct, callUUID); live {
		t.Error("the call is still live on node-b after the console's hang-up")
	}
	if n := b.calls.Count(clusterAcct); n != 1 {
		t.Errorf("%d calls left on node-b, want 1", n)
	}
	if bus.count(methodConsoleAction) != asked+2 {
		t.Error("the hang-up did not go to node-b")
	}
	if uuids := liveUUIDs(con.snapshot().Calls); !slices.Equal(uuids, []string{otherUUID}) {
		t.Errorf("calls in node-a's console after the hang-up: %v", uuids)
	}

	// A call no node holds is not found, as on one node.
	gone, _ := json.Marshal(map[string]any{"do": "hangup-call", "call": "no-such-call"})
	if st, body := con.act(string(gone)); st != http.StatusNotFound {
		t.Errorf("hang-up of an unknown call: %d %s", st, body)
	}
}

func liveUUIDs(calls []console.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.UUID)
	}
	return out
}
