package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/natstest"
)

var natsSrv *natstest.Server

func TestMain(m *testing.M) { os.Exit(natstest.Main(m, &natsSrv)) }

const (
	testBeat    = 100 * time.Millisecond
	testTimeout = 500 * time.Millisecond
)

// downLog records the PeerDown and RoomLost calls a node gets.
type downLog struct {
	mu       sync.Mutex
	downs    []Peer
	lost     []string
	expelled int
}

func (d *downLog) expel() { d.mu.Lock(); d.expelled++; d.mu.Unlock() }

func (d *downLog) expels() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expelled
}

func (d *downLog) peerDown(p Peer) { d.mu.Lock(); d.downs = append(d.downs, p); d.mu.Unlock() }
func (d *downLog) roomLost(k string) {
	d.mu.Lock()
	d.lost = append(d.lost, k)
	d.mu.Unlock()
}

// downsOf counts the PeerDown calls for the boot.
func (d *downLog) downsOf(boot string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := 0
	for _, p := range d.downs {
		if p.BootID == boot {
			c++
		}
	}
	return c
}

func (d *downLog) lostKeys() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.lost...)
}

type testNode struct {
	*Node
	events *downLog
}

// join starts a node named after the test (tests share one server, so IDs and room keys are
// kept apart by the test's name).
func join(t *testing.T, name string) testNode { t.Helper(); return joinWith(t, name, nil) }

// joinWith is join with options changed by edit.
func joinWith(t *testing.T, name string, edit func(*Options)) testNode {
	t.Helper()
	d := &downLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o := Options{
		URL:               natsSrv.Require(t).URL(),
		NodeID:            nodeID(t, name),
		SIPAddr:           "127.0.0.1:5060",
		HTTPAddr:          "127.0.0.1:8080",
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node_id", nodeID(t, name)),
		HeartbeatInterval: testBeat,
		PeerTimeout:       testTimeout,
		PeerDown:          d.peerDown,
		RoomLost:          d.roomLost,
		Expelled:          d.expel,
	}
	if edit != nil {
		edit(&o)
	}
	n, err := Join(ctx, o)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return testNode{n, d}
}

