package sqlite

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parley-voice/parley/internal/store"
)

func cachedCount(s *Store) int {
	s.stmts.mu.RLock()
	defer s.stmts.mu.RUnlock()
	return len(s.stmts.m)
}

// callLifecycle runs what the server does for one inbound call with a hangup webhook. The
// webhook is delivered when i is even or negative, else it fails once.
func callLifecycle(ctx context.Context, s *Store, appID, user string, i int, warnings []string) error {
	if _, err := s.LookupApplication(ctx, appID); err != nil {
		return err
	}
	if _, err := s.DefaultNumberApp(ctx, "MA_A"); err != nil {
		return err
	}
	if _, err := s.GetEndpointByUsername(ctx, user); err != nil {
		return err
	}
	callUUID := fmt.Sprint("call-", i)
	start := time.Now()
	if err := s.InsertCall(ctx, store.CallRecord{CallUUID: callUUID, AuthID: "MA_A", Direction: "inbound", StartTime: start, Warnings: warnings}); err != nil {
		return err
	}
	end := start.Add(time.Second)
	if err := s.UpdateCall(ctx, callUUID, store.CallPatch{AnswerTime: &start}); err != nil {
		return err
	}
	if err := s.UpdateCall(ctx, callUUID, store.CallPatch{EndTime: &end, HangupCauseCode: ptr(4000), HangupCause: ptr("NORMAL_CLEARING"),
		HangupCauseName: ptr("Normal Hangup"), HangupSource: ptr("Caller")}); err != nil {
		return err
	}
	id := uuid.NewString()
	if err := s.Enqueue(ctx, store.OutboxItem{ID: id, AuthID: "MA_A", URL: "http://h/hangup", Method: "POST",
		Params: url.Values{"CallUUID": {callUUID}}, OrderKey: callUUID}); err != nil {
		return err
	}
	if _, err := s.Due(ctx, time.Now(), 8); err != nil {
		return err
	}
	if i%2 == 0 || i < 0 {
		return s.MarkDelivered(ctx, id)
	}
	return s.Reschedule(ctx, id, 1, time.Now().Add(time.Hour), "HTTP status 500")
}

func seedCallData(t testing.TB, s *Store) (appID, user string) {
	t.Helper()
	ctx := context.Background()
	a := store.NewApplication("MA_A", "app", "http://h/answer")
	a.DefaultNumberApp = true
	a, err := s.CreateApplication(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "alice", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	return a.AppID, e.Username
}

// TestStatementsReused: the hot statements are prepared at Open and a call's statements are
// compiled once, not per call.
func TestStatementsReused(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if n, want := cachedCount(s), len(hotStatements()); n != want {
		t.Fatalf("%d statements prepared at Open, want %d", n, want)
	}
	appID, user := seedCallData(t, s)
	if err := callLifecycle(ctx, s, appID, user, 0, nil); err != nil {
		t.Fatal(err)
	}
	afterOne := cachedCount(s)
	for i := 1; i < 50; i++ {
		if err := callLifecycle(ctx, s, appID, user, i, []string{"w"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cachedCount(s); n != afterOne {
		t.Errorf("cache grew from %d to %d statements over 49 more calls", afterOne, n)
	}
}

// TestStatementCacheFull: once the cache is full, new statements still run, unprepared.
func TestStatementCacheFull(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	s.stmts.limit = cachedCount(s)
	if err := s.UpsertAccount(ctx, "MA_A", "tok"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.GetAccount(ctx, "MA_A"); err != nil || a.AuthToken != "tok" {
		t.Fatalf("GetAccount = %+v, %v", a, err)
	}
	if n := cachedCount(s); n != s.stmts.limit {
		t.Errorf("cache holds %d statements, limit %d", n, s.stmts.limit)
	}
}

// TestConcurrentCallLifecycles runs calls from several goroutines while other statements are
// prepared for the first time and transactions reuse cached ones: nothing deadlocks or fails.
func TestConcurrentCallLifecycles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, _ := openTemp(t)
	appID, user := seedCallData(t, s)
	const workers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var warn []string
				if i%3 == 0 {
					warn = []string{"a", "b"} // the transaction path
				}
				if err := callLifecycle(ctx, s, appID, user, w*each+i, warn); err != nil {
					errs <- err
				}
				if w == 0 { // first use of a statement while others run
					if _, err := s.ListAccounts(ctx); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := s.Pending(context.Background()); err != nil || n != workers*each/2 {
		t.Errorf("Pending = %d, %v; want %d", n, err, workers*each/2)
	}
}

// BenchmarkCallLifecycle is the store's share of one call: application and endpoint look-ups,
// the call record insert and two updates, and the hangup webhook's outbox round trip.
func BenchmarkCallLifecycle(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b)
	appID, user := seedCallData(b, s)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := callLifecycle(ctx, s, appID, user, -1-i, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
