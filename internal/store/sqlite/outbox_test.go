package sqlite

import (
	"context"
	"net/url"
	"testing"

	"github.com/parley-voice/parley/internal/store"
)

func BenchmarkOutboxEnqueue(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b)
	params := url.Values{"CallUUID": {"5d5a3bd6-6a4b-4c0a-9a39-1f0c1e3c3e4d"}, "Event": {"Hangup"},
		"From": {"14155550100"}, "To": {"14155550101"}, "HangupCause": {"NORMAL_CLEARING"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Enqueue(ctx, store.OutboxItem{AuthID: "MA_A", URL: "http://h/hangup", Method: "POST",
			Params: params, OrderKey: "call"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOutboxBacklog(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if n, oldest, err := s.Backlog(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty Backlog = %d, %v, %v; want 0, zero time", n, oldest, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"old", "mid", "new"} {
		it := store.OutboxItem{ID: id, URL: "http://h/", Method: "POST", CreatedAt: t0.Add(time.Duration(i) * time.Minute), NextAttempt: t0}
		if err := s.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkDelivered(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	n, oldest, err := s.Backlog(ctx)
	if err != nil || n != 2 || !oldest.Equal(t0.Add(time.Minute)) {
		t.Errorf("Backlog = %d, %v, %v; want 2 pending, the oldest created at %v", n, oldest, err, t0.Add(time.Minute))
	}
}

// TestRecentOutbox: an account's items come newest first with their state, never another
// account's, and the limit holds.
func TestRecentOutbox(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for _, it := range []store.OutboxItem{
		{ID: "a1", AuthID: "MA_A", URL: "http://h/1", Method: "POST"},
		{ID: "b1", AuthID: "MA_B", URL: "http://h/b", Method: "POST"},
		{ID: "a2", AuthID: "MA_A", URL: "http://h/2", Method: "GET"},
		{ID: "a3", AuthID: "MA_A", URL: "http://h/3", Method: "POST"},
	} {
		if err := s.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkDelivered(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Minute).UTC()
	if err := s.Reschedule(ctx, "a2", 3, next, "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "a3", "gave up"); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentOutbox(ctx, "MA_A", 10)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, r := range got {
		summary = append(summary, fmt.Sprintf("%s %s %d %q %v", r.ID, r.State, r.Attempts, r.LastError, r.FinishedAt.IsZero()))
	}
	want := []string{`a3 dropped 0 "gave up" false`, `a2 pending 3 "HTTP 503" true`, `a1 delivered 0 "" false`}
	if !reflect.DeepEqual(summary, want) {
		t.Fatalf("RecentOutbox = %q\nwant %q", summary, want)
	}
	if !got[1].NextAttempt.Equal(next) {
		t.Errorf("next attempt %v, want %v", got[1].NextAttempt, next)
	}
	if got, _ := s.RecentOutbox(ctx, "MA_A", 1); len(got) != 1 || got[0].ID != "a3" {
		t.Errorf("limit 1: %+v", got)
	}
}
