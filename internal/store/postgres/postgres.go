// Package postgres is the implementation of store.Store on a PostgreSQL database, shared by
// every node of a cluster, using pgx (pgxpool). It keeps the same data with the same meaning as
// the embedded sqlite store; both pass the storetest suite.
//
// Several processes use one database at once, so whatever SQLite got from its single writer
// is explicit here: schema migrations run under an advisory lock, writes that check and then
// change an account's applications hold a per-account advisory lock, lists read one snapshot,
// and the webhook outbox is claimed with leases (SELECT … FOR UPDATE SKIP LOCKED), so two
// dispatchers never attempt the same notification while its lease runs.
//
// Queries are written with ? placeholders, as in the sqlite store, and numbered ($1, $2, …)
// on the way to the server.
//
// It must NOT import other Parley packages or hold business rules beyond what the store
// interfaces promise (validation of API input belongs to the caller).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parley-voice/parley/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serialises schema migrations across nodes.
const migrationLock = 0x7061726c6579 // "parley"

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	q    db // the pool with ? placeholders; the methods use it rather than pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://…) and applies pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{pool: pool, q: db{pool}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host,
			cfg.ConnConfig.Database, err)
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
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
// schema_migrations. Nodes starting together take turns under an advisory lock.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("read schema migrations: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock schema migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply schema migration %s: %w", m.name, err)
		}
	}
	var newest *int64
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && newest != nil && *newest > int64(ms[len(ms)-1].version) {
		return fmt.Errorf("the database has schema version %d, newer than this Parley knows (%d); use a newer Parley",
			*newest, ms[len(ms)-1].version)
	}
	return nil
}

// conn is what both the pool and a transaction offer.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// db runs queries written with ? placeholders on the pool or in a transaction.
type db struct{ c conn }

func (d db) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	return d.c.Exec(ctx, rebind(query), args...)
}

func (d db) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	return d.c.Query(ctx, rebind(query), args...)
}

func (d db) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return d.c.QueryRow(ctx, rebind(query), args...)
}

// rebind numbers the ? placeholders of query. The store's SQL has no ? inside literals.
func rebind(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 2*n)
	i := 0
	for {
		j := strings.IndexByte(query, '?')
		if j < 0 {
			b.WriteString(query)
			return b.String()
		}
		i++
		b.WriteString(query[:j])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i))
		query = query[j+1:]
	}
}

// txOptions: writes run at READ COMMITTED with explicit locks; lists read one snapshot.
var (
	writeTx = pgx.TxOptions{}
	readTx  = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
)

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, opts pgx.TxOptions, fn func(tx db) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error { return fn(db{tx}) })
}

// lockAccount serialises, until the transaction ends, the writes of one account that check
// and then change its applications (default flags, configured applications).
func lockAccount(ctx context.Context, tx db, authID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('parley.account:' || ?::text, 0))`, authID)
	return err
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
func nullNanos(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	n := nanos(*t)
	return &n
}

// fromNullNanos reads an optional time.
func fromNullNanos(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
	return &t
}

// sqlLimit turns "<= 0 means no limit" into LIMIT NULL.
func sqlLimit(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}

// sqlOffset clamps a negative offset to 0.
func sqlOffset(offset int) int {
	if offset < 0 {
		return 0
	}
	return offset
}

// pgCode is the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }

// isForeignKeyViolation reports whether err is a FOREIGN KEY constraint failure.
func isForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

// exists reports whether the query returns a row.
func exists(ctx context.Context, q db, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// newUniqueNumericID draws 15-digit ids until one is free in table.column. Another writer may
// still take it before the insert; the unique index then fails that insert.
func newUniqueNumericID(ctx context.Context, tx db, table, column string) (string, error) {
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
