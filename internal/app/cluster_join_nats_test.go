package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/conference"
)

// TestRemoteMembersOverNATS is TestRemoteMembersAcrossNodes on three servers configured as a
// cluster (nats_url, one PostgreSQL database): room.prepare, room.result and the room leases go
// through NATS. The home leaving the cluster (Close) moves the others to a new home.
func TestRemoteMembersOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("nats-server and three nodes with SIP calls")
	}
	nats := natsSrv.Require(t)
	srvPG := pg.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dbURL, err := srvPG.CreateDatabase(ctx, "t_app_cluster_rooms")
	if err != nil {
		t.Fatal(err)
	}

	web := newClusterWeb(t)
	start := func(id string, rtpBase int) *Server {
		srv := startClusterTestServer(t, id, rtpBase, web, map[string]string{
			"PARLEY_NATS_URL": nats.URL(), "PARLEY_DATABASE_URL": dbURL, "PARLEY_NODE_ID": id,
		})
		if srv.node == nil || srv.rooms == nil {
			t.Fatalf("%s: not a cluster node with remote rooms", id)
		}
		return srv
	}
	n1, n2, n3 := start("n1", 21500), start("n2", 21600), start("n3", 21700)
	key := clusterRoomKey(clusterTestAccount, "R")

	dial := newRoomDialer(ctx, t)

	dial(n1, "+14155550001", 440)
	aUUID := liveCallUUID(t, n1)
	waitFor(t, "A in the room on n1", func() bool { return memberOf(n1, aUUID) != 0 })
	if h, ok, err := n2.node.RoomHome(ctx, key); err != nil || !ok || h.ID != "n1" {
		t.Fatalf("room home %+v %v %v, want n1", h, ok, err)
	}
	b := dial(n2, "+14155550002", 1000)
	bUUID := liveCallUUID(t, n2)
	c := dial(n3, "+14155550003", 1800)
	cUUID := liveCallUUID(t, n3)
	waitFor(t, "B and C in the room on n1", func() bool { return memberOf(n1, bUUID) != 0 && memberOf(n1, cUUID) != 0 })
	waitFor(t, "B and C hearing each other and A", func() bool {
		return hears(b, 1800, 400*time.Millisecond) && hears(c, 1000, 400*time.Millisecond) && hears(b, 440, 400*time.Millisecond)
	})

	// A kick on the home reaches B's node over room.result; B's action document joins again.
	bMember := memberOf(n1, bUUID)
	if err := n1.conf.Kick(ctx, clusterTestAccount, "R", conference.IDs(bMember)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's action URL after the kick", func() bool { return len(web.find("/after", map[string]string{"CallUUID": bUUID})) == 1 })
	if got := web.find("/after", map[string]string{"CallUUID": bUUID})[0]; got.Get("ConferenceMemberID") != fmt.Sprint(bMember) {
		t.Fatalf("B's action request %v: want member %d", got, bMember)
	}
	waitFor(t, "B back in the room", func() bool { m := memberOf(n1, bUUID); return m != 0 && m != bMember })

	// The home leaves: its calls and legs end, its leases go.
	left := time.Now()
	n1.Close() // its node leaves too
	waitFor(t, "B and C hearing each other on the new home", func() bool {
		return hearsSince(b, 1800, 300*time.Millisecond, left.Add(100*time.Millisecond)) &&
			hearsSince(c, 1000, 300*time.Millisecond, left.Add(100*time.Millisecond))
	})
	t.Logf("B and C hear each other again %v after the home left", time.Since(left))
	if took := time.Since(left); took > 5*time.Second {
		t.Errorf("B and C heard each other again %v after the home left, want within 5 s", took)
	}
	h, ok, err := n2.node.RoomHome(ctx, key)
	if err != nil || !ok || (h.ID != "n2" && h.ID != "n3") {
		t.Fatalf("room home %+v %v %v after n1 left, want n2 or n3", h, ok, err)
	}
	if n := len(web.find("/after", map[string]string{"CallUUID": bUUID})); n != 1 {
		t.Errorf("B's document ran its action %d times, want 1: moving to a new home is not leaving", n)
	}
}
