package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

// The call record statements, prepared at Open (they run for every call).
const (
	sqlCallInsert = `INSERT INTO calls (call_uuid, auth_id, parent_call_uuid, direction,
			from_party, to_party, caller_name, start_time, answer_time, end_time, hangup_cause_code,
			hangup_cause, hangup_cause_name, hangup_source, sip_call_id, source_ip, conference_uuid, call_status,
			node_id, boot_id, hangup_url, hangup_method, hangup_params)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
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
		c.HangupCause, c.HangupCauseName, c.HangupSource, c.SIPCallID, c.SourceIP, c.ConferenceUUID, c.CallStatus,
		c.NodeID, c.BootID, c.HangupURL, c.HangupMethod, c.HangupParams.Encode())
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
	if p.ConferenceUUID != nil {
		add(`conference_uuid`, *p.ConferenceUUID)
	}
	if p.CallStatus != nil {
		add(`call_status`, *p.CallStatus)
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
	where := ` WHERE call_uuid = ?`
	if p.WhileLive {
		where += ` AND end_time IS NULL`
	}
	// The SET list has one of a few shapes, each prepared once.
	res, err := s.q.ExecContext(ctx, `UPDATE calls SET `+set+where, append(args, callUUID)...)
	if err != nil {
		return fmt.Errorf("update call %s: %w", callUUID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update call %s: %w", callUUID, err)
	} else if n == 0 {
		return s.notUpdated(ctx, callUUID)
	}
	return nil
}

// notUpdated is the error of an update that changed no row: the leg is unknown, or it ended
// already (an update WhileLive).
func (s *Store) notUpdated(ctx context.Context, callUUID string) error {
	ok, err := exists(ctx, s.q, sqlCallExists, callUUID)
	if err != nil {
		return fmt.Errorf("update call %s: %w", callUUID, err)
	}
	if ok {
		return fmt.Errorf("call %s has ended: %w", callUUID, store.ErrConflict)
	}
	return fmt.Errorf("call %s: %w", callUUID, store.ErrNotFound)
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
		var err error
		c, err = scanCall(tx.QueryRowContext(ctx, `SELECT `+callColumns+` FROM calls WHERE call_uuid = ?`, callUUID))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
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

// callColumns are the columns scanCall reads, in its order.
const callColumns = `call_uuid, auth_id, parent_call_uuid, direction, from_party, to_party, caller_name,
	start_time, answer_time, end_time, hangup_cause_code, hangup_cause, hangup_cause_name, hangup_source,
	sip_call_id, source_ip, conference_uuid, call_status, node_id, boot_id, hangup_url, hangup_method, hangup_params`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanCall reads one row of callColumns (without warnings).
func scanCall(r rowScanner) (store.CallRecord, error) {
	var c store.CallRecord
	var start int64
	var params string
	var answer, end sql.NullInt64
	err := r.Scan(&c.CallUUID, &c.AuthID, &c.ParentCallUUID, &c.Direction, &c.From, &c.To, &c.CallerName,
		&start, &answer, &end, &c.HangupCauseCode, &c.HangupCause, &c.HangupCauseName, &c.HangupSource,
		&c.SIPCallID, &c.SourceIP, &c.ConferenceUUID, &c.CallStatus, &c.NodeID, &c.BootID, &c.HangupURL,
		&c.HangupMethod, &params)
	if err != nil {
		return store.CallRecord{}, err
	}
	c.StartTime = fromNanos(start)
	c.AnswerTime = fromNullNanos(answer)
	c.EndTime = fromNullNanos(end)
	c.HangupParams = parseParams(params)
	return c, nil
}

// billSeconds is the SQL of a record's whole seconds from answer to end (0 if never answered),
// truncated like the hangup webhook's Duration.
const billSeconds = `(CASE WHEN answer_time IS NULL THEN 0 ELSE (end_time - answer_time) / 1000000000 END)`

// ListCalls returns one page of the account's ended legs matching f, newest end first.
func (s *Store) ListCalls(ctx context.Context, authID string, f store.CallFilter) ([]store.CallRecord, int, error) {
	where := `auth_id = ? AND end_time IS NOT NULL`
	args := []any{authID}
	add := func(cond string, v ...any) {
		where += ` AND ` + cond
		args = append(args, v...)
	}
	if f.CallStatus != "" {
		add(`call_status = ?`, f.CallStatus)
	}
	if f.Direction != "" {
		add(`direction = ?`, f.Direction)
	}
	// substr compares exactly (LIKE would fold case and treat % and _ as wildcards).
	if f.FromPrefix != "" {
		add(`substr(from_party, 1, length(?)) = ?`, f.FromPrefix, f.FromPrefix)
	}
	if f.ToPrefix != "" {
		add(`substr(to_party, 1, length(?)) = ?`, f.ToPrefix, f.ToPrefix)
	}
	if f.ParentCallUUID != "" {
		add(`parent_call_uuid = ?`, f.ParentCallUUID)
	}
	if f.BillDurationMin != nil {
		add(billSeconds+` >= ?`, *f.BillDurationMin)
	}
	if f.BillDurationMax != nil {
		add(billSeconds+` <= ?`, *f.BillDurationMax)
	}
	if f.EndFrom != nil {
		add(`end_time >= ?`, f.EndFrom.UnixNano())
	}
	if f.EndBefore != nil {
		add(`end_time < ?`, f.EndBefore.UnixNano())
	}
	if f.HangupCauseCode != nil {
		add(`hangup_cause_code = ?`, *f.HangupCauseCode)
	}
	if f.HangupSource != "" {
		add(`hangup_source = ?`, f.HangupSource)
	}
	var out []store.CallRecord
	var total int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM calls WHERE `+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+callColumns+` FROM calls WHERE `+where+
			` ORDER BY end_time DESC, call_uuid LIMIT ? OFFSET ?`, append(args, sqlLimit(f.Limit), sqlOffset(f.Offset))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCall(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list call records: %w", err)
	}
	return out, total, nil
}

// parseParams reads form-encoded parameters written by url.Values.Encode; "" is nil. A damaged
// value keeps what parsed.
func parseParams(s string) url.Values {
	if s == "" {
		return nil
	}
	v, _ := url.ParseQuery(s)
	return v
}
