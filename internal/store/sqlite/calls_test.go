package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The CDR list is served by the account/end-time index, not a scan of every call.
func TestListCallsUsesIndex(t *testing.T) {
	s, _ := openTemp(t)
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT `+callColumns+` FROM calls WHERE auth_id = ? AND end_time IS NOT NULL
		ORDER BY end_time DESC, call_uuid LIMIT 20`, "MA_A")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "calls_account_end") {
		t.Errorf("query plan %q does not use calls_account_end", p)
	}
}

// A database written before migration 0002 gets the CallStatus its hangup webhooks carried.
func TestCallStatusBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{string(first),
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`}
	for i, row := range []struct {
		direction string
		answered  bool
		code      int
		ended     bool
	}{
		{"inbound", false, 1000, true}, {"outbound", true, 4000, true}, {"outbound", false, 3010, true},
		{"outbound", false, 3020, true}, {"outbound", false, 6010, true}, {"outbound", false, 3070, true},
		{"outbound", false, 1000, true}, {"outbound", false, 5020, true}, {"outbound", false, 0, false},
	} {
		answer, end := "NULL", "NULL"
		if row.answered {
			answer = "1"
		}
		if row.ended {
			end = "2"
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO calls VALUES ('c%d', 'MA_A', '', '%s', '', '', '', 0, %s, %s, %d, '', '', '', '')`,
			i, row.direction, answer, end, row.code))
	}
	for _, q := range stmts {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{"completed", "completed", "busy", "busy", "no-answer", "timeout", "cancel", "failed", ""}
	for i, w := range want {
		c, err := s.GetCall(context.Background(), fmt.Sprintf("c%d", i))
		if err != nil || c.CallStatus != w {
			t.Errorf("c%d: call_status %q (%v), want %q", i, c.CallStatus, err, w)
		}
	}
}
