package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/conference"
)

// TestJoinTokensAreOneTimeAndExpire: a token is valid until used once or until its TTL.
func TestJoinTokensAreOneTimeAndExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	tokens := newJoinTokens(10*time.Second, func() time.Time { return now })
	p := prepareRequest{MemberNode: "n2", Room: "R", Call: call.Identity{UUID: "c1", AccountID: "MA_X"}}
	a, b := tokens.issue(p), tokens.issue(p)
	if a == b || len(a) < 32 {
		t.Fatalf("tokens %q and %q: want two different random tokens", a, b)
	}
	if !tokens.valid(a) || tokens.valid("nope") || tokens.valid("") {
		t.Fatal("valid: issued token refused or unknown token accepted")
	}
	if !tokens.valid(a) {
		t.Fatal("valid used the token up")
	}
	got, ok := tokens.take(a)
	if !ok || got.MemberNode != "n2" || got.Call.UUID != "c1" || got.Room != "R" {
		t.Fatalf("take = %+v %v, want the prepared join", got, ok)
	}
	if _, ok := tokens.take(a); ok || tokens.valid(a) {
		t.Fatal("a used token is accepted again")
	}
	now = now.Add(10*time.Second + time.Millisecond)
	if tokens.valid(b) {
		t.Fatal("an expired token is valid")
	}
	if _, ok := tokens.take(b); ok {
		t.Fatal("an expired token is taken")
	}
	c := tokens.issue(p) // issuing prunes the expired ones
	tokens.mu.Lock()
	n := len(tokens.pending)
	tokens.mu.Unlock()
	if n != 1 || !tokens.valid(c) {
		t.Fatalf("%d pending tokens after expiry and a new issue, want 1", n)
	}
}

// TestJoinAttrsCarryEveryAttribute: every attribute of a JoinRequest survives the trip to the
// home. The request is filled by reflection, so a new attribute that joinAttrs forgets fails.
func TestJoinAttrsCarryEveryAttribute(t *testing.T) {
	var req conference.JoinRequest
	// Set on the home from elsewhere: the room's identity, the leg's media and callbacks.
	notAttrs := map[string]bool{"AccountID": true, "Room": true, "Call": true, "Data": true, "Media": true, "Attach": true}
	v := reflect.ValueOf(&req).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), v.Type().Field(i).Name
		if notAttrs[name] {
			continue
		}
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(7 + i))
		case reflect.String:
			f.SetString("v-" + name)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"*1", "#2"}))
		case reflect.Pointer:
			s := "p-" + name
			f.Set(reflect.ValueOf(&s))
		default:
			t.Fatalf("field %s of kind %s: teach this test (and joinAttrs) about it", name, f.Kind())
		}
	}
	body, err := json.Marshal(joinAttrsOf(req))
	if err != nil {
		t.Fatal(err)
	}
	var back joinAttrs
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	var got conference.JoinRequest
	back.apply(&got)
	gv := reflect.ValueOf(got)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if notAttrs[name] {
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), v.Field(i).Interface()) {
			t.Errorf("%s: got %v, want %v", name, gv.Field(i).Interface(), v.Field(i).Interface())
		}
	}
}

// TestResultMessageRoundTrip: how a member left reaches its node as the same Result.
func TestResultMessageRoundTrip(t *testing.T) {
	for _, r := range []conference.Result{
		{Reason: conference.Kicked, MemberID: 3, ConferenceName: "R", ConferenceUUID: "u-1"},
		{Reason: conference.Refused, ConferenceName: "R"},
		{Reason: conference.RemovedByHangupAPI, MemberID: 9, ConferenceName: "R", ConferenceUUID: "u-2",
			Recording: &conference.RecordingInfo{ID: "rec-1", Format: "mp3", ByAttribute: true}},
	} {
		body, err := json.Marshal(resultMessageOf("tok", r))
		if err != nil {
			t.Fatal(err)
		}
		var m resultMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Token != "tok" || !reflect.DeepEqual(m.result(), r) {
			t.Errorf("%+v came back as %+v (token %q)", r, m.result(), m.Token)
		}
	}
}

// roomBus is an in-memory stand-in for NATS for the tests of remote members: a registry of
// live nodes, room leases and request/reply, shared by the roomBusNodes of one test.
type roomBus struct {
	mu       sync.Mutex
	peers    map[string]cluster.Peer
	handlers map[string]map[string]cluster.Handler
	rooms    map[string]string // room key -> node id
	calls    map[string]int    // method -> requests served
	bodies   map[string][][]byte
}

