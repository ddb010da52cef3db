package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/internal/store"
)

const endpointCols = `endpoint_id, auth_id, username, password, alias, app_id, created_at, updated_at`

func scanEndpoint(sc scanner) (store.Endpoint, error) {
	var e store.Endpoint
	var appID *string
	var created, updated int64
	if err := sc.Scan(&e.EndpointID, &e.AuthID, &e.Username, &e.Password, &e.Alias, &appID, &created, &updated); err != nil {
		return store.Endpoint{}, err
	}
	if appID != nil {
		e.AppID = *appID
	}
	e.CreatedAt = fromNanos(created)
	e.UpdatedAt = fromNanos(updated)
	return e, nil
}

// whereUsername finds the endpoint of a REGISTER or INVITE.
const whereUsername = `username = ?`

// endpointQuery selects the endpoints matching where.
func endpointQuery(where string) string {
	return `SELECT ` + endpointCols + ` FROM endpoints WHERE ` + where
}

func getEndpoint(ctx context.Context, q db, where string, args ...any) (store.Endpoint, error) {
	e, err := scanEndpoint(q.QueryRow(ctx, endpointQuery(where), args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Endpoint{}, store.ErrNotFound
	}
	return e, err
}

// checkEndpointApp returns ErrBadReference unless appID is an application of the account.
func checkEndpointApp(ctx context.Context, tx db, authID, appID string) error {
	ok, err := exists(ctx, tx, `SELECT 1 FROM applications WHERE auth_id = ? AND app_id = ?`, authID, appID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("application %s: %w", appID, store.ErrBadReference)
	}
	return nil
}

func nullAppID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// CreateEndpoint stores a new endpoint with a fresh endpoint_id.
func (s *Store) CreateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error) {
	switch {
	case e.AuthID == "":
		return store.Endpoint{}, fmt.Errorf("create endpoint: auth_id is empty: %w", store.ErrInvalid)
	case e.Username == "":
		return store.Endpoint{}, fmt.Errorf("create endpoint: username is empty: %w", store.ErrInvalid)
	}
	if e.Alias == "" {
		e.Alias = e.Username
	}
	e.CreatedAt = now()
	e.UpdatedAt = e.CreatedAt
	err := s.tx(ctx, writeTx, func(tx db) error {
		// The application is checked before the username: a bad reference is the API's 400,
		// which comes before its 409 (vobiz-api.md §1.6).
		if e.AppID == "" {
			err := tx.QueryRow(ctx, `SELECT app_id FROM applications WHERE auth_id = ? AND default_endpoint_app`,
				e.AuthID).Scan(&e.AppID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		} else if err := checkEndpointApp(ctx, tx, e.AuthID, e.AppID); err != nil {
			return err
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM endpoints WHERE username = ?`, e.Username)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("username %s: %w", e.Username, store.ErrConflict)
		}
		if e.EndpointID, err = newUniqueNumericID(ctx, tx, "endpoints", "endpoint_id"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO endpoints (`+endpointCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.EndpointID, e.AuthID, e.Username, e.Password, e.Alias, nullAppID(e.AppID), nanos(e.CreatedAt), nanos(e.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("username %s: %w", e.Username, store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	return e, nil
}

// GetEndpoint returns store.ErrNotFound unless endpointID exists in the account.
func (s *Store) GetEndpoint(ctx context.Context, authID, endpointID string) (store.Endpoint, error) {
	e, err := getEndpoint(ctx, s.q, `auth_id = ? AND endpoint_id = ?`, authID, endpointID)
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("endpoint %s: %w", endpointID, err)
	}
	return e, nil
}

// GetEndpointByUsername finds an endpoint in any account.
func (s *Store) GetEndpointByUsername(ctx context.Context, username string) (store.Endpoint, error) {
	e, err := getEndpoint(ctx, s.q, whereUsername, username)
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("endpoint with username %s: %w", username, err)
	}
	return e, nil
}

// ListEndpoints returns one page, oldest first, and the total number of matches.
func (s *Store) ListEndpoints(ctx context.Context, authID string, f store.EndpointFilter) ([]store.Endpoint, int, error) {
	where := `auth_id = ?`
	args := []any{authID}
	add := func(cond string, v *string, n int) {
		if v != nil {
			where += ` AND ` + cond
			for range n {
				args = append(args, *v)
			}
		}
	}
	// strpos and starts_with compare exactly, unlike LIKE (no wildcards).
	add(`strpos(username, ?) > 0`, f.UsernameContains, 1)
	add(`username = ?`, f.UsernameExact, 1)
	add(`starts_with(username, ?)`, f.UsernameStartsWith, 1)
	add(`strpos(alias, ?) > 0`, f.AliasContains, 1)
	add(`alias = ?`, f.AliasExact, 1)
	add(`app_id = ?`, f.AppIDExact, 1)
	if f.AppIDIsNull != nil {
		if *f.AppIDIsNull {
			where += ` AND app_id IS NULL`
		} else {
			where += ` AND app_id IS NOT NULL`
		}
	}
	var out []store.Endpoint
	var total int
	err := s.tx(ctx, readTx, func(tx db) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE `+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+endpointCols+` FROM endpoints WHERE `+where+
			` ORDER BY created_at, seq LIMIT ? OFFSET ?`, append(args, sqlLimit(f.Limit), sqlOffset(f.Offset))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEndpoint(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list endpoints: %w", err)
	}
	return out, total, nil
}

// UpdateEndpoint applies the patch and returns the updated row.
func (s *Store) UpdateEndpoint(ctx context.Context, authID, endpointID string, p store.EndpointPatch) (store.Endpoint, error) {
	var e store.Endpoint
	err := s.tx(ctx, writeTx, func(tx db) error {
		var err error
		e, err = getEndpoint(ctx, tx, `auth_id = ? AND endpoint_id = ?`, authID, endpointID)
		if err != nil {
			return err
		}
		if p.Alias != nil {
			e.Alias = *p.Alias
		}
		if p.Password != nil {
			e.Password = *p.Password
		}
		if p.AppID != nil {
			if *p.AppID != "" {
				if err := checkEndpointApp(ctx, tx, authID, *p.AppID); err != nil {
					return err
				}
			}
			e.AppID = *p.AppID
		}
		e.UpdatedAt = now()
		_, err = tx.Exec(ctx, `UPDATE endpoints SET alias = ?, password = ?, app_id = ?, updated_at = ?
			WHERE endpoint_id = ?`, e.Alias, e.Password, nullAppID(e.AppID), nanos(e.UpdatedAt), e.EndpointID)
		return err
	})
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("update endpoint %s: %w", endpointID, err)
	}
	return e, nil
}

// DeleteEndpoint returns store.ErrNotFound for an unknown id.
func (s *Store) DeleteEndpoint(ctx context.Context, authID, endpointID string) error {
	res, err := s.q.Exec(ctx, `DELETE FROM endpoints WHERE auth_id = ? AND endpoint_id = ?`, authID, endpointID)
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", endpointID, err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("endpoint %s: %w", endpointID, store.ErrNotFound)
	}
	return nil
}
