package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

const clusterTestAccount = "MA_CLUSTER1"

// clusterWeb is the application of the cluster tests: every call joins room R; after leaving
// (its action URL) it joins again. It records every request.
type clusterWeb struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []url.Values // with "path" set
}

func newClusterWeb(t *testing.T) *clusterWeb {
	w := &clusterWeb{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		v := url.Values{}
		for k, vals := range r.Form {
			v[k] = vals
		}
		v.Set("path", r.URL.Path)
		w.mu.Lock()
		w.reqs = append(w.reqs, v)
		w.mu.Unlock()
		switch r.URL.Path {
		case "/answer", "/after":
			fmt.Fprintf(rw, `<Response><Conference callbackUrl="%s/events" action="%s/after" beep="false" stayAlone="true" hangupOnStar="true">R</Conference></Response>`, w.URL, w.URL)
		}
	}))
	t.Cleanup(w.Close)
	return w
}

// find returns the requests to path whose params match all of want.
func (w *clusterWeb) find(path string, want map[string]string) []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []url.Values
	for _, v := range w.reqs {
		if v.Get("path") != path {
			continue
		}
		ok := true
		for k, val := range want {
			ok = ok && v.Get(k) == val
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// startClusterServer starts a node of a fake cluster.
func startClusterServer(t *testing.T, bus *roomBus, id string, rtpBase int, web *clusterWeb) *Server {
	t.Helper()
	srv := startClusterTestServer(t, id, rtpBase, web, nil)
	cr := newClusterRooms(srv)
	node := bus.join(cluster.Peer{ID: id, BootID: id + "-boot-1", SIPAddr: srv.sip.Addr().String()})
	for method, h := range cr.handlers() {
		node.Handle(method, h)
	}
	srv.startClusterRooms(cr, node)
	return srv
}

// startClusterTestServer starts a server of the cluster tests with the extra settings env.
func startClusterTestServer(t *testing.T, id string, rtpBase int, web *clusterWeb, extra map[string]string) *Server {
	t.Helper()
	env := map[string]string{
		"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0",
		"PARLEY_RTP_PORTS": fmt.Sprintf("%d-%d", rtpBase, rtpBase+99),
		"PARLEY_DATA_DIR":  t.TempDir(), "PARLEY_AUTH_ID": clusterTestAccount, "PARLEY_AUTH_TOKEN": "cluster-test-token",
		"PARLEY_ANSWER_URL": web.URL + "/answer",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var out io.Writer = io.Discard
	if testing.Verbose() && os.Getenv("PARLEY_TEST_LOG") != "" {
		out = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	srv, err := New(cfg, Options{Logger: log.With("node_id", id)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func loopTone(freq float64) media.Source {
	return media.Loop(func() media.Source { return media.Tone(freq, time.Second, -10) }, 0)
}

// hears tells whether c received a clear freq tone during the last window.
func hears(c *siptest.Call, freq float64, window time.Duration) bool {
	return hearsSince(c, freq, window, time.Time{})
}

// hearsSince is hears counting only what arrived after since.
func hearsSince(c *siptest.Call, freq float64, window time.Duration, since time.Time) bool {
	now := time.Now()
	from := now.Add(-window)
	if from.Before(since) {
		from = since
	}
	pcm := c.ReceivedPCM(from, now)
	return len(pcm) >= 800 && media.ToneDBFS(pcm, freq) > -30
}

// newRoomDialer returns dial, which calls the number of room R on srv from from, sending a
// tone of freq, and waits up to 10 s for the answer. The client goes at the test's end.
func newRoomDialer(ctx context.Context, t *testing.T) (dial func(srv *Server, from string, freq float64) *siptest.Call) {
	t.Helper()
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return func(srv *Server, from string, freq float64) *siptest.Call {
		t.Helper()
		c, err := client.Dial(ctx, "sip:14155550199@"+srv.sip.Addr().String(), siptest.DialOptions{From: from, Send: loopTone(freq)})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Answered():
		case <-time.After(10 * time.Second):
			t.Fatal("not answered")
		}
		return c
	}
}

// memberOf returns the member id of callUUID in room R on srv, 0 when absent.
func memberOf(srv *Server, callUUID string) int64 {
	snap, err := srv.conf.Get(context.Background(), clusterTestAccount, "R")
	if err != nil {
		return 0
	}
	for _, m := range snap.Members {
		if m.Call.CallUUID == callUUID {
			return m.ID
		}
	}
	return 0
}

// liveCallUUID is the only live call of srv.
func liveCallUUID(t *testing.T, srv *Server) string {
	t.Helper()
	var id string
	waitFor(t, "a live call", func() bool {
		calls := srv.calls.List(clusterTestAccount)
		if len(calls) == 1 {
			id = calls[0].UUID()
		}
		return id != ""
	})
	return id
}

// TestRemoteMembersAcrossNodes runs three nodes on one fake bus: callers on the room's home
// and on two other nodes hear each other through internal legs; a kick on the home and * on
// the member's own phone end the remote membership, whose document goes on on its own node
// with the room's result; when the home dies the two others hear each other again within 5 s.
func TestRemoteMembersAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes with SIP calls")
	}
	web := newClusterWeb(t)
	bus := newRoomBus()
	n1 := startClusterServer(t, bus, "n1", 21000, web)
	n2 := startClusterServer(t, bus, "n2", 21100, web)
	n3 := startClusterServer(t, bus, "n3", 21200, web)
	key := clusterRoomKey(clusterTestAccount, "R")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dial := newRoomDialer(ctx, t)

	// A on n1 makes n1 the home.
	a := dial(n1, "+14155550001", 440)
	aUUID := liveCallUUID(t, n1)
	waitFor(t, "A in the room on n1", func() bool { return memberOf(n1, aUUID) != 0 })
	if h := bus.home(key); h != "n1" {
		t.Fatalf("room home %q, want n1 (the first caller's node)", h)
	}

	// B on n2 joins n1's room through an internal leg.
	b := dial(n2, "+14155550002", 1000)
	bUUID := liveCallUUID(t, n2)
	waitFor(t, "B in the room on n1", func() bool { return memberOf(n1, bUUID) != 0 })
	if rooms := n2.conf.List(clusterTestAccount); len(rooms) != 0 {
		t.Fatalf("n2 holds rooms %v of its own: B must join n1's", rooms)
	}
	waitFor(t, "A and B hearing each other", func() bool {
		return hears(b, 440, 400*time.Millisecond) && hears(a, 1000, 400*time.Millisecond)
	})
	if hears(b, 1000, 400*time.Millisecond) {
		t.Error("B hears itself")
	}
	snap, err := n1.conf.Get(ctx, clusterTestAccount, "R")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's node to know B's room instance", func() bool { return n2.lastRooms.get(bUUID) == snap.UUID })
	enter := web.find("/events", map[string]string{"Event": "ConferenceEnter", "CallUUID": bUUID})
	if len(enter) != 1 || enter[0].Get("From") != "14155550002" || enter[0].Get("Direction") != "inbound" || enter[0].Get("CallStatus") != "in-progress" {
		t.Fatalf("B's enter callbacks %v: want one carrying B's own call", enter)
	}

	// A kick on the home: B's document goes on on n2 with the room's result.
	bMember := memberOf(n1, bUUID)
	if err := n1.conf.Kick(ctx, clusterTestAccount, "R", conference.IDs(bMember)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's action URL after the kick", func() bool { return len(web.find("/after", map[string]string{"CallUUID": bUUID})) == 1 })
	after := web.find("/after", map[string]string{"CallUUID": bUUID})[0]
	if after.Get("ConferenceName") != "R" || after.Get("ConferenceMemberID") != fmt.Sprint(bMember) || after.Get("ConferenceUUID") == "" {
		t.Fatalf("B's action request %v: want room R, member %d", after, bMember)
	}
	if got := len(web.find("/events", map[string]string{"Event": "ConferenceExit", "CallUUID": bUUID})); got != 1 {
		t.Fatalf("%d exit callbacks for B after the kick, want 1", got)
	}

	// The action document joins again; * on B's phone (hangupOnStar) reaches the home.
	waitFor(t, "B back in the room", func() bool { m := memberOf(n1, bUUID); return m != 0 && m != bMember })
	time.Sleep(300 * time.Millisecond)
	if err := b.SendDTMF("*", siptest.DTMFOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's action URL after *", func() bool { return len(web.find("/after", map[string]string{"CallUUID": bUUID})) == 2 })
	waitFor(t, "B back in the room again", func() bool { return memberOf(n1, bUUID) != 0 })

	// C on n3: three members, all on n1.
	c := dial(n3, "+14155550003", 1800)
	cUUID := liveCallUUID(t, n3)
	waitFor(t, "C in the room on n1", func() bool { return memberOf(n1, cUUID) != 0 })
	waitFor(t, "B and C hearing each other", func() bool {
		return hears(b, 1800, 400*time.Millisecond) && hears(c, 1000, 400*time.Millisecond)
	})

	// The home dies: its lease goes with its registry entry, its SIP and RTP stop.
	killed := time.Now()
	bus.kill("n1")
	n1.Close()
	waitFor(t, "B and C hearing each other on the new home", func() bool {
		return hearsSince(b, 1800, 300*time.Millisecond, killed.Add(100*time.Millisecond)) &&
			hearsSince(c, 1000, 300*time.Millisecond, killed.Add(100*time.Millisecond))
	})
	took := time.Since(killed)
	t.Logf("B and C hear each other again %v after the home died", took)
	if took > 5*time.Second {
		t.Errorf("B and C heard each other again %v after the home died, want within 5 s", took)
	}
	if h := bus.home(key); h != "n2" && h != "n3" {
		t.Fatalf("room home %q after n1 died, want n2 or n3", h)
	}
	if hears(b, 440, 300*time.Millisecond) {
		t.Error("B still hears A, whose node is dead")
	}
	if n := len(web.find("/after", map[string]string{"CallUUID": bUUID})); n != 2 {
		t.Errorf("B's document ran its action %d times, want 2: moving to a new home is not leaving", n)
	}
	// Every join asked for the document's sounds (beep="false", no enterSound: the room
	// decides), the re-join after the home died for none.
	prepared := bus.prepared(t)
	for i, p := range prepared {
		last := i == len(prepared)-1
		if quiet := p.Attrs.EnterSound != nil && *p.Attrs.EnterSound == ""; quiet != last {
			t.Errorf("room.prepare %d of %d: enter sound %v beep %v, want quiet only for the re-join", i+1, len(prepared), p.Attrs.EnterSound, p.Attrs.Beep)
		}
	}

	// REST "hang up member" on the new home ends the remote member's call on its own node.
	home, remote, remoteUUID, remoteNode := n2, c, cUUID, n3
	if bus.home(key) == "n3" {
		home, remote, remoteUUID, remoteNode = n3, b, bUUID, n2
	}
	m := memberOf(home, remoteUUID)
	if m == 0 {
		t.Fatal("the remote member is not in the new home's room")
	}
	rest := conferenceAPI{m: home.conf, awaitEnded: home.awaitEnded}
	if err := rest.HangupMembers(ctx, clusterTestAccount, "R", api.MemberSelector{IDs: []int64{m}}); err != nil {
		t.Fatal(err)
	}
	if legs := home.rooms.memberLegs(remoteUUID); len(legs) != 0 {
		t.Error("the hang-up answered while the remote member's internal leg was still up")
	}
	select {
	case <-remote.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the remote member's call was not hung up")
	}
	waitFor(t, "the remote member's call to end on its node", func() bool { return remoteNode.calls.Len() == 0 })
	_ = a
}

// TestJoinLegWithoutValidTokenIsRefused: an INVITE with X-Parley-Join needs a token that the
// node issued; without one it is refused 403 and never reaches an application.
func TestJoinLegWithoutValidTokenIsRefused(t *testing.T) {
	web := newClusterWeb(t)
	bus := newRoomBus()
	n1 := startClusterServer(t, bus, "n1", 21300, web)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := client.Dial(ctx, "sip:conference@"+n1.sip.Addr().String(), siptest.DialOptions{Headers: map[string]string{"X-Parley-Join": strings.Repeat("ab", 16)}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Settled():
	case <-ctx.Done():
		t.Fatal("no final answer")
	}
	if st := c.FinalStatus(); st != 403 {
		t.Fatalf("status %d, want 403", st)
	}
	if got := web.find("/answer", nil); len(got) != 0 {
		t.Fatalf("the application was asked %d times", len(got))
	}
}

// TestSilentHomeIsLeftForANewHome: the room's home dies without a BYE (kill -9: its RTP just
// stops). The member's node notices the silence, sees the home gone from the registry, claims
// the room itself and joins it locally, without running the member's action URL. Before that,
// audio is relayed both ways between the call and the internal leg.
func TestSilentHomeIsLeftForANewHome(t *testing.T) {
	web := newClusterWeb(t)
	bus := newRoomBus()
	n2 := startClusterServer(t, bus, "n2", 21400, web)
	key := clusterRoomKey(clusterTestAccount, "R")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A fake home: a phone that answers the internal leg, and a room.prepare that says yes.
	homePhone, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer homePhone.Close()
	contact, err := homePhone.Listen(siptest.ListenOptions{Codec: media.PCMU, Send: loopTone(600)})
	if err != nil {
		t.Fatal(err)
	}
	_, hostPort, _ := strings.Cut(contact, "@")
	home := bus.join(cluster.Peer{ID: "h", BootID: "h-boot-1", SIPAddr: hostPort})
	home.Handle(methodRoomPrepare, func(context.Context, []byte) ([]byte, error) {
		return []byte(`{"token":"fake-token"}`), nil
	})
	if _, err := home.ClaimRoom(ctx, key); err != nil {
		t.Fatal(err)
	}

	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	p, err := client.Dial(ctx, "sip:14155550199@"+n2.sip.Addr().String(), siptest.DialOptions{From: "+14155550002", Send: loopTone(1000)})
	if err != nil {
		t.Fatal(err)
	}
	pUUID := liveCallUUID(t, n2)
	leg, err := homePhone.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prepared := bus.prepared(t)[0]
	if prepared.Call.UUID != pUUID || prepared.Room != "R" || prepared.MemberNode != "n2" || !prepared.Attrs.HangupOnStar || !prepared.Attrs.StayAlone {
		t.Fatalf("room.prepare got %+v: want the call, room and attributes of P", prepared)
	}
	waitFor(t, "P and the home hearing each other through the internal leg", func() bool {
		return hears(p, 600, 400*time.Millisecond) && hears(leg, 1000, 400*time.Millisecond)
	})

	killed := time.Now()
	bus.kill("h")
	leg.PauseSending(time.Minute)
	waitFor(t, "P in a room of its own node", func() bool { return memberOf(n2, pUUID) != 0 })
	took := time.Since(killed)
	t.Logf("re-joined %v after the home went silent", took)
	if took > 5*time.Second {
		t.Errorf("re-joined %v after the home went silent, want within 5 s", took)
	}
	if h := bus.home(key); h != "n2" {
		t.Errorf("room home %q, want n2", h)
	}
	select {
	case <-leg.Ended():
	case <-time.After(5 * time.Second):
		t.Error("the internal leg to the dead home was not hung up")
	}
	if got := web.find("/after", nil); len(got) != 0 {
		t.Errorf("P's action URL ran %d times: moving to a new home is not leaving", len(got))
	}
	if ended := n2.calls.List(clusterTestAccount); len(ended) != 1 {
		t.Errorf("%d live calls on n2, want P alone", len(ended))
	}
	_ = p
}

// TestLostRoomMovesItsMembers: when another node takes the lease of a room homed here (this
// node was thought dead), the room's members here, local calls and internal legs alike, move
// to the new home without leaving (no action URL).
func TestLostRoomMovesItsMembers(t *testing.T) {
	web := newClusterWeb(t)
	bus := newRoomBus()
	n1 := startClusterServer(t, bus, "n1", 21800, web)
	n2 := startClusterServer(t, bus, "n2", 21900, web)
	key := clusterRoomKey(clusterTestAccount, "R")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	a, err := client.Dial(ctx, "sip:14155550199@"+n1.sip.Addr().String(), siptest.DialOptions{From: "+14155550001", Send: loopTone(440)})
	if err != nil {
		t.Fatal(err)
	}
	aUUID := liveCallUUID(t, n1)
	waitFor(t, "A in the room on n1", func() bool { return memberOf(n1, aUUID) != 0 })
	b, err := client.Dial(ctx, "sip:14155550199@"+n2.sip.Addr().String(), siptest.DialOptions{From: "+14155550002", Send: loopTone(1000)})
	if err != nil {
		t.Fatal(err)
	}
	bUUID := liveCallUUID(t, n2)
	waitFor(t, "B in the room on n1", func() bool { return memberOf(n1, bUUID) != 0 })

	// n2 takes the lease; n1 learns it has lost the room.
	bus.mu.Lock()
	bus.rooms[key] = "n2"
	bus.mu.Unlock()
	moved := time.Now()
	n1.rooms.roomLost(key)
	waitFor(t, "A and B in the room on n2", func() bool { return memberOf(n2, aUUID) != 0 && memberOf(n2, bUUID) != 0 })
	waitFor(t, "n1's copy of the room to end", func() bool { return len(n1.conf.List(clusterTestAccount)) == 0 })
	waitFor(t, "A and B hearing each other on n2", func() bool {
		return hearsSince(a, 1000, 300*time.Millisecond, moved.Add(100*time.Millisecond)) &&
			hearsSince(b, 440, 300*time.Millisecond, moved.Add(100*time.Millisecond))
	})
	if got := web.find("/after", nil); len(got) != 0 {
		t.Errorf("action URL requested %d times: moving is not leaving", len(got))
	}
}
