package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/store/sqlite"
)

func newCDRServer(t *testing.T, retention time.Duration) *Server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.CDRRetention = retention
	return &Server{cfg: cfg, store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), runner: &flow.Runner{}, calls: call.NewRegistry()}
}

// endedAt stores a leg of MA_T that ended at end.
func endedAt(t *testing.T, s *Server, id string, end time.Time) {
	t.Helper()
	if err := s.store.InsertCall(context.Background(), store.CallRecord{CallUUID: id, AuthID: "MA_T", Direction: "inbound",
		StartTime: end.Add(-time.Minute), EndTime: &end, CallStatus: "completed"}); err != nil {
		t.Fatal(err)
	}
}

// Records are kept for cdr_retention after their end, measured on the janitor's clock; 0 keeps
// them forever; live legs are never pruned.
func TestCallRecordRetention(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tt := range []struct {
		retention time.Duration
		kept      []string
	}{
		{90 * day, []string{"new", "89d", "live"}},
		{time.Hour, []string{"new", "live"}},
		{0, []string{"new", "89d", "91d", "400d", "live"}},
	} {
		t.Run(fmt.Sprint(tt.retention), func(t *testing.T) {
			s := newCDRServer(t, tt.retention)
			endedAt(t, s, "new", now.Add(-time.Minute))
			endedAt(t, s, "89d", now.Add(-89*day))
			endedAt(t, s, "91d", now.Add(-91*day))
			endedAt(t, s, "400d", now.Add(-400*day))
			if err := s.store.InsertCall(context.Background(), store.CallRecord{CallUUID: "live", AuthID: "MA_T", StartTime: now.Add(-200 * day)}); err != nil {
				t.Fatal(err)
			}
			s.pruneCallRecords(context.Background(), now)
			kept := map[string]bool{}
			for _, id := range tt.kept {
				kept[id] = true
			}
			for _, id := range []string{"new", "89d", "91d", "400d", "live"} {
				_, err := s.store.GetCall(context.Background(), id)
				if gone := errors.Is(err, store.ErrNotFound); gone == kept[id] {
					t.Errorf("retention %v: %s kept = %v, want %v (err %v)", tt.retention, id, !gone, kept[id], err)
				}
			}
		})
	}
}

// The adapter answers an account's own records only, and a live leg with what the call knows
// now: its answer time and the room it is in.
func TestCallRecordsAPIGet(t *testing.T) {
	s := newCDRServer(t, 0)
	a := callRecordsAPI{s}
	ctx := context.Background()
	endedAt(t, s, "ended", time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
	if _, err := a.Get(ctx, "MA_OTHER", "ended"); !errors.Is(err, api.ErrCallNotFound) {
		t.Errorf("another account's record: %v", err)
	}
	if _, err := a.Get(ctx, "MA_T", "nope"); !errors.Is(err, api.ErrCallNotFound) {
		t.Errorf("unknown record: %v", err)
	}
	if r, err := a.Get(ctx, "MA_T", "ended"); err != nil || r.Ended == nil || r.CallStatus != "completed" {
		t.Errorf("ended record %+v %v", r, err)
	}

	leg := calltest.NewLeg()
	c := call.New(call.Identity{AccountID: "MA_T", Direction: call.Outbound, From: "1415", To: "sip:bob@h"}, leg, call.Options{})
	t.Cleanup(func() { c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	s.calls.Add(c)
	s.recordStart(c, "", "sip-id", "203.0.113.7", "", "")
	r, err := a.Get(ctx, "MA_T", c.UUID())
	if err != nil || r.Ended != nil || r.Answered != nil || r.SourceIP != "203.0.113.7" || r.ConferenceUUID != "" {
		t.Fatalf("ringing leg %+v %v", r, err)
	}
	c.MarkAnswered()
	s.lastRooms.set(c.UUID(), "room-1")
	r, _ = a.Get(ctx, "MA_T", c.UUID())
	if r.Answered == nil || !r.Answered.Equal(c.AnswerTime()) || r.ConferenceUUID != "room-1" {
		t.Errorf("answered leg in a room %+v", r)
	}

	// At its end the record gets the final status and the room, before any webhook.
	c.Hangup(call.CauseNormalHangup, call.SourceAPIRequest, 0)
	<-c.Done()
	s.finishCall(c, "", "")
	r, _ = a.Get(ctx, "MA_T", c.UUID())
	if r.Ended == nil || r.CallStatus != "completed" || r.ConferenceUUID != "room-1" || r.HangupCauseCode != 4000 || r.HangupSource != "API Request" {
		t.Errorf("ended record %+v", r)
	}
	if s.lastRooms.get(c.UUID()) != "" {
		t.Error("the room of an ended leg is still remembered")
	}
	recs, total, err := a.List(ctx, "MA_T", api.CallRecordFilter{Page: api.Page{Limit: 20}, CallStatus: "completed", ToPrefix: "sip:bob"})
	if err != nil || total != 1 || recs[0].CallUUID != c.UUID() {
		t.Errorf("list %+v %d %v", recs, total, err)
	}
}
