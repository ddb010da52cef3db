package storetest

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

func dueIDs(t *testing.T, s store.Store, at time.Time, limit int) []string {
	t.Helper()
	items, err := s.Due(context.Background(), at, limit)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func pending(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testOutboxRoundTrip(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	in := store.OutboxItem{
		ID: "n1", AuthID: "MA_A", URL: "http://h/hangup?x=1", Method: "POST",
		Params:   url.Values{"CallUUID": {"c1"}, "Multi": {"a", "b"}, "Empty": {""}, "Odd": {"a&b=c d+é"}},
		OrderKey: "call:c1", Attempts: 2, NextAttempt: t0, CreatedAt: t0.Add(-time.Second), LastError: "503",
	}
	if err := s.Enqueue(ctx, in); err != nil {
		t.Fatal(err)
	}
	items, err := s.Due(ctx, t0, 10)
	if err != nil || len(items) != 1 || !reflect.DeepEqual(items[0], in) {
		t.Fatalf("Due = %+v, %v\nwant %+v", items, err, in)
	}
	wantErr(t, "duplicate id", s.Enqueue(ctx, in), store.ErrConflict)
	wantErr(t, "no url", s.Enqueue(ctx, store.OutboxItem{ID: "n2"}), store.ErrInvalid)

	// Generated id and times.
	before := time.Now()
	if err := s.Enqueue(ctx, store.OutboxItem{URL: "http://h/"}); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Due(ctx, time.Now(), 10)
	if len(items) != 2 {
		t.Fatalf("Due returned %d items, want 2", len(items))
	}
	g := items[1]
	if len(g.ID) != 36 || g.CreatedAt.Before(before.Add(-time.Millisecond)) || !g.NextAttempt.Equal(g.CreatedAt) || g.Params == nil {
		t.Errorf("generated fields = %+v", g)
	}
}

func testOutboxOrderingAndStates(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Inserted out of CreatedAt order; "b1" and "b2" share a CreatedAt and keep insertion order.
	for _, it := range []struct {
		id      string
		created time.Duration
		next    time.Duration
	}{
		{"c", 3 * time.Second, 0},
		{"b1", 2 * time.Second, 0},
		{"a", 1 * time.Second, 10 * time.Second},
		{"b2", 2 * time.Second, 0},
	} {
		err := s.Enqueue(ctx, store.OutboxItem{ID: it.id, URL: "http://h/", Method: "POST",
			CreatedAt: t0.Add(it.created), NextAttempt: t0.Add(it.next)})
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func() error
		at   time.Duration
		lim  int
		want []string
		pend int
	}{
		{"initial", nil, 0, 10, []string{"b1", "b2", "c"}, 4},
		{"limit", nil, 0, 2, []string{"b1", "b2"}, 4},
		{"zero limit", nil, 0, 0, nil, 4},
		{"later: a due", nil, 10 * time.Second, 10, []string{"a", "b1", "b2", "c"}, 4},
		{"reschedule b1", func() error { return s.Reschedule(ctx, "b1", 1, t0.Add(5*time.Second), "timeout") },
			0, 10, []string{"b2", "c"}, 4},
		{"b1 due again keeps its place", nil, 5 * time.Second, 10, []string{"b1", "b2", "c"}, 4},
		{"deliver b2", func() error { return s.MarkDelivered(ctx, "b2") }, 10 * time.Second, 10, []string{"a", "b1", "c"}, 3},
		{"drop c", func() error { return s.Drop(ctx, "c", "too old") }, 10 * time.Second, 10, []string{"a", "b1"}, 2},
		{"reschedule of delivered is ignored", func() error { return s.Reschedule(ctx, "b2", 9, t0, "x") },
			10 * time.Second, 10, []string{"a", "b1"}, 2},
		{"deliver twice is harmless", func() error { return s.MarkDelivered(ctx, "b2") }, 10 * time.Second, 10, []string{"a", "b1"}, 2},
	}
	for _, st := range steps {
		if st.do != nil {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if got := dueIDs(t, s, t0.Add(st.at), st.lim); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: Due = %v, want %v", st.name, got, st.want)
		}
		if got := pending(t, s); got != st.pend {
			t.Errorf("%s: Pending = %d, want %d", st.name, got, st.pend)
		}
	}
	items, _ := s.Due(ctx, t0.Add(time.Minute), 10)
	for _, it := range items {
		if it.ID == "b1" && (it.Attempts != 1 || it.LastError != "timeout" || !it.NextAttempt.Equal(t0.Add(5*time.Second))) {
			t.Errorf("rescheduled item = %+v", it)
		}
	}

	for name, err := range map[string]error{
		"MarkDelivered": s.MarkDelivered(ctx, "nope"),
		"Drop":          s.Drop(ctx, "nope", "x"),
		"Reschedule":    s.Reschedule(ctx, "nope", 1, t0, "x"),
	} {
		wantErr(t, name+" unknown", err, store.ErrNotFound)
	}

	// Prune removes finished items only, and only those finished before the cutoff.
	if n, err := s.Prune(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("Prune(past) = %d, %v; want 0", n, err)
	}
	if n, err := s.Prune(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("Prune(future) = %d, %v; want 2", n, err)
	}
	if got := pending(t, s); got != 2 {
		t.Errorf("Pending after prune = %d, want 2", got)
	}
}

// TestOutboxSurvivesRestart is the restart guarantee of spec §9.3: queued items, their
// attempt counts and next attempt times come back after Close and Open of the same file.
func testOutboxSurvivesRestart(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []store.OutboxItem
	for i := range 3 {
		it := store.OutboxItem{ID: fmt.Sprintf("n%d", i), AuthID: "MA_A", URL: "http://h/", Method: "POST",
			Params: url.Values{"i": {fmt.Sprint(i)}}, OrderKey: "k", CreatedAt: t0.Add(time.Duration(i) * time.Second),
			NextAttempt: t0}
		if err := s.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
		want = append(want, it)
	}
	if err := s.Reschedule(ctx, "n1", 4, t0.Add(time.Minute), "connection refused"); err != nil {
		t.Fatal(err)
	}
	want[1].Attempts, want[1].NextAttempt, want[1].LastError = 4, t0.Add(time.Minute), "connection refused"
	if err := s.MarkDelivered(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	want = want[:2]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, dbName(t))
	if n := pending(t, s2); n != 2 {
		t.Errorf("Pending after restart = %d, want 2", n)
	}
	got, err := s2.Due(ctx, t0.Add(time.Hour), 10)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Due after restart = %+v, %v\nwant %+v", got, err, want)
	}
}

func testConcurrentWrites(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	const workers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := s.Enqueue(ctx, store.OutboxItem{URL: "http://h/", OrderKey: fmt.Sprint(w)}); err != nil {
					errs <- err
				}
				a := store.NewApplication("MA_A", "app", "http://h/")
				a.DefaultNumberApp = true
				if _, err := s.CreateApplication(ctx, a); err != nil {
					errs <- err
				}
				if _, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: fmt.Sprintf("u%d-%d", w, i), Password: "pw"}); err != nil {
					errs <- err
				}
				if _, _, err := s.ListApplications(ctx, "MA_A", store.AppFilter{Limit: 5}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := pending(t, s); n != workers*each {
		t.Errorf("Pending = %d, want %d", n, workers*each)
	}
	list, total, _ := s.ListApplications(ctx, "MA_A", store.AppFilter{})
	defaults := 0
	for _, a := range list {
		if a.DefaultNumberApp {
			defaults++
		}
	}
	if total != workers*each || defaults != 1 {
		t.Errorf("%d applications with %d defaults, want %d with 1", total, defaults, workers*each)
	}
	if _, total, _ := s.ListEndpoints(ctx, "MA_A", store.EndpointFilter{}); total != workers*each {
		t.Errorf("%d endpoints, want %d", total, workers*each)
	}
}

// testOutboxBacklog: the depth of the queue counts only pending items, and its age is the
// oldest pending item's.
func testOutboxBacklog(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
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

// testRecentOutbox: an account's items come newest first with their state, never another
// account's, and the limit holds.
func testRecentOutbox(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
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
