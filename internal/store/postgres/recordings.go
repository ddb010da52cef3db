package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/internal/store"
)

const recordingCols = `recording_id, auth_id, call_uuid, conference_name, from_number, to_number,
	format, type, start_ms, end_ms, duration_ms, file_path, add_time, node_id`

func scanRecording(sc scanner) (store.Recording, error) {
	var r store.Recording
	var conf *string
	var added int64
	err := sc.Scan(&r.RecordingID, &r.AuthID, &r.CallUUID, &conf, &r.FromNumber, &r.ToNumber,
		&r.Format, &r.Type, &r.StartMs, &r.EndMs, &r.DurationMs, &r.FilePath, &added, &r.NodeID)
	if err != nil {
		return store.Recording{}, err
	}
	r.ConferenceName = conf
	r.AddTime = fromNanos(added)
	return r, nil
}

// InsertRecording stores the metadata of a final recording.
func (s *Store) InsertRecording(ctx context.Context, r store.Recording) (store.Recording, error) {
	switch {
	case r.AuthID == "":
		return store.Recording{}, fmt.Errorf("save recording: auth_id is empty: %w", store.ErrInvalid)
	case r.Format != "mp3" && r.Format != "wav":
		return store.Recording{}, fmt.Errorf("save recording: format %q is not mp3 or wav: %w", r.Format, store.ErrInvalid)
	case r.Type != "call" && r.Type != "conference":
		return store.Recording{}, fmt.Errorf("save recording: type %q is not call or conference: %w", r.Type, store.ErrInvalid)
	}
	if r.RecordingID == "" {
		r.RecordingID = uuid.NewString()
	}
	if r.AddTime.IsZero() {
		r.AddTime = now()
	}
	r.AddTime = r.AddTime.UTC()
	_, err := s.q.Exec(ctx, `INSERT INTO recordings (`+recordingCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RecordingID, r.AuthID, r.CallUUID, r.ConferenceName, r.FromNumber, r.ToNumber,
		r.Format, r.Type, r.StartMs, r.EndMs, r.DurationMs, r.FilePath, nanos(r.AddTime), r.NodeID)
	if isUniqueViolation(err) {
		return store.Recording{}, fmt.Errorf("recording %s: %w", r.RecordingID, store.ErrConflict)
	}
	if err != nil {
		return store.Recording{}, fmt.Errorf("save recording %s: %w", r.RecordingID, err)
	}
	return r, nil
}

// GetRecording returns store.ErrNotFound unless recordingID exists in the account.
func (s *Store) GetRecording(ctx context.Context, authID, recordingID string) (store.Recording, error) {
	r, err := scanRecording(s.q.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings
		WHERE auth_id = ? AND recording_id = ?`, authID, recordingID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Recording{}, fmt.Errorf("recording %s: %w", recordingID, store.ErrNotFound)
	}
	if err != nil {
		return store.Recording{}, fmt.Errorf("read recording %s: %w", recordingID, err)
	}
	return r, nil
}

// ListRecordings returns one page, newest first, and the total number of matches.
func (s *Store) ListRecordings(ctx context.Context, authID string, f store.RecordingFilter) ([]store.Recording, int, error) {
	where := `auth_id = ?`
	args := []any{authID}
	add := func(cond string, v any) {
		where += ` AND ` + cond
		args = append(args, v)
	}
	for _, c := range []struct{ cond, v string }{
		{`call_uuid = ?`, f.CallUUID},
		{`conference_name = ?`, f.ConferenceName},
		{`call_uuid = ? AND type = 'conference'`, f.ConferenceUUID},
		{`from_number = ?`, f.FromNumber},
		{`to_number = ?`, f.ToNumber},
		{`type = ?`, f.Type},
	} {
		if c.v != "" {
			add(c.cond, c.v)
		}
	}
	if f.AddTimeGT != nil {
		add(`add_time > ?`, nanos(*f.AddTimeGT))
	}
	if f.AddTimeGTE != nil {
		add(`add_time >= ?`, nanos(*f.AddTimeGTE))
	}
	if f.AddTimeLT != nil {
		add(`add_time < ?`, nanos(*f.AddTimeLT))
	}
	if f.AddTimeLTE != nil {
		add(`add_time <= ?`, nanos(*f.AddTimeLTE))
	}
	var out []store.Recording
	var total int
	err := s.tx(ctx, readTx, func(tx db) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM recordings WHERE `+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE `+where+
			` ORDER BY add_time DESC, seq DESC LIMIT ? OFFSET ?`, append(args, sqlLimit(f.Limit), sqlOffset(f.Offset))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecording(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list recordings: %w", err)
	}
	return out, total, nil
}

// DeleteRecording deletes the row and returns it.
func (s *Store) DeleteRecording(ctx context.Context, authID, recordingID string) (store.Recording, error) {
	r, err := scanRecording(s.q.QueryRow(ctx, `DELETE FROM recordings WHERE auth_id = ? AND recording_id = ?
		RETURNING `+recordingCols, authID, recordingID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Recording{}, fmt.Errorf("recording %s: %w", recordingID, store.ErrNotFound)
	}
	if err != nil {
		return store.Recording{}, fmt.Errorf("delete recording %s: %w", recordingID, err)
	}
	return r, nil
}
