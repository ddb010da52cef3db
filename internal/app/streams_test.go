package app

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/flow"
)

// The REST adapter's answers before any socket is opened: unknown, foreign and ringing calls,
// draining, the URL rule, and an ended call's streams.
func TestStreamsAPIRules(t *testing.T) {
	s := newAwaitServer()
	s.streams = &flow.Streams{}
	a := streamsAPI{s}
	ctx := context.Background()
	// An app that accepts TCP and never answers the upgrade: the stream stays in progress
	// (connecting) for the whole test.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	p := api.StreamParams{ServiceURL: "ws://" + ln.Addr().String() + "/ws", AudioTrack: "inbound", Encoding: "audio/x-mulaw", SampleRate: 8000,
		StreamTimeout: time.Minute}

	c := liveCall(t, s)
	if _, err := a.Start(ctx, "MA_T", "nope", p); !errors.Is(err, api.ErrCallNotFound) {
		t.Errorf("unknown call: %v", err)
	}
	if _, err := a.Start(ctx, "MA_OTHER", c.UUID(), p); !errors.Is(err, api.ErrCallNotFound) {
		t.Errorf("another account's call: %v", err)
	}
	if _, err := a.Start(ctx, "MA_T", c.UUID(), p); !errors.Is(err, api.ErrCallNotAnswered) {
		t.Errorf("ringing call: %v", err)
	}
	if err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := a.Start(ctx, "MA_T", c.UUID(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(ctx, "MA_T", c.UUID(), p); !errors.Is(err, api.ErrStreamURLInUse) {
		t.Errorf("same URL while the first is in progress: %v", err)
	}
	got, err := a.Get(ctx, "MA_T", c.UUID(), id)
	if err != nil || got.StreamID != id || got.Status != api.StreamInProgress || got.Encoding != "audio/x-mulaw" || got.SampleRate != 8000 ||
		got.StreamTimeout != time.Minute || got.StatusCallbackMethod != "POST" {
		t.Errorf("get: %+v, %v", got, err)
	}
	if _, err := a.Get(ctx, "MA_T", c.UUID(), "nope"); !errors.Is(err, api.ErrStreamNotFound) {
		t.Errorf("unknown stream: %v", err)
	}

	s.draining.Store(true)
	if _, err := a.Start(ctx, "MA_T", c.UUID(), p); !errors.Is(err, api.ErrDraining) {
		t.Errorf("draining: %v", err)
	}
	s.draining.Store(false)

	c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
	<-c.Done()
	if _, err := a.List(ctx, "MA_T", c.UUID()); !errors.Is(err, api.ErrCallNotFound) {
		t.Errorf("list of an ended call: %v", err)
	}
}
