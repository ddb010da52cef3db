// Package sqlite is the embedded implementation of store.Store on a single SQLite file,
// using the pure Go driver modernc.org/sqlite (no cgo).
//
// The database runs in WAL mode with foreign keys on and one connection, so every method is
// safe for concurrent use and writes are serialised inside the process. Commits use
// synchronous=NORMAL: a committed write survives a crash or restart of Parley; a power cut may
// lose the last few commits. Schema changes are numbered SQL files embedded in the binary and
// applied at Open.
//
// It must NOT import other Parley packages or hold business rules beyond what the store
// interfaces promise (validation of API input belongs to the caller).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/store"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeoutMs bounds how long a statement waits for another process holding the file lock.
const busyTimeoutMs = 10000

// Store is a store.Store on one SQLite file.
type Store struct {
	db    *sql.DB
	stmts *stmtCache
	q     cachedDB // s.db with statements reused; the methods use it rather than s.db
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies pending migrations. The
// parent directory is created with mode 0700 and a new file with mode 0600, because the file
// holds auth tokens and endpoint passwords. The path ":memory:" opens a private in-memory
// database (for tests).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open database: no path given")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open database %s: the path must not contain '?' or '#'", path)
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open database: create directory: %w", err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	dsn := path + "?_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMs) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and this keeps an in-memory database
	// alive and makes transactions simple. Never call s.db inside a transaction.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, stmts: newStmtCache(db)}
	s.q = cachedDB{s.stmts}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Prepared now, before any transaction, so transactions can reuse them too.
	for _, q := range hotStatements() {
		if _, err := s.stmts.get(ctx, q); err != nil {
			s.stmts.close()
			db.Close()
			return nil, fmt.Errorf("open database %s: prepare statement: %w", path, err)
		}
	}
	return s, nil
}

// hotStatements are the statements of every call and webhook.
func hotStatements() []string {
	return []string{
		sqlOutboxInsert, sqlOutboxDue, sqlOutboxClaim, sqlOutboxFinish, sqlOutboxFinishReason, sqlOutboxReschedule,
		sqlOutboxExists, sqlCallInsert, sqlCallWarningInsert, sqlCallExists,
		appQuery(whereAppInAccount), appQuery(whereAppID), appQuery(whereDefaultNumber),
		appQuery(whereDefaultEndpoint), endpointQuery(whereUsername),
	}
}

// Close closes the database.
func (s *Store) Close() error {
	serr := s.stmts.close()
	if err := errors.Join(serr, s.db.Close()); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: name must start with a positive number and '_'", name)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies, each in its own transaction, the migrations not yet recorded in
// schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("read schema migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply schema migration %s: %w", m.name, err)
		}
	}
	var newest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && newest.Int64 > int64(ms[len(ms)-1].version) {
		return fmt.Errorf("the database has schema version %d, newer than this Parley knows (%d); use a newer Parley",
			newest.Int64, ms[len(ms)-1].version)
	}
	return nil
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// now is the store's clock for generated timestamps.
func now() time.Time { return time.Now().UTC() }

// nanos turns a time into the stored integer; the zero time is stored as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullNanos stores an optional time.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

// fromNullNanos reads an optional time.
func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// nullString stores an optional text.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// fromNullString reads an optional text.
func fromNullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// sqlLimit turns "<= 0 means no limit" into SQLite's -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// sqlOffset clamps a negative offset to 0.
func sqlOffset(offset int) int {
	if offset < 0 {
		return 0
	}
	return offset
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY constraint failure.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// exists reports whether the query returns a row.
func exists(ctx context.Context, q queryer, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// newUniqueNumericID draws 15-digit ids until one is free in table.column (inside tx, so no
// other writer can take it before the insert).
func newUniqueNumericID(ctx context.Context, tx *sql.Tx, table, column string) (string, error) {
	for range 20 {
		id := store.NewNumericID()
		taken, err := exists(ctx, tx, `SELECT 1 FROM `+table+` WHERE `+column+` = ?`, id)
		if err != nil {
			return "", err
		}
		if !taken {
			return id, nil
		}
	}
	return "", fmt.Errorf("could not find a free %s after 20 tries", column)
}
