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
