package postgres

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/store/storetest"
	"github.com/parley-voice/parley/test/pgtest"
)

// server is the PostgreSQL server of this package's tests (started by TestMain).
var server *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &server)) }

// opener returns a storetest.Open that creates each named database once on srv.
func opener(srv *pgtest.Server) storetest.Open {
	var mu sync.Mutex
	urls := make(map[string]string)
	return func(t *testing.T, name string) store.Store {
		t.Helper()
		ctx := context.Background()
		mu.Lock()
		url, ok := urls[name]
		if !ok {
			var err error
			if url, err = srv.CreateDatabase(ctx, name); err != nil {
				mu.Unlock()
				t.Fatal(err)
			}
			urls[name] = url
		}
		mu.Unlock()
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// TestStore runs the shared store suite on PostgreSQL.
func TestStore(t *testing.T) {
	storetest.Run(t, opener(server.Require(t)))
}

// Nodes that start together on a new database apply the migrations once, in turn.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	srv := server.Require(t)
	ctx := context.Background()
	url, err := srv.CreateDatabase(ctx, "t_concurrent_open")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, _ := migrations()
	var n int
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Errorf("schema_migrations has %d rows (%v), want %d", n, err, len(ms))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	srv := server.Require(t)
	ctx := context.Background()
	url, err := srv.CreateDatabase(ctx, "t_newer_schema")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s2, err := Open(ctx, url); err == nil {
		s2.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                      "SELECT 1",
		"a = ? AND b = ?":               "a = $1 AND b = $2",
		"?,?,?,?,?,?,?,?,?,?,?":         "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11",
		"LIMIT ? OFFSET ? -- trailing ": "LIMIT $1 OFFSET $2 -- trailing ",
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// The PostgreSQL schema has every table, column and index the SQLite migrations create, so a
// migration added there without its PostgreSQL counterpart fails here. (The names are read from
// the SQLite migration files, which keep one column per line.)
func TestSchemaMatchesSQLite(t *testing.T) {
	srv := server.Require(t)
	ctx := context.Background()
	url, err := srv.CreateDatabase(ctx, "t_schema_parity")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	files, err := filepath.Glob("../sqlite/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no SQLite migrations found (%v)", err)
	}
	createTable := regexp.MustCompile(`^CREATE TABLE (\w+)`)
	column := regexp.MustCompile(`^\s+(\w+)\s+(TEXT|INTEGER)\b`)
	addColumn := regexp.MustCompile(`^ALTER TABLE (\w+) ADD COLUMN (\w+)`)
	index := regexp.MustCompile(`^CREATE (?:UNIQUE )?INDEX (\w+)`)
	want := map[string]bool{} // "table.column" and "index name"
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		table := ""
		for _, line := range strings.Split(string(body), "\n") {
			switch m := createTable.FindStringSubmatch(line); {
			case m != nil:
				table = m[1]
			case strings.HasPrefix(line, ")"):
				table = ""
			}
			if m := column.FindStringSubmatch(line); m != nil && table != "" {
				want["column "+table+"."+m[1]] = true
			}
			if m := addColumn.FindStringSubmatch(line); m != nil {
				want["column "+m[1]+"."+m[2]] = true
			}
			if m := index.FindStringSubmatch(line); m != nil {
				want["index "+m[1]] = true
			}
		}
	}
	have := map[string]bool{}
	rows, err := s.pool.Query(ctx, `SELECT 'column ' || table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema()
		UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) < 50 {
		t.Fatalf("read only %d names from the SQLite migrations; the parser is out of date", len(want))
	}
	for name := range want {
		if !have[name] {
			t.Errorf("SQLite has %s, PostgreSQL does not", name)
		}
	}
}
