package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/flow"
)

func newAwaitServer() *Server {
	return &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), runner: &flow.Runner{}, calls: call.NewRegistry()}
}

func liveCall(t *testing.T, s *Server) *call.Call {
	t.Helper()
	c := call.New(call.Identity{AccountID: "MA_T", Direction: call.Inbound}, calltest.NewLeg(), call.Options{})
	t.Cleanup(func() { c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	s.calls.Add(c)
	return c
}

// awaitEnded returns only once the call has ended, and the registry no longer reports it.
func TestAwaitEndedWaitsForTheCall(t *testing.T) {
	s := newAwaitServer()
	c := liveCall(t, s)
	go func() {
		time.Sleep(100 * time.Millisecond)
		c.Hangup(call.CauseNormalHangup, call.SourceAPIRequest, 0)
	}()
	s.awaitEnded(context.Background(), "MA_T", []string{c.UUID()})
	select {
	case <-c.Done():
	default:
		t.Fatal("awaitEnded returned before the call ended")
	}
	if _, ok := s.calls.Get("MA_T", c.UUID()); ok {
		t.Fatal("the ended call is still reported live")
	}
}

// A call that does not end does not hold the answer beyond the caller's context.
func TestAwaitEndedIsBounded(t *testing.T) {
	s := newAwaitServer()
	c := liveCall(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.awaitEnded(ctx, "MA_T", []string{c.UUID()})
	if el := time.Since(start); el > applyWait/2 {
		t.Fatalf("awaitEnded took %v with a 100 ms context", el)
	}
}
