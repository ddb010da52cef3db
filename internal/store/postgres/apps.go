package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/internal/store"
)

const appCols = `app_id, auth_id, config_key, app_name, answer_url, answer_method, hangup_url,
	hangup_method, fallback_answer_url, fallback_method, message_url, message_method,
	default_number_app, default_endpoint_app, public_uri, enabled, log_incoming_message,
	sip_transfer_url, sip_transfer_method, created_at, updated_at`

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanApp(sc scanner) (store.Application, error) {
	var a store.Application
	var configKey, fallback, message, transfer *string
	var created, updated int64
	err := sc.Scan(&a.AppID, &a.AuthID, &configKey, &a.AppName, &a.AnswerURL, &a.AnswerMethod,
		&a.HangupURL, &a.HangupMethod, &fallback, &a.FallbackMethod, &message, &a.MessageMethod,
		&a.DefaultNumberApp, &a.DefaultEndpointApp, &a.PublicURI, &a.Enabled, &a.LogIncomingMessage,
		&transfer, &a.SIPTransferMethod, &created, &updated)
	if err != nil {
		return store.Application{}, err
	}
	if configKey != nil {
		a.ConfigKey = *configKey
	}
	a.FallbackAnswerURL = fallback
	a.MessageURL = message
	a.SIPTransferURL = transfer
	a.CreatedAt = fromNanos(created)
	a.UpdatedAt = fromNanos(updated)
	return a, nil
}

// Where clauses of the application look-ups made for calls.
const (
	whereAppInAccount    = `auth_id = ? AND app_id = ?`
	whereAppID           = `app_id = ?`
	whereDefaultNumber   = `auth_id = ? AND default_number_app`
	whereDefaultEndpoint = `auth_id = ? AND default_endpoint_app`
)

// appQuery selects the applications matching where.
func appQuery(where string) string {
	return `SELECT ` + appCols + ` FROM applications WHERE ` + where
}

