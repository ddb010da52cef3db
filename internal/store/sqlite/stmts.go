package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statement cache; SQL built from filters (List*) has a few
// variants each, so the bound is only reached by a bug, and then statements run unprepared.
const maxCachedStmts = 256

// stmtCache keeps prepared statements by their SQL text, so SQLite compiles each one once
// instead of on every call.
type stmtCache struct {
	db    *sql.DB
	limit int // at most this many statements are kept
	mu    sync.RWMutex
	m     map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, limit: maxCachedStmts, m: make(map[string]*sql.Stmt)}
}

// get returns the prepared statement for query, preparing it on first use, or nil when the
// cache is full. It must not be called inside a transaction: preparing needs the single
// connection, which the transaction holds. Preparing happens outside mu so a transaction that
// looks up a statement never waits for it.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, full := c.m[query], len(c.m) >= c.limit
	c.mu.RUnlock()
	if st != nil || full {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old := c.m[query]; old != nil { // prepared meanwhile by another goroutine
		c.mu.Unlock()
		st.Close()
		return old, nil
	}
	c.m[query] = st
	c.mu.Unlock()
	return st, nil
}

// cached returns the prepared statement for query if there is one.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// close closes every cached statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// cachedDB runs statements outside transactions through the cache. It is what the Store's
// methods use instead of *sql.DB.
type cachedDB struct{ c *stmtCache }

// ExecContext is sql.DB.ExecContext with a reused statement.
func (q cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := q.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.c.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is sql.DB.QueryContext with a reused statement.
func (q cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := q.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is sql.DB.QueryRowContext with a reused statement.
func (q cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.c.get(ctx, query)
	if err != nil || st == nil {
		// Unprepared: an error (say a cancelled ctx) comes back through the Row as usual.
		return q.c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// cachedTx runs statements in a transaction, reusing a statement already in the cache (it
// cannot prepare new ones: see stmtCache.get).
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

// ExecContext is sql.Tx.ExecContext with a reused statement when one is cached.
func (q cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.c.cached(query); st != nil {
		return q.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}