func newRoomBus() *roomBus {
	return &roomBus{peers: map[string]cluster.Peer{}, handlers: map[string]map[string]cluster.Handler{},
		rooms: map[string]string{}, calls: map[string]int{}, bodies: map[string][][]byte{}}
}

func (b *roomBus) join(p cluster.Peer) *roomBusNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.peers[p.ID] = p
	b.handlers[p.ID] = map[string]cluster.Handler{}
	return &roomBusNode{bus: b, self: p}
}

// kill makes the node dead for the others, as its registry entry would expire.
func (b *roomBus) kill(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.peers, id)
}

func (b *roomBus) home(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rooms[key]
}

// prepared returns the room.prepare requests sent so far.
func (b *roomBus) prepared(t *testing.T) []prepareRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []prepareRequest
	for _, body := range b.bodies[methodRoomPrepare] {
		var p prepareRequest
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

type roomBusNode struct {
	bus  *roomBus
	self cluster.Peer
}

func (n *roomBusNode) Self() cluster.Peer { return n.self }

func (n *roomBusNode) Peers() []cluster.Peer {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	out := make([]cluster.Peer, 0, len(n.bus.peers))
	for _, p := range n.bus.peers {
		out = append(out, p)
	}
	return out
}

func (n *roomBusNode) Peer(id string) (cluster.Peer, bool) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	p, ok := n.bus.peers[id]
	return p, ok
}

func (n *roomBusNode) Handle(method string, h cluster.Handler) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	n.bus.handlers[n.self.ID][method] = h
}

func (n *roomBusNode) Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error) {
	n.bus.mu.Lock()
	_, live := n.bus.peers[nodeID]
	h := n.bus.handlers[nodeID][method]
	n.bus.calls[method]++
	n.bus.bodies[method] = append(n.bus.bodies[method], body)
	n.bus.mu.Unlock()
	if !live {
		return nil, cluster.ErrUnreachable
	}
	if h == nil {
		return nil, cluster.ErrNoHandler
	}
	out, err := h(ctx, body)
	if err != nil {
		return nil, &cluster.RemoteError{Text: err.Error()}
	}
	return out, nil
}

func (n *roomBusNode) ClaimRoom(_ context.Context, key string) (cluster.Peer, error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if _, live := n.bus.peers[n.self.ID]; !live {
		return cluster.Peer{}, errors.New("fake: this node is dead")
	}
	if p, ok := n.bus.peers[n.bus.rooms[key]]; ok {
		return p, nil
	}
	n.bus.rooms[key] = n.self.ID
	return n.self, nil
}

func (n *roomBusNode) RoomHome(_ context.Context, key string) (cluster.Peer, bool, error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	p, ok := n.bus.peers[n.bus.rooms[key]]
	return p, ok, nil
}

func (n *roomBusNode) ReleaseRoom(_ context.Context, key string) error {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.bus.rooms[key] == n.self.ID {
		delete(n.bus.rooms, key)
	}
	return nil
}

// TestNodeSourcesFollowTheLiveNodes: the SIP guard trusts the IP of every live node's SIP
// address, and only those; on a single node nothing.
func TestNodeSourcesFollowTheLiveNodes(t *testing.T) {
	var n nodeSources
	if n.trusted(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("a single node trusts a source")
	}
	bus := newRoomBus()
	node := bus.join(cluster.Peer{ID: "a", SIPAddr: "192.0.2.1:5060"})
	bus.join(cluster.Peer{ID: "b", SIPAddr: "[2001:db8::2]:5080"})
	bus.join(cluster.Peer{ID: "c", SIPAddr: "sip.example.net:5060"}) // not an address: ignored
	n.use(node.Peers)
	for src, want := range map[string]bool{"192.0.2.1": true, "::ffff:192.0.2.1": true, "2001:db8::2": true, "192.0.2.3": false} {
		if got := n.trusted(netip.MustParseAddr(src)); got != want {
			t.Errorf("trusted(%s) = %v, want %v", src, got, want)
		}
	}
	bus.kill("b")
	n.snap.Store(&nodeSourceSnap{at: time.Now().Add(-2 * nodeSourcesTTL), addrs: n.snap.Load().addrs}) // the TTL passes
	if n.trusted(netip.MustParseAddr("2001:db8::2")) {
		t.Error("a dead node is still trusted after the TTL")
	}
}