// getApp reads one application; the where clause selects it.
func getApp(ctx context.Context, q db, where string, args ...any) (store.Application, error) {
	a, err := scanApp(q.QueryRow(ctx, appQuery(where), args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Application{}, store.ErrNotFound
	}
	return a, err
}

// normalizeApp fills create-time defaults and checks the required fields.
func normalizeApp(a *store.Application) error {
	for _, m := range []*string{&a.AnswerMethod, &a.HangupMethod, &a.FallbackMethod, &a.MessageMethod, &a.SIPTransferMethod} {
		if *m == "" {
			*m = "POST"
		}
	}
	if a.HangupURL == "" {
		a.HangupURL = a.AnswerURL
	}
	switch {
	case a.AuthID == "":
		return fmt.Errorf("auth_id is empty: %w", store.ErrInvalid)
	case a.AppName == "":
		return fmt.Errorf("app_name is empty: %w", store.ErrInvalid)
	case a.AnswerURL == "":
		return fmt.Errorf("answer_url is empty: %w", store.ErrInvalid)
	}
	return nil
}

func nullConfigKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

func insertApp(ctx context.Context, tx db, a store.Application) error {
	_, err := tx.Exec(ctx, `INSERT INTO applications (`+appCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.AppID, a.AuthID, nullConfigKey(a.ConfigKey), a.AppName, a.AnswerURL, a.AnswerMethod,
		a.HangupURL, a.HangupMethod, a.FallbackAnswerURL, a.FallbackMethod,
		a.MessageURL, a.MessageMethod, a.DefaultNumberApp, a.DefaultEndpointApp,
		a.PublicURI, a.Enabled, a.LogIncomingMessage, a.SIPTransferURL,
		a.SIPTransferMethod, nanos(a.CreatedAt), nanos(a.UpdatedAt))
	return err
}

// writeApp overwrites the mutable fields of the application a.AppID.
func writeApp(ctx context.Context, tx db, a store.Application) error {
	_, err := tx.Exec(ctx, `UPDATE applications SET app_name = ?, answer_url = ?,
		answer_method = ?, hangup_url = ?, hangup_method = ?, fallback_answer_url = ?,
		fallback_method = ?, message_url = ?, message_method = ?, default_number_app = ?,
		default_endpoint_app = ?, public_uri = ?, enabled = ?, log_incoming_message = ?,
		sip_transfer_url = ?, sip_transfer_method = ?, updated_at = ?
		WHERE app_id = ?`,
		a.AppName, a.AnswerURL, a.AnswerMethod, a.HangupURL, a.HangupMethod,
		a.FallbackAnswerURL, a.FallbackMethod, a.MessageURL,
		a.MessageMethod, a.DefaultNumberApp, a.DefaultEndpointApp, a.PublicURI, a.Enabled,
		a.LogIncomingMessage, a.SIPTransferURL, a.SIPTransferMethod,
		nanos(a.UpdatedAt), a.AppID)
	return err
}

// clearOtherDefaults takes the default flags that a holds away from the account's other
// applications, so the partial unique indexes accept a.
func clearOtherDefaults(ctx context.Context, tx db, a store.Application) error {
	t := nanos(now())
	if a.DefaultNumberApp {
		if _, err := tx.Exec(ctx, `UPDATE applications SET default_number_app = false, updated_at = ?
			WHERE auth_id = ? AND app_id <> ? AND default_number_app`, t, a.AuthID, a.AppID); err != nil {
			return err
		}
	}
	if a.DefaultEndpointApp {
		if _, err := tx.Exec(ctx, `UPDATE applications SET default_endpoint_app = false, updated_at = ?
			WHERE auth_id = ? AND app_id <> ? AND default_endpoint_app`, t, a.AuthID, a.AppID); err != nil {
			return err
		}
	}
	return nil
}

// CreateApplication stores a new application with a fresh app_id.
func (s *Store) CreateApplication(ctx context.Context, app store.Application) (store.Application, error) {
	if err := normalizeApp(&app); err != nil {
		return store.Application{}, fmt.Errorf("create application: %w", err)
	}
	app.ConfigKey = ""
	app.CreatedAt = now()
	app.UpdatedAt = app.CreatedAt
	err := s.tx(ctx, writeTx, func(tx db) error {
		if err := lockAccount(ctx, tx, app.AuthID); err != nil {
			return err
		}
		id, err := newUniqueNumericID(ctx, tx, "applications", "app_id")
		if err != nil {
			return err
		}
		app.AppID = id
		if err := clearOtherDefaults(ctx, tx, app); err != nil {
			return err
		}
		return insertApp(ctx, tx, app)
	})
	if err != nil {
		return store.Application{}, fmt.Errorf("create application: %w", err)
	}
	return app, nil
}

// GetApplication returns store.ErrNotFound unless appID exists in the account.
func (s *Store) GetApplication(ctx context.Context, authID, appID string) (store.Application, error) {
	a, err := getApp(ctx, s.q, whereAppInAccount, authID, appID)
	if err != nil {
		return store.Application{}, fmt.Errorf("application %s: %w", appID, err)
	}
	return a, nil
}

// LookupApplication finds an application by id in any account.
func (s *Store) LookupApplication(ctx context.Context, appID string) (store.Application, error) {
	a, err := getApp(ctx, s.q, whereAppID, appID)
	if err != nil {
		return store.Application{}, fmt.Errorf("application %s: %w", appID, err)
	}
	return a, nil
}

// GetApplicationByConfigKey returns the application configured under configKey.
func (s *Store) GetApplicationByConfigKey(ctx context.Context, authID, configKey string) (store.Application, error) {
	a, err := getApp(ctx, s.q, `auth_id = ? AND config_key = ?`, authID, configKey)
	if err != nil {
		return store.Application{}, fmt.Errorf("configured application %q: %w", configKey, err)
	}
	return a, nil
}

// DefaultNumberApp returns the account's default number application.
func (s *Store) DefaultNumberApp(ctx context.Context, authID string) (store.Application, error) {
	a, err := getApp(ctx, s.q, whereDefaultNumber, authID)
	if err != nil {
		return store.Application{}, fmt.Errorf("default number application of %s: %w", authID, err)
	}
	return a, nil
}

// DefaultEndpointApp returns the account's default endpoint application.
func (s *Store) DefaultEndpointApp(ctx context.Context, authID string) (store.Application, error) {
	a, err := getApp(ctx, s.q, whereDefaultEndpoint, authID)
	if err != nil {
		return store.Application{}, fmt.Errorf("default endpoint application of %s: %w", authID, err)
	}
	return a, nil
}

// ListApplications returns one page, oldest first, and the total number of matches.
func (s *Store) ListApplications(ctx context.Context, authID string, f store.AppFilter) ([]store.Application, int, error) {
	where := `auth_id = ?`
	args := []any{authID}
	if f.AppName != nil {
		where += ` AND app_name = ?`
		args = append(args, *f.AppName)
	}
	var out []store.Application
	var total int
	err := s.tx(ctx, readTx, func(tx db) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM applications WHERE `+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+appCols+` FROM applications WHERE `+where+
			` ORDER BY created_at, seq LIMIT ? OFFSET ?`, append(args, sqlLimit(f.Limit), sqlOffset(f.Offset))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanApp(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list applications: %w", err)
	}
	return out, total, nil
}

// applyAppPatch changes a as p says.
func applyAppPatch(a *store.Application, p store.AppPatch) error {
	if (p.FallbackAnswerURL != nil && p.ClearFallbackURL) || (p.MessageURL != nil && p.ClearMessageURL) ||
		(p.SIPTransferURL != nil && p.ClearSIPTransfer) {
		return fmt.Errorf("a URL is both set and cleared: %w", store.ErrInvalid)
	}
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setB := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setN := func(dst **string, v *string, clear bool) {
		switch {
		case clear:
			*dst = nil
		case v != nil:
			s := *v
			*dst = &s
		}
	}
	setS(&a.AppName, p.AppName)
	setS(&a.AnswerURL, p.AnswerURL)
	setS(&a.AnswerMethod, p.AnswerMethod)
	setS(&a.HangupURL, p.HangupURL)
	setS(&a.HangupMethod, p.HangupMethod)
	setN(&a.FallbackAnswerURL, p.FallbackAnswerURL, p.ClearFallbackURL)
	setS(&a.FallbackMethod, p.FallbackMethod)
	setN(&a.MessageURL, p.MessageURL, p.ClearMessageURL)
	setS(&a.MessageMethod, p.MessageMethod)
	setB(&a.DefaultNumberApp, p.DefaultNumberApp)
	setB(&a.DefaultEndpointApp, p.DefaultEndpointApp)
	setB(&a.PublicURI, p.PublicURI)
	setB(&a.Enabled, p.Enabled)
	setB(&a.LogIncomingMessage, p.LogIncomingMessage)
	setN(&a.SIPTransferURL, p.SIPTransferURL, p.ClearSIPTransfer)
	setS(&a.SIPTransferMethod, p.SIPTransferMethod)
	return normalizeApp(a)
}

// UpdateApplication applies the patch and returns the updated row.
func (s *Store) UpdateApplication(ctx context.Context, authID, appID string, p store.AppPatch) (store.Application, error) {
	var a store.Application
	err := s.tx(ctx, writeTx, func(tx db) error {
		if err := lockAccount(ctx, tx, authID); err != nil {
			return err
		}
		var err error
		a, err = getApp(ctx, tx, `auth_id = ? AND app_id = ?`, authID, appID)
		if err != nil {
			return err
		}
		if err := applyAppPatch(&a, p); err != nil {
			return err
		}
		a.UpdatedAt = now()
		if err := clearOtherDefaults(ctx, tx, a); err != nil {
			return err
		}
		return writeApp(ctx, tx, a)
	})
	if err != nil {
		return store.Application{}, fmt.Errorf("update application %s: %w", appID, err)
	}
	return a, nil
}

// DeleteApplication deletes the application and handles its endpoints as opt says.
func (s *Store) DeleteApplication(ctx context.Context, authID, appID string, opt store.DeleteAppOptions) error {
	err := s.tx(ctx, writeTx, func(tx db) error {
		if err := lockAccount(ctx, tx, authID); err != nil {
			return err
		}
		if _, err := getApp(ctx, tx, `auth_id = ? AND app_id = ?`, authID, appID); err != nil {
			return err
		}
		t := nanos(now())
		switch {
		case opt.NewEndpointAppID != "":
			if opt.NewEndpointAppID == appID {
				return fmt.Errorf("endpoints cannot move to the application being deleted: %w", store.ErrBadReference)
			}
			if _, err := getApp(ctx, tx, `auth_id = ? AND app_id = ?`, authID, opt.NewEndpointAppID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("new endpoint application %s: %w", opt.NewEndpointAppID, store.ErrBadReference)
				}
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE endpoints SET app_id = ?, updated_at = ? WHERE app_id = ?`,
				opt.NewEndpointAppID, t, appID); err != nil {
				return err
			}
		case opt.CascadeEndpoints:
			if _, err := tx.Exec(ctx, `DELETE FROM endpoints WHERE app_id = ?`, appID); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, `UPDATE endpoints SET app_id = NULL, updated_at = ? WHERE app_id = ?`,
				t, appID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM applications WHERE app_id = ?`, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete application %s: %w", appID, err)
	}
	return nil
}

// sameAppSettings reports whether a and b have the same configurable fields.
func sameAppSettings(a, b store.Application) bool {
	eq := func(x, y *string) bool {
		if x == nil || y == nil {
			return x == y
		}
		return *x == *y
	}
	return a.AppName == b.AppName && a.AnswerURL == b.AnswerURL && a.AnswerMethod == b.AnswerMethod &&
		a.HangupURL == b.HangupURL && a.HangupMethod == b.HangupMethod &&
		eq(a.FallbackAnswerURL, b.FallbackAnswerURL) && a.FallbackMethod == b.FallbackMethod &&
		eq(a.MessageURL, b.MessageURL) && a.MessageMethod == b.MessageMethod &&
		a.DefaultNumberApp == b.DefaultNumberApp && a.DefaultEndpointApp == b.DefaultEndpointApp &&
		a.PublicURI == b.PublicURI && a.Enabled == b.Enabled && a.LogIncomingMessage == b.LogIncomingMessage &&
		eq(a.SIPTransferURL, b.SIPTransferURL) && a.SIPTransferMethod == b.SIPTransferMethod
}

// UpsertConfiguredApplication creates or overwrites the application configured under
// configKey; an unchanged application is left untouched (UpdatedAt stays).
func (s *Store) UpsertConfiguredApplication(ctx context.Context, authID, configKey string, app store.Application) (store.Application, error) {
	if configKey == "" {
		return store.Application{}, fmt.Errorf("apply configured application: empty key: %w", store.ErrInvalid)
	}
	app.AuthID = authID
	app.ConfigKey = configKey
	if err := normalizeApp(&app); err != nil {
		return store.Application{}, fmt.Errorf("apply configured application %q: %w", configKey, err)
	}
	if app.AppID != "" && !store.ValidNumericID(app.AppID) {
		return store.Application{}, fmt.Errorf("apply configured application %q: app_id %q is not 15 digits: %w",
			configKey, app.AppID, store.ErrInvalid)
	}
	err := s.tx(ctx, writeTx, func(tx db) error {
		if err := lockAccount(ctx, tx, authID); err != nil {
			return err
		}
		old, err := getApp(ctx, tx, `auth_id = ? AND config_key = ?`, authID, configKey)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if app.AppID != "" && (!found || old.AppID != app.AppID) {
			taken, err := exists(ctx, tx, `SELECT 1 FROM applications WHERE app_id = ?`, app.AppID)
			if err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("app_id %s is used by another application: %w", app.AppID, store.ErrConflict)
			}
		}
		if !found {
			if app.AppID == "" {
				if app.AppID, err = newUniqueNumericID(ctx, tx, "applications", "app_id"); err != nil {
					return err
				}
			}
			app.CreatedAt = now()
			app.UpdatedAt = app.CreatedAt
			if err := clearOtherDefaults(ctx, tx, app); err != nil {
				return err
			}
			return insertApp(ctx, tx, app)
		}
		if app.AppID == "" {
			app.AppID = old.AppID
		}
		if app.AppID != old.AppID {
			// Endpoints follow through ON UPDATE CASCADE.
			if _, err := tx.Exec(ctx, `UPDATE applications SET app_id = ? WHERE app_id = ?`, app.AppID, old.AppID); err != nil {
				return err
			}
		} else if sameAppSettings(app, old) {
			app = old
			return nil
		}
		app.CreatedAt = old.CreatedAt
		app.UpdatedAt = now()
		if err := clearOtherDefaults(ctx, tx, app); err != nil {
			return err
		}
		return writeApp(ctx, tx, app)
	})
	if err != nil {
		return store.Application{}, fmt.Errorf("apply configured application %q: %w", configKey, err)
	}
	return app, nil
}
