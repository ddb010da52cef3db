package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/internal/store"
)

// sqlLiveCallNode reads the call directory; it runs for REST requests about a call.
const sqlLiveCallNode = `SELECT node_id FROM calls WHERE call_uuid = ? AND end_time IS NULL`

// LiveCallNode returns the node of a live leg.
func (s *Store) LiveCallNode(ctx context.Context, callUUID string) (string, error) {
	var node string
	err := s.q.QueryRow(ctx, sqlLiveCallNode, callUUID).Scan(&node)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("live call %s: %w", callUUID, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("live call %s: %w", callUUID, err)
	}
	return node, nil
}

// CloseNodeCalls ends the live legs of a node boot and queues their notifications, in one
// transaction. Several survivors run it at once for a dead node: the legs are locked in
// CallUUID order (so two runs cannot deadlock), and a leg another run closed meanwhile fails
// "end_time IS NULL", which FOR UPDATE checks again on the row's newest version, so it is
// closed, and its notification queued, once.
func (s *Store) CloseNodeCalls(ctx context.Context, nb store.NodeBoot, c store.CallClosing) ([]store.CallRecord, error) {
	if nb.NodeID == "" {
		return nil, fmt.Errorf("close the calls of a node: the node id is empty: %w", store.ErrInvalid)
	}
	boot := `boot_id = ?`
	if nb.OtherBoots {
		boot = `boot_id <> ?`
	}
	var closed []store.CallRecord
	err := s.tx(ctx, writeTx, func(tx db) error {
		closed = nil
		rows, err := tx.Query(ctx, `UPDATE calls SET end_time = ?, hangup_cause_code = ?, hangup_cause = ?,
			hangup_cause_name = ?, hangup_source = ?
			WHERE call_uuid IN (SELECT call_uuid FROM calls
				WHERE node_id = ? AND `+boot+` AND end_time IS NULL ORDER BY call_uuid FOR UPDATE)
			RETURNING `+callColumns,
			nanos(c.EndTime), c.HangupCauseCode, c.HangupCause, c.HangupCauseName, c.HangupSource, nb.NodeID, nb.BootID)
		if err != nil {
			return err
		}
		for rows.Next() {
			rec, err := scanCall(rows)
			if err != nil {
				rows.Close()
				return err
			}
			closed = append(closed, rec)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(closed, func(a, b store.CallRecord) int { return strings.Compare(a.CallUUID, b.CallUUID) })
		for i := range closed {
			if c.Finish == nil {
				continue
			}
			status, n := c.Finish(closed[i])
			if status != "" {
				if _, err := tx.Exec(ctx, `UPDATE calls SET call_status = ? WHERE call_uuid = ?`, status, closed[i].CallUUID); err != nil {
					return err
				}
				closed[i].CallStatus = status
			}
			if n != nil {
				if err := enqueue(ctx, tx, *n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("close the calls of node %s: %w", nb.NodeID, err)
	}
	return closed, nil
}
