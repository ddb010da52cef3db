package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// TestTrafficStats: an OPTIONS ping, a call answered and hung up by the caller, and a rejected
// call show up as requests by method and responses by method and status, including the
// responses a dialog sends later through the INVITE's transaction (180, 200, 486).
func TestTrafficStats(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	if res := rawUDP(t, s, "OPTIONS sip:ping@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-m1\n"+
		"From: <sip:tester@127.0.0.1>;tag=a1\nTo: <sip:ping@127.0.0.1>\nCall-ID: metrics-1\nCSeq: 1 OPTIONS\n"+
		"Max-Forwards: 70\nContent-Length: 0\n\n"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("OPTIONS answer: %q", res)
	}

	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "1000", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	if err := leg.Ring(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	if err := cl.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, leg.Done(), "leg end")

	cl2 := dial(t, c, s, "2000", siptest.DialOptions{Codec: media.PCMU})
	leg2 := recvLeg(t, legs)
	if err := leg2.Reject(486, "Busy Here"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl2.Settled(), "final response")

	want := TrafficStats{
		Requests: map[string]uint64{"OPTIONS": 1, "INVITE": 2, "ACK": 1, "BYE": 1},
		Responses: map[ResponseKey]uint64{{"OPTIONS", 200}: 1, {"INVITE", 180}: 1, {"INVITE", 200}: 1,
			{"INVITE", 486}: 1, {"BYE", 200}: 1},
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := s.TrafficStats()
		ok := true
		for m, n := range want.Requests {
			ok = ok && got.Requests[m] >= n
		}
		for k, n := range want.Responses {
			ok = ok && got.Responses[k] >= n
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TrafficStats = %+v, want at least %+v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