func nodeID(t *testing.T, name string) string {
	return strings.ReplaceAll(t.Name(), "/", "_") + "." + name
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ids(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// mine keeps the peers of this test (other tests' nodes may still be in the registry).
func mine(t *testing.T, ps []Peer) []string {
	var out []string
	for _, id := range ids(ps) {
		if strings.HasPrefix(id, nodeID(t, "")) {
			out = append(out, strings.TrimPrefix(id, nodeID(t, "")))
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRegistry(t *testing.T) {
	a := join(t, "a")
	b := join(t, "b")
	// Join has read the registry: b lists a at once.
	if got := fmt.Sprint(mine(t, b.Peers())); got != "[a b]" {
		t.Fatalf("b's peers right after join = %s, want [a b]", got)
	}
	waitFor(t, time.Second, "a sees b", func() bool { return fmt.Sprint(mine(t, a.Peers())) == "[a b]" })
	p, ok := a.Peer(b.Self().ID)
	if !ok || p != b.Self() {
		t.Fatalf("a.Peer(b) = %+v %v, want %+v", p, ok, b.Self())
	}
	if b.Self().BootID == "" || b.Self().BootID == a.Self().BootID {
		t.Fatalf("boot ids %q %q", a.Self().BootID, b.Self().BootID)
	}
	if _, ok := a.Peer(nodeID(t, "nobody")); ok {
		t.Fatal("a.Peer(nobody) found")
	}
	// A heartbeat keeps b live well past the peer timeout.
	time.Sleep(3 * testTimeout)
	if got := fmt.Sprint(mine(t, a.Peers())); got != "[a b]" {
		t.Fatalf("a's peers after %v = %s", 3*testTimeout, got)
	}
	if a.events.downsOf(b.Self().BootID) != 0 {
		t.Fatal("PeerDown for a live node")
	}
	// Leaving: gone from the list at once, reported once.
	bBoot := b.Self().BootID
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, testTimeout/2, "a drops b after its Close", func() bool { return fmt.Sprint(mine(t, a.Peers())) == "[a]" })
	waitFor(t, time.Second, "PeerDown for b", func() bool { return a.events.downsOf(bBoot) == 1 })
}

func TestPeerDownAfterKill(t *testing.T) {
	a, b, c := join(t, "a"), join(t, "b"), join(t, "c")
	waitFor(t, time.Second, "all see all", func() bool {
		return fmt.Sprint(mine(t, a.Peers())) == "[a b c]" && fmt.Sprint(mine(t, b.Peers())) == "[a b c]"
	})
	cPeer := c.Self()
	killed := time.Now()
	c.kill()
	waitFor(t, 3*testTimeout, "a and b report c down", func() bool {
		return a.events.downsOf(cPeer.BootID) == 1 && b.events.downsOf(cPeer.BootID) == 1
	})
	if took := time.Since(killed); took < testTimeout {
		t.Errorf("c reported down %v after the kill, before the peer timeout %v", took, testTimeout)
	}
	if fmt.Sprint(mine(t, a.Peers())) != "[a b]" || fmt.Sprint(mine(t, b.Peers())) != "[a b]" {
		t.Fatalf("peers after c's death: a %v b %v", mine(t, a.Peers()), mine(t, b.Peers()))
	}
	// Once per boot: not again later.
	time.Sleep(2 * testTimeout)
	if a.events.downsOf(cPeer.BootID) != 1 || b.events.downsOf(cPeer.BootID) != 1 {
		t.Fatalf("PeerDown counts for c: a %d b %d, want 1 each", a.events.downsOf(cPeer.BootID), b.events.downsOf(cPeer.BootID))
	}
	a.events.mu.Lock()
	got := a.events.downs[0]
	a.events.mu.Unlock()
	if got != cPeer {
		t.Fatalf("PeerDown got %+v, want %+v", got, cPeer)
	}
}

func TestRestartReportsTheOldBoot(t *testing.T) {
	a := join(t, "a")
	b := join(t, "b")
	waitFor(t, time.Second, "a sees b", func() bool { return fmt.Sprint(mine(t, a.Peers())) == "[a b]" })
	old := b.Self()
	b.kill()
	start := time.Now()
	b2 := join(t, "b") // same ID, new boot, before the old one timed out
	waitFor(t, time.Second, "PeerDown for b's old boot", func() bool { return a.events.downsOf(old.BootID) == 1 })
	if took := time.Since(start); took >= testTimeout {
		t.Errorf("the old boot was reported after %v: by the timeout, not by the new boot", took)
	}
	waitFor(t, time.Second, "a lists b's new boot", func() bool {
		p, ok := a.Peer(old.ID)
		return ok && p.BootID == b2.Self().BootID
	})
	if a.events.downsOf(b2.Self().BootID) != 0 {
		t.Fatal("PeerDown for the new boot")
	}
}

func TestCloseOfAnOldBootSparesTheNewOne(t *testing.T) {
	a := join(t, "a")
	b1 := join(t, "b")
	b1.paused.Store(true) // stalled: writes nothing from now on
	b2 := join(t, "b")    // its replacement, before b1 has closed
	waitFor(t, time.Second, "a lists b's new boot", func() bool {
		p, ok := a.Peer(b2.Self().ID)
		return ok && p.BootID == b2.Self().BootID
	})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * testBeat)
	if p, ok := a.Peer(b2.Self().ID); !ok || p.BootID != b2.Self().BootID {
		t.Fatalf("after the old boot's Close, a sees b as %+v %v", p, ok)
	}
	if b2.events.expels() != 0 || a.events.downsOf(b2.Self().BootID) != 0 {
		t.Fatal("the old boot's Close removed the new boot")
	}
}

func TestJoinHidesAStaleEntry(t *testing.T) {
	a := join(t, "a")
	aBoot := a.Self().BootID
	a.kill() // leaves its entry behind; no survivor clears it
	time.Sleep(testTimeout + testBeat)
	b := join(t, "b")
	if got := fmt.Sprint(mine(t, b.Peers())); got != "[b]" {
		t.Fatalf("b's peers at join with a's stale entry = %s, want [b]", got)
	}
	waitFor(t, 3*testTimeout, "b reports a's stale boot down", func() bool { return b.events.downsOf(aBoot) == 1 })
}

func TestClaimRoomRace(t *testing.T) {
	nodes := []testNode{join(t, "a"), join(t, "b"), join(t, "c")}
	key := RoomKey("acct", t.Name())
	for round := range 5 {
		key := fmt.Sprintf("%s.%d", key, round)
		var wg sync.WaitGroup
		got := make([]Peer, len(nodes))
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = n.ClaimRoom(ctxT(t), key)
			}()
		}
		wg.Wait()
		winners := 0
		for i, n := range nodes {
			if errs[i] != nil {
				t.Fatalf("round %d: %s: %v", round, n.Self().ID, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("round %d: homes differ: %+v vs %+v", round, got[i], got[0])
			}
			if got[i] == n.Self() {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners", round, winners)
		}
		for _, n := range nodes {
			home, ok, err := n.RoomHome(ctxT(t), key)
			if err != nil || !ok || home != got[0] {
				t.Fatalf("round %d: %s RoomHome = %+v %v %v, want %+v", round, n.Self().ID, home, ok, err, got[0])
			}
		}
	}
}

func TestRoomReclaimedAfterHomeDies(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	key := RoomKey("acct", "room with spaces, dots. * > and ünïcode")
	if home, err := a.ClaimRoom(ctxT(t), key); err != nil || home != a.Self() {
		t.Fatalf("a claims: %+v %v", home, err)
	}
	if home, err := b.ClaimRoom(ctxT(t), key); err != nil || home != a.Self() {
		t.Fatalf("b claims a live home's room: %+v %v, want a", home, err)
	}
	// The lease outlives many renewals.
	time.Sleep(3 * testTimeout)
	if home, ok, err := b.RoomHome(ctxT(t), key); err != nil || !ok || home != a.Self() {
		t.Fatalf("b RoomHome while a lives = %+v %v %v", home, ok, err)
	}
	aBoot := a.Self().BootID
	a.kill()
	waitFor(t, 3*testTimeout, "b reports a down", func() bool { return b.events.downsOf(aBoot) == 1 })
	if home, ok, err := b.RoomHome(ctxT(t), key); err != nil || ok {
		t.Fatalf("RoomHome of a dead home's room = %+v %v %v, want none", home, ok, err)
	}
	if home, err := b.ClaimRoom(ctxT(t), key); err != nil || home != b.Self() {
		t.Fatalf("b re-claims: %+v %v, want b", home, err)
	}
	// A restarted a (new boot) finds b home.
	a2 := join(t, "a")
	if home, ok, err := a2.RoomHome(ctxT(t), key); err != nil || !ok || home != b.Self() {
		t.Fatalf("restarted a: RoomHome = %+v %v %v, want b", home, ok, err)
	}
}

func TestRoomLostAfterAPause(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	key := RoomKey("acct", t.Name())
	if home, err := a.ClaimRoom(ctxT(t), key); err != nil || home != a.Self() {
		t.Fatalf("a claims: %+v %v", home, err)
	}
	a.paused.Store(true) // a stops heartbeating and renewing, as if the process were stopped
	waitFor(t, 3*testTimeout, "b reports a down", func() bool { return b.events.downsOf(a.Self().BootID) == 1 })
	if home, err := b.ClaimRoom(ctxT(t), key); err != nil || home != b.Self() {
		t.Fatalf("b takes over: %+v %v", home, err)
	}
	a.paused.Store(false)
	waitFor(t, 5*testBeat, "a learns it lost the room", func() bool { return fmt.Sprint(a.events.lostKeys()) == "["+key+"]" })
	if home, ok, err := a.RoomHome(ctxT(t), key); err != nil || !ok || home != b.Self() {
		t.Fatalf("a's RoomHome after the loss = %+v %v %v, want b", home, ok, err)
	}
	// b keeps it: a's old lease does not come back.
	time.Sleep(3 * testBeat)
	if home, ok, err := b.RoomHome(ctxT(t), key); err != nil || !ok || home != b.Self() {
		t.Fatalf("b's RoomHome = %+v %v %v, want b", home, ok, err)
	}
	if len(b.events.lostKeys()) != 0 {
		t.Fatalf("b lost %v", b.events.lostKeys())
	}
	// a's heartbeats after the pause are those of a boot declared dead: b clears its entry,
	// which tells a it was expelled; nobody lists it again, not even a node that joins now.
	waitFor(t, 5*testBeat, "a is told it was expelled", func() bool { return a.events.expels() == 1 })
	if _, err := a.ClaimRoom(ctxT(t), RoomKey("acct", t.Name()+"2")); !errors.Is(err, ErrExpelled) {
		t.Fatalf("an expelled node's ClaimRoom = %v, want ErrExpelled", err)
	}
	c := join(t, "c")
	time.Sleep(2 * testBeat)
	if got := fmt.Sprint(mine(t, b.Peers())) + fmt.Sprint(mine(t, c.Peers())); got != "[b c][b c]" {
		t.Fatalf("peers of b and c after a's expulsion: %s", got)
	}
	if n := b.events.downsOf(a.Self().BootID); n != 1 {
		t.Fatalf("b reported a down %d times", n)
	}
}

func TestBlindNodeJudgesNobody(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	waitFor(t, time.Second, "a sees b", func() bool { return fmt.Sprint(mine(t, a.Peers())) == "[a b]" })
	a.paused.Store(true) // only this test runs a's check, at the times it chooses
	// Seen from a moment when a has heard nothing for twice the peer timeout, its own
	// heartbeats included (NATS unreachable, or the process stalled): b's silence proves
	// nothing, so b is not declared down.
	later := time.Now().Add(2 * testTimeout)
	a.checkPeers(later)
	if fmt.Sprint(mine(t, a.Peers())) != "[a b]" {
		t.Fatalf("a blind node dropped b: %v", mine(t, a.Peers()))
	}
	// Its own heartbeats come back: everyone gets a fresh timeout from then, so the updates
	// of the blind time can still arrive.
	a.mu.Lock()
	a.selfSeen = later
	a.mu.Unlock()
	a.checkPeers(later.Add(testBeat))
	a.checkPeers(later.Add(testTimeout / 2))
	if n := a.events.downsOf(b.Self().BootID); n != 0 || fmt.Sprint(mine(t, a.Peers())) != "[a b]" {
		t.Fatalf("after the blind time: b declared down %d times, a lists %v", n, mine(t, a.Peers()))
	}
	// And the rule still works once the view is fresh: silence past the timeout is death.
	a.mu.Lock()
	a.selfSeen = later.Add(2 * testTimeout)
	a.mu.Unlock()
	a.checkPeers(later.Add(2 * testTimeout))
	if fmt.Sprint(mine(t, a.Peers())) != "[a]" {
		t.Fatalf("b silent past the timeout in a fresh view: a lists %v", mine(t, a.Peers()))
	}
	waitFor(t, time.Second, "PeerDown for b", func() bool { return a.events.downsOf(b.Self().BootID) == 1 })
}

func TestManyLeasesStayRenewed(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	var keys []string
	for i := range 200 {
		key := RoomKey("acct", fmt.Sprintf("%s-%d", t.Name(), i))
		if home, err := a.ClaimRoom(ctxT(t), key); err != nil || home != a.Self() {
			t.Fatalf("claim %d: %+v %v", i, home, err)
		}
		keys = append(keys, key)
	}
	time.Sleep(3 * testTimeout)
	// Each renewal moved the entry's revision on: a renewed them all, and b sees a as home.
	for i, key := range keys {
		home, ok, err := b.RoomHome(ctxT(t), key)
		if err != nil || !ok || home != a.Self() {
			t.Fatalf("room %d: home %+v %v %v", i, home, ok, err)
		}
		a.leaseMu.Lock() // no renewal between the read and the comparison
		e, err := a.rooms.Get(ctxT(t), key)
		held := a.leases[key]
		a.leaseMu.Unlock()
		if err != nil || e.Revision() != held {
			t.Fatalf("room %d: entry revision %v (%v), a holds %d", i, e, err, held)
		}
	}
	if len(a.events.lostKeys()) != 0 {
		t.Fatalf("a lost %d rooms", len(a.events.lostKeys()))
	}
	// Renewals do move the revision (the lease is really renewed, not just left alone).
	e1, _ := a.rooms.Get(ctxT(t), keys[0])
	time.Sleep(3 * testBeat)
	e2, _ := a.rooms.Get(ctxT(t), keys[0])
	if e1 == nil || e2 == nil || e2.Revision() <= e1.Revision() {
		t.Fatalf("revision of a held lease did not move: %v -> %v", e1, e2)
	}
}

func TestReleaseRoom(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	key := RoomKey("acct", t.Name())
	if _, err := a.ClaimRoom(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseRoom(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if home, ok, err := b.RoomHome(ctxT(t), key); err != nil || ok {
		t.Fatalf("RoomHome after release = %+v %v %v, want none", home, ok, err)
	}
	if home, err := b.ClaimRoom(ctxT(t), key); err != nil || home != b.Self() {
		t.Fatalf("b claims the released room: %+v %v", home, err)
	}
	// Close releases too.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if home, ok, err := a.RoomHome(ctxT(t), key); err != nil || ok {
		t.Fatalf("RoomHome after the home's Close = %+v %v %v, want none", home, ok, err)
	}
	if len(a.events.lostKeys()) != 0 {
		t.Fatalf("a lost %v after releasing", a.events.lostKeys())
	}
}

func TestCall(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	b.Handle("echo", func(ctx context.Context, body []byte) ([]byte, error) {
		from, _ := FromNode(ctx)
		return []byte(from + ":" + string(body)), nil
	})
	b.Handle("fail", func(context.Context, []byte) ([]byte, error) {
		return nil, errors.New("room not found")
	})
	b.Handle("panic", func(context.Context, []byte) ([]byte, error) { panic("bad input") })
	release := make(chan struct{})
	b.Handle("slow", func(ctx context.Context, body []byte) ([]byte, error) {
		select {
		case <-release:
			return []byte("slow done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})

	got, err := a.Call(ctxT(t), b.Self().ID, "echo", []byte("hi"))
	if err != nil || string(got) != a.Self().ID+":hi" {
		t.Fatalf("echo = %q %v", got, err)
	}
	_, err = a.Call(ctxT(t), b.Self().ID, "fail", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Text != "room not found" {
		t.Fatalf("fail = %v, want RemoteError room not found", err)
	}
	if _, err = a.Call(ctxT(t), b.Self().ID, "panic", nil); !errors.As(err, &re) {
		t.Fatalf("panic = %v, want a RemoteError", err)
	}
	if _, err = a.Call(ctxT(t), b.Self().ID, "nothing", nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("unknown method = %v, want ErrNoHandler", err)
	}
	// Call to self.
	a.Handle("echo", func(_ context.Context, body []byte) ([]byte, error) { return body, nil })
	if got, err := a.Call(ctxT(t), a.Self().ID, "echo", []byte("me")); err != nil || string(got) != "me" {
		t.Fatalf("call to self = %q %v", got, err)
	}

	// Over NATS's max_payload, either way: an error at once, not a timeout.
	big := make([]byte, a.nc.MaxPayload())
	if _, err := a.Call(ctxT(t), b.Self().ID, "echo", big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a request of max_payload bytes = %v, want ErrTooLarge", err)
	}
	b.Handle("big", func(context.Context, []byte) ([]byte, error) { return big, nil })
	if _, err := a.Call(ctxT(t), b.Self().ID, "big", nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an answer of max_payload bytes = %v, want ErrTooLarge", err)
	}
	b.Handle("len", func(_ context.Context, body []byte) ([]byte, error) { return fmt.Append(nil, len(body)), nil })
	almost := make([]byte, a.nc.MaxPayload()-headerRoom)
	if got, err := a.Call(ctxT(t), b.Self().ID, "len", almost); err != nil || string(got) != fmt.Sprint(len(almost)) {
		t.Fatalf("a request just under the limit: %q, %v", got, err)
	}

	// A slow handler holds up nothing else.
	slow := make(chan error, 1)
	go func() {
		got, err := a.Call(ctxT(t), b.Self().ID, "slow", nil)
		if err == nil && string(got) != "slow done" {
			err = fmt.Errorf("slow answered %q", got)
		}
		slow <- err
	}()
	time.Sleep(50 * time.Millisecond)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := a.Call(ctx, b.Self().ID, "echo", []byte(fmt.Sprint(i)))
		cancel()
		if err != nil {
			t.Fatalf("echo while slow runs: %v", err)
		}
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	// A handler that outlasts the caller's deadline: unreachable in time.
	unhang := make(chan struct{})
	defer close(unhang)
	b.Handle("hang", func(context.Context, []byte) ([]byte, error) { <-unhang; return nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = a.Call(ctx, b.Self().ID, "hang", nil)
	cancel()
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("hang = %v, want ErrUnreachable", err)
	}

	// Nobody there.
	start := time.Now()
	if _, err := a.Call(ctxT(t), nodeID(t, "nobody"), "echo", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to no node = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("call to no node took %v: no responders should answer at once", took)
	}
	b.kill()
	// A request that reaches the server before it saw b's connection close is lost in b's
	// socket and waits for the deadline; after that, the server answers for b at once.
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	if _, err := a.Call(ctxT(t), b.Self().ID, "echo", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to a killed node = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("call to a killed node took %v", took)
	}
	// A canceled call is the caller's doing, not the node's.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := a.Call(ctx, a.Self().ID, "echo", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call = %v", err)
	}
}

func TestCloseAnswersRequestsInFlight(t *testing.T) {
	a, b := join(t, "a"), join(t, "b")
	started := make(chan struct{})
	b.Handle("slow", func(context.Context, []byte) ([]byte, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return []byte("done"), nil
	})
	answer := make(chan string, 1)
	go func() {
		got, err := a.Call(ctxT(t), b.Self().ID, "slow", nil)
		answer <- fmt.Sprint(string(got), err)
	}()
	<-started
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("Close took %v: it did not wait for the handler (300 ms)", took)
	}
	select {
	case got := <-answer:
		if got != "done<nil>" {
			t.Fatalf("the request in flight at Close got %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the request in flight at Close got no answer")
	}
	if _, err := a.Call(ctxT(t), b.Self().ID, "slow", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("a call after Close = %v, want ErrUnreachable", err)
	}
}

func TestHandlersServedFromJoin(t *testing.T) {
	a := join(t, "a")
	b := joinWith(t, "b", func(o *Options) {
		o.Handlers = map[string]Handler{"calls.live": func(context.Context, []byte) ([]byte, error) { return []byte("[]"), nil }}
	})
	// No wait: the handler is there as soon as Join returns.
	if got, err := a.Call(ctxT(t), b.Self().ID, "calls.live", nil); err != nil || string(got) != "[]" {
		t.Fatalf("calls.live = %q %v", got, err)
	}
}

func TestRoomKey(t *testing.T) {
	k := RoomKey("acct1", "Sales Room.1 *>")
	if k != RoomKey("acct1", "Sales Room.1 *>") {
		t.Fatal("RoomKey is not deterministic")
	}
	for _, other := range []string{RoomKey("acct2", "Sales Room.1 *>"), RoomKey("acct1", "sales room.1 *>"), RoomKey("acct", "1Sales Room.1 *>")} {
		if other == k {
			t.Fatalf("RoomKey collides: %s", k)
		}
	}
	if strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("RoomKey %q has characters outside base32", k)
	}
}

func TestJoinRejects(t *testing.T) {
	url := natsSrv.Require(t).URL()
	for _, o := range []Options{
		{URL: url, NodeID: ""},
		{URL: url, NodeID: "a b"},
		{URL: url, NodeID: "a*"},
		{URL: url, NodeID: ".a"},
		{URL: "", NodeID: "a"},
		{URL: url, NodeID: "a", HeartbeatInterval: time.Second, PeerTimeout: time.Second},
	} {
		if n, err := Join(ctxT(t), o); err == nil {
			n.Close()
			t.Errorf("Join(%+v) succeeded", o)
		}
	}
	// Nothing listens there.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := Join(ctx, Options{URL: "nats://127.0.0.1:1", NodeID: "a"}); err == nil {
		n.Close()
		t.Error("Join to a closed port succeeded")
	}
}
