package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/store/postgres"
	"github.com/parley-voice/parley/internal/webhook"
	"github.com/parley-voice/parley/test/natstest"
	"github.com/parley-voice/parley/test/pgtest"
	"github.com/parley-voice/parley/test/svctest"
)

// pg and natsSrv are the PostgreSQL and NATS servers of this package's tests (started by
// TestMain; the tests that do not need them run without them).
var (
	pg      *pgtest.Server
	natsSrv *natstest.Server
)

func TestMain(m *testing.M) {
	os.Exit(natstest.Main(svctest.RunFunc(func() int { return pgtest.Main(m, &pg) }), &natsSrv))
}

// Two servers on one PostgreSQL database, started together, see the same configured data,
// and every webhook either queues is delivered once, whichever dispatcher takes it.
func TestTwoServersShareOnePostgres(t *testing.T) {
	srvPG := pg.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbURL, err := srvPG.CreateDatabase(ctx, "t_app_two_servers")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get(webhook.HeaderDeliveryID)]++
		mu.Unlock()
	}))
	defer web.Close()

	servers := make([]*Server, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range servers {
		env := map[string]string{
			"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0",
			"PARLEY_RTP_PORTS": fmt.Sprintf("%d-%d", 19400+100*i, 19499+100*i),
			"PARLEY_DATA_DIR":  t.TempDir(), "PARLEY_DATABASE_URL": dbURL,
			"PARLEY_AUTH_ID": "MA_PGTEST1", "PARLEY_AUTH_TOKEN": "pg-test-token",
			"PARLEY_ANSWER_URL": web.URL + "/answer",
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			servers[i], errs[i] = New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
		})
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("server %d: %v", i, errs[i])
		}
		if _, ok := s.store.(*postgres.Store); !ok {
			t.Fatalf("server %d keeps its data in %T, want PostgreSQL", i, s.store)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	var apps [2][]store.Application
	for i, s := range servers {
		if apps[i], _, err = s.store.ListApplications(ctx, "MA_PGTEST1", store.AppFilter{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(apps[0]) != 1 || len(apps[1]) != 1 || apps[0][0].AppID != apps[1][0].AppID {
		t.Fatalf("configured applications: %+v and %+v, want the same one", apps[0], apps[1])
	}

	const n = 40
	for i := range n {
		if err := servers[i%2].dispatcher.Notify(ctx, webhook.Notification{AuthID: "MA_PGTEST1",
			URL: web.URL + "/hook", OrderKey: fmt.Sprintf("call-%d", i%5)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending, err := servers[0].store.Pending(ctx)
		mu.Lock()
		delivered := len(got)
		mu.Unlock()
		if err == nil && pending == 0 && delivered == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered, %d pending (%v)", delivered, n, pending, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up
	mu.Lock()
	defer mu.Unlock()
	for id, c := range got {
		if c != 1 {
			t.Errorf("delivery %s sent %d times", id, c)
		}
	}
}
