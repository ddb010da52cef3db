package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

// The call record statements, prepared at Open (they run for every call).
const (
	sqlCallInsert = `INSERT INTO calls (call_uuid, auth_id, parent_call_uuid, direction,
			from_party, to_party, caller_name, start_time, answer_time, end_time, hangup_cause_code,
			hangup_cause, hangup_cause_name, hangup_source, sip_call_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlCallWarningInsert = `INSERT INTO call_warnings (call_uuid, text) VALUES (?, ?)`
	sqlCallExists        = `SELECT 1 FROM calls WHERE call_uuid = ?`
)

// execer is what cachedDB and cachedTx offer for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertCall writes the call row and its warnings.
func insertCall(ctx context.Context, q execer, c store.CallRecord) error {
	_, err := q.ExecContext(ctx, sqlCallInsert,
		c.CallUUID, c.AuthID, c.ParentCallUUID, c.Direction, c.From, c.To, c.CallerName,
		nanos(c.StartTime), nullNanos(c.AnswerTime), nullNanos(c.EndTime), c.HangupCauseCode,
		c.HangupCause, c.HangupCauseName, c.HangupSource, c.SIPCallID)
	if isUniqueViolation(err) {
		return store.ErrConflict
	}
	if err != nil {
		return err
	}
	for _, w := range c.Warnings {
		if _, err := q.ExecContext(ctx, sqlCallWarningInsert, c.CallUUID, w); err != nil {
			return err
		}
	}
	return nil
}

// InsertCall stores a new call leg with its warnings.
func (s *Store) InsertCall(ctx context.Context, c store.CallRecord) error {
	if c.CallUUID == "" {
		return fmt.Errorf("save call: CallUUID is empty: %w", store.ErrInvalid)
	}
	var err error
	if len(c.Warnings) == 0 {
		err = insertCall(ctx, s.q, c) // one statement: no transaction needed
	} else {
		err = s.tx(ctx, func(tx *sql.Tx) error { return insertCall(ctx, cachedTx{tx, s.stmts}, c) })
	}
	if err != nil {
		return fmt.Errorf("save call %s: %w", c.CallUUID, err)
	}
	return nil
}

// UpdateCall changes the answer and end fields that p sets.
func (s *Store) UpdateCall(ctx context.Context, callUUID string, p store.CallPatch) error {
	set := ``
	var args []any
	add := func(col string, v any) {
		if set != "" {
			set += `, `
		}
		set += col + ` = ?`
		args = append(args, v)
	}
	if p.AnswerTime != nil {
		add(`answer_time`, nanos(*p.AnswerTime))
	}
	if p.EndTime != nil {
		add(`end_time`, nanos(*p.EndTime))
	}
	if p.HangupCauseCode != nil {
		add(`hangup_cause_code`, *p.HangupCauseCode)
	}
	if p.HangupCause != nil {
		add(`hangup_cause`, *p.HangupCause)
	}
	if p.HangupCauseName != nil {
		add(`hangup_cause_name`, *p.HangupCauseName)
	}
	if p.HangupSource != nil {
		add(`hangup_source`, *p.HangupSource)
	}
	if p.SIPCallID != nil {
		add(`sip_call_id`, *p.SIPCallID)
	}
	if set == "" {
		// Nothing to change; still report an unknown call.
		ok, err := exists(ctx, s.q, sqlCallExists, callUUID)
		if err != nil {
			return fmt.Errorf("update call %s: %w", callUUID, err)
		}
		if !ok {
			return fmt.Errorf("call %s: %w", callUUID, store.ErrNotFound)
		}
		return nil
	}
	// The SET list has one of a few shapes, each prepared once.
	res, err := s.q.ExecContext(ctx, `UPDATE calls SET `+set+` WHERE call_uuid = ?`, append(args, callUUID)...)
	if err != nil {
		return fmt.Errorf("update call %s: %w", callUUID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update call %s: %w", callUUID, err)
	} else if n == 0 {
		return fmt.Errorf("call %s: %w", callUUID, store.ErrNotFound)
	}
	return nil
}

// AddCallWarning appends a warning to the call.
func (s *Store) AddCallWarning(ctx context.Context, callUUID, text string) error {
	_, err := s.q.ExecContext(ctx, sqlCallWarningInsert, callUUID, text)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("call %s: %w", callUUID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add warning to call %s: %w", callUUID, err)
	}
	return nil
}

// GetCall returns the call record with its warnings.
func (s *Store) GetCall(ctx context.Context, callUUID string) (store.CallRecord, error) {
	var c store.CallRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var start int64
		var answer, end sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT call_uuid, auth_id, parent_call_uuid, direction, from_party,
			to_party, caller_name, start_time, answer_time, end_time, hangup_cause_code, hangup_cause,
			hangup_cause_name, hangup_source, sip_call_id FROM calls WHERE call_uuid = ?`, callUUID).
			Scan(&c.CallUUID, &c.AuthID, &c.ParentCallUUID, &c.Direction, &c.From, &c.To, &c.CallerName,
				&start, &answer, &end, &c.HangupCauseCode, &c.HangupCause, &c.HangupCauseName,
				&c.HangupSource, &c.SIPCallID)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		c.StartTime = fromNanos(start)
		c.AnswerTime = fromNullNanos(answer)
		c.EndTime = fromNullNanos(end)
		rows, err := tx.QueryContext(ctx, `SELECT text FROM call_warnings WHERE call_uuid = ? ORDER BY seq`, callUUID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w string
			if err := rows.Scan(&w); err != nil {
				return err
			}
			c.Warnings = append(c.Warnings, w)
		}
		return rows.Err()
	})
	if err != nil {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", callUUID, err)
	}
	return c, nil
}

// PruneCalls deletes records of calls that ended before the cutoff (their warnings go too).
func (s *Store) PruneCalls(ctx context.Context, endedBefore time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM calls WHERE end_time IS NOT NULL AND end_time < ?`, nanos(endedBefore))
	if err != nil {
		return 0, fmt.Errorf("prune call records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune call records: %w", err)
	}
	return int(n), nil
}
