package postgres

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-voice/parley/internal/store"
)

// Final outbox item states; 0 is pending (the SQL uses the literal so the partial index
// applies).
const (
	outboxDelivered = 1
	outboxDropped   = 2
)

// The outbox statements (they run for every webhook).
const (
	sqlOutboxInsert = `INSERT INTO outbox (id, auth_id, url, method, params, order_key,
		attempts, next_attempt, created_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlOutboxDue = `SELECT id, auth_id, url, method, params, order_key, attempts,
		next_attempt, created_at, last_error FROM outbox
		WHERE state = 0 AND next_attempt <= ? ORDER BY created_at, seq LIMIT ?`
	// ClaimDue leases the oldest claimable rows. A row another claimer has locked is skipped,
	// and one it claimed meanwhile fails the lease condition, which FOR UPDATE checks again on
	// the row's newest version. RETURNING has no order, so the caller sorts.
	sqlOutboxClaim = `UPDATE outbox SET lease_owner = ?, lease_until = ?
		WHERE seq IN (SELECT seq FROM outbox
			WHERE state = 0 AND next_attempt <= ? AND (lease_owner = ? OR lease_until <= ?)
			ORDER BY created_at, seq LIMIT ? FOR UPDATE SKIP LOCKED)
		RETURNING seq, id, auth_id, url, method, params, order_key, attempts,
		next_attempt, created_at, last_error`
	// Finishing or rescheduling an item ends its lease.
	sqlOutboxFinish = `UPDATE outbox SET state = ?, finished_at = ?, lease_owner = '', lease_until = 0
			WHERE id = ? AND state = 0`
	sqlOutboxFinishReason = `UPDATE outbox SET state = ?, finished_at = ?, last_error = ?,
			lease_owner = '', lease_until = 0
			WHERE id = ? AND state = 0`
	sqlOutboxReschedule = `UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ?,
		lease_owner = '', lease_until = 0
		WHERE id = ? AND state = 0`
	sqlOutboxExists = `SELECT 1 FROM outbox WHERE id = ?`
)

// Enqueue stores a pending notification.
func (s *Store) Enqueue(ctx context.Context, item store.OutboxItem) error {
	return enqueue(ctx, s.q, item)
}

// enqueue is Enqueue on q, the pool or a transaction.
func enqueue(ctx context.Context, q db, item store.OutboxItem) error {
	if item.URL == "" {
		return fmt.Errorf("queue notification: URL is empty: %w", store.ErrInvalid)
	}
	if item.ID == "" {
		item.ID = uuid.NewString()
	}
	t := now()
	if item.CreatedAt.IsZero() {
		item.CreatedAt = t
	}
	if item.NextAttempt.IsZero() {
		item.NextAttempt = t
	}
	_, err := q.Exec(ctx, sqlOutboxInsert,
		item.ID, item.AuthID, item.URL, item.Method, item.Params.Encode(), item.OrderKey,
		item.Attempts, nanos(item.NextAttempt), nanos(item.CreatedAt), item.LastError)
	if isUniqueViolation(err) {
		return fmt.Errorf("queue notification %s: %w", item.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("queue notification %s: %w", item.ID, err)
	}
	return nil
}

// Due returns at most limit pending items whose next attempt is due, oldest first.
func (s *Store) Due(ctx context.Context, at time.Time, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, sqlOutboxDue, nanos(at), limit)
	if err != nil {
		return nil, fmt.Errorf("read due notifications: %w", err)
	}
	out, _, err := scanOutbox(rows, false)
	if err != nil {
		return nil, fmt.Errorf("read due notifications: %w", err)
	}
	return out, nil
}

// ClaimDue leases the oldest claimable due items to owner, in one statement.
func (s *Store) ClaimDue(ctx context.Context, owner string, at, leaseUntil time.Time, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	if owner == "" {
		return nil, fmt.Errorf("claim due notifications: owner is empty: %w", store.ErrInvalid)
	}
	rows, err := s.q.Query(ctx, sqlOutboxClaim, owner, nanos(leaseUntil), nanos(at), owner, nanos(at), limit)
	if err != nil {
		return nil, fmt.Errorf("claim due notifications: %w", err)
	}
	out, seqs, err := scanOutbox(rows, true)
	if err != nil {
		return nil, fmt.Errorf("claim due notifications: %w", err)
	}
	sortOutbox(out, seqs)
	return out, nil
}

// sortOutbox puts items in Due's order: CreatedAt, then insertion order (seqs[i] is items[i]'s).
func sortOutbox(items []store.OutboxItem, seqs []int64) {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := items[idx[a]], items[idx[b]]
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c < 0
		}
		return seqs[idx[a]] < seqs[idx[b]]
	})
	sorted := make([]store.OutboxItem, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
}

// scanOutbox reads outbox rows (with a leading seq column when withSeq) and closes rows.
func scanOutbox(rows pgx.Rows, withSeq bool) ([]store.OutboxItem, []int64, error) {
	defer rows.Close()
	var out []store.OutboxItem
	var seqs []int64
	for rows.Next() {
		var it store.OutboxItem
		var params string
		var seq, next, created int64
		dest := []any{&it.ID, &it.AuthID, &it.URL, &it.Method, &params, &it.OrderKey, &it.Attempts,
			&next, &created, &it.LastError}
		if withSeq {
			dest = append([]any{&seq}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		// Params were written by url.Values.Encode, so they parse back; a damaged row
		// still goes out with whatever parsed rather than blocking the queue.
		it.Params, _ = url.ParseQuery(params)
		it.NextAttempt = fromNanos(next)
		it.CreatedAt = fromNanos(created)
		out = append(out, it)
		seqs = append(seqs, seq)
	}
	return out, seqs, rows.Err()
}

// finish moves a pending item to a final state. Finishing an already finished item changes
// nothing; an unknown id is store.ErrNotFound.
func (s *Store) finish(ctx context.Context, id string, state int, reason *string) error {
	var res pgconn.CommandTag
	var err error
	if reason != nil {
		res, err = s.q.Exec(ctx, sqlOutboxFinishReason, state, nanos(now()), *reason, id)
	} else {
		res, err = s.q.Exec(ctx, sqlOutboxFinish, state, nanos(now()), id)
	}
	if err != nil {
		return err
	}
	return s.checkTouched(ctx, res, id)
}

// checkTouched turns "no row updated" into ErrNotFound when the id does not exist at all.
func (s *Store) checkTouched(ctx context.Context, res pgconn.CommandTag, id string) error {
	if res.RowsAffected() > 0 {
		return nil
	}
	ok, err := exists(ctx, s.q, sqlOutboxExists, id)
	if err != nil {
		return err
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

// MarkDelivered finishes the item as delivered.
func (s *Store) MarkDelivered(ctx context.Context, id string) error {
	if err := s.finish(ctx, id, outboxDelivered, nil); err != nil {
		return fmt.Errorf("mark notification %s delivered: %w", id, err)
	}
	return nil
}

// Drop finishes the item undelivered, keeping reason as its last error.
func (s *Store) Drop(ctx context.Context, id, reason string) error {
	if err := s.finish(ctx, id, outboxDropped, &reason); err != nil {
		return fmt.Errorf("drop notification %s: %w", id, err)
	}
	return nil
}

// Reschedule records a failed attempt of a pending item.
func (s *Store) Reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	res, err := s.q.Exec(ctx, sqlOutboxReschedule, attempts, nanos(next), lastError, id)
	if err == nil {
		err = s.checkTouched(ctx, res, id)
	}
	if err != nil {
		return fmt.Errorf("reschedule notification %s: %w", id, err)
	}
	return nil
}

// Pending counts the items not yet delivered or dropped.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE state = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}

// Backlog counts the pending items and finds the oldest one's CreatedAt (the outbox_pending
// index covers both).
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest *int64 // NULL when nothing is pending
	err := s.q.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE state = 0`).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("measure the outbox backlog: %w", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, fromNanos(*oldest), nil
}

