package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// TestStore runs the shared store suite; each database is a file, and two stores of one name
// open the same file (as two processes would).
func TestStore(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, func(t *testing.T, db string) store.Store {
		s, err := Open(context.Background(), filepath.Join(dir, db+".db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A dropped item keeps the reason as its last error (not visible through the interface).
func TestDropKeepsReason(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.Enqueue(ctx, store.OutboxItem{ID: "c", URL: "http://h/", LastError: "503"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "c", "too old"); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	if err := s.db.QueryRowContext(ctx, `SELECT last_error FROM outbox WHERE id = 'c'`).Scan(&lastErr); err != nil || lastErr != "too old" {
		t.Errorf("dropped item last_error = %q, %v", lastErr, err)
	}
}
