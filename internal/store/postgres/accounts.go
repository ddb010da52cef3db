package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/internal/store"
)

// UpsertAccount inserts the account or updates its token.
func (s *Store) UpsertAccount(ctx context.Context, authID, authToken string) error {
	if authID == "" {
		return fmt.Errorf("save account: auth_id is empty: %w", store.ErrInvalid)
	}
	t := nanos(now())
	_, err := s.q.Exec(ctx, `INSERT INTO accounts (auth_id, auth_token, created_at, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (auth_id) DO UPDATE SET auth_token = excluded.auth_token, updated_at = excluded.updated_at`,
		authID, authToken, t, t)
	if err != nil {
		return fmt.Errorf("save account %s: %w", authID, err)
	}
	return nil
}

// GetAccount returns store.ErrNotFound for an unknown id.
func (s *Store) GetAccount(ctx context.Context, authID string) (store.Account, error) {
	var a store.Account
	var created int64
	err := s.q.QueryRow(ctx, `SELECT auth_id, auth_token, created_at FROM accounts WHERE auth_id = ?`, authID).
		Scan(&a.AuthID, &a.AuthToken, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Account{}, fmt.Errorf("account %s: %w", authID, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("read account %s: %w", authID, err)
	}
	a.CreatedAt = fromNanos(created)
	return a, nil
}

// ListAccounts returns all accounts ordered by auth_id.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.q.Query(ctx, `SELECT auth_id, auth_token, created_at FROM accounts ORDER BY auth_id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created int64
		if err := rows.Scan(&a.AuthID, &a.AuthToken, &created); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		a.CreatedAt = fromNanos(created)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}