// Prune deletes delivered and dropped items finished before the cutoff.
func (s *Store) Prune(ctx context.Context, olderThan time.Time) (int, error) {
	res, err := s.q.Exec(ctx, `DELETE FROM outbox WHERE state <> 0 AND finished_at < ?`, nanos(olderThan))
	if err != nil {
		return 0, fmt.Errorf("prune finished notifications: %w", err)
	}
	return int(res.RowsAffected()), nil
}

const sqlOutboxRecent = `SELECT id, auth_id, url, method, params, order_key, attempts,
	next_attempt, created_at, last_error, state, finished_at FROM outbox
	WHERE auth_id = ? ORDER BY seq DESC LIMIT ?`

// RecentOutbox returns the account's newest notifications, whatever their state.
func (s *Store) RecentOutbox(ctx context.Context, authID string, limit int) ([]store.OutboxRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, sqlOutboxRecent, authID, limit)
	if err != nil {
		return nil, fmt.Errorf("list recent notifications: %w", err)
	}
	defer rows.Close()
	var out []store.OutboxRecord
	for rows.Next() {
		var it store.OutboxRecord
		var params string
		var next, created int64
		var state int16
		var finished *int64
		if err := rows.Scan(&it.ID, &it.AuthID, &it.URL, &it.Method, &params, &it.OrderKey, &it.Attempts,
			&next, &created, &it.LastError, &state, &finished); err != nil {
			return nil, fmt.Errorf("list recent notifications: %w", err)
		}
		it.Params, _ = url.ParseQuery(params)
		it.NextAttempt = fromNanos(next)
		it.CreatedAt = fromNanos(created)
		it.State = store.OutboxState(state)
		if finished != nil {
			it.FinishedAt = fromNanos(*finished)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list recent notifications: %w", err)
	}
	return out, nil
}
