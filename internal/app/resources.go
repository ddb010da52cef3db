package app

import (
	"context"
	"errors"
	"strings"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/store"
)

// applicationsAPI adapts the store's applications to the REST API.
type applicationsAPI struct{ st store.Store }

func nullable(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func appView(a store.Application) api.Application {
	return api.Application{
		ID: a.AppID, Name: a.AppName, AnswerURL: a.AnswerURL, AnswerMethod: a.AnswerMethod,
		HangupURL: a.HangupURL, HangupMethod: a.HangupMethod, FallbackAnswerURL: nullable(a.FallbackAnswerURL),
		FallbackMethod: a.FallbackMethod, MessageURL: nullable(a.MessageURL), MessageMethod: a.MessageMethod,
		DefaultNumberApp: a.DefaultNumberApp, DefaultEndpointApp: a.DefaultEndpointApp, PublicURI: a.PublicURI,
		Enabled: a.Enabled, LogIncomingMessages: a.LogIncomingMessage, SIPTransferURL: nullable(a.SIPTransferURL),
		SIPTransferMethod: a.SIPTransferMethod, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

func appErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.ErrApplicationNotFound
	case errors.Is(err, store.ErrBadReference):
		return api.ErrUnknownApplication
	}
	return err
}

func (a applicationsAPI) Create(ctx context.Context, acct string, v api.Application) (string, error) {
	app := store.NewApplication(acct, v.Name, v.AnswerURL)
	app.AnswerMethod, app.HangupURL, app.HangupMethod = v.AnswerMethod, v.HangupURL, v.HangupMethod
	app.FallbackAnswerURL, app.FallbackMethod = ptrOrNil(v.FallbackAnswerURL), v.FallbackMethod
	app.MessageURL, app.MessageMethod = ptrOrNil(v.MessageURL), v.MessageMethod
	app.DefaultNumberApp, app.DefaultEndpointApp, app.PublicURI = v.DefaultNumberApp, v.DefaultEndpointApp, v.PublicURI
	app.Enabled, app.LogIncomingMessage = v.Enabled, v.LogIncomingMessages
	app.SIPTransferURL, app.SIPTransferMethod = ptrOrNil(v.SIPTransferURL), v.SIPTransferMethod
	created, err := a.st.CreateApplication(ctx, app)
	if err != nil {
		return "", appErr(err)
	}
	return created.AppID, nil
}

func (a applicationsAPI) List(ctx context.Context, acct string, f api.ApplicationFilter) ([]api.Application, int, error) {
	filter := store.AppFilter{Limit: f.Limit, Offset: f.Offset}
	if f.Name != "" {
		filter.AppName = &f.Name
	}
	apps, total, err := a.st.ListApplications(ctx, acct, filter)
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.Application, len(apps))
	for i, app := range apps {
		out[i] = appView(app)
	}
	return out, total, nil
}

func (a applicationsAPI) Get(ctx context.Context, acct, id string) (api.Application, error) {
	app, err := a.st.GetApplication(ctx, acct, id)
	if err != nil {
		return api.Application{}, appErr(err)
	}
	return appView(app), nil
}

func (a applicationsAPI) Update(ctx context.Context, acct, id string, u api.ApplicationUpdate) error {
	p := store.AppPatch{
		AppName: u.Name, AnswerURL: u.AnswerURL, AnswerMethod: u.AnswerMethod, HangupURL: u.HangupURL,
		HangupMethod: u.HangupMethod, FallbackMethod: u.FallbackMethod, MessageMethod: u.MessageMethod,
		DefaultNumberApp: u.DefaultNumberApp, DefaultEndpointApp: u.DefaultEndpointApp, PublicURI: u.PublicURI,
		Enabled: u.Enabled, LogIncomingMessage: u.LogIncomingMessages, SIPTransferMethod: u.SIPTransferMethod,
	}
	clearOrSet := func(v *string, set **string, clr *bool) {
		if v == nil {
			return
		}
		if *v == "" {
			*clr = true
			return
		}
		*set = v
	}
	clearOrSet(u.FallbackAnswerURL, &p.FallbackAnswerURL, &p.ClearFallbackURL)
	clearOrSet(u.MessageURL, &p.MessageURL, &p.ClearMessageURL)
	clearOrSet(u.SIPTransferURL, &p.SIPTransferURL, &p.ClearSIPTransfer)
	_, err := a.st.UpdateApplication(ctx, acct, id, p)
	return appErr(err)
}

func (a applicationsAPI) Delete(ctx context.Context, acct, id string, d api.ApplicationDelete) error {
	if d.NewEndpointApp != "" && !d.Cascade {
		if _, err := a.st.GetApplication(ctx, acct, d.NewEndpointApp); err != nil {
			return api.ErrUnknownApplication
		}
	}
	app, err := a.st.GetApplication(ctx, acct, id)
	if err != nil {
		return appErr(err)
	}
	if strings.HasPrefix(app.ConfigKey, configKeyNumber) {
		return api.ErrApplicationInUse
	}
	opts := store.DeleteAppOptions{CascadeEndpoints: d.Cascade}
	if !d.Cascade {
		opts.NewEndpointAppID = d.NewEndpointApp
	}
	return appErr(a.st.DeleteApplication(ctx, acct, id, opts))
}

// registrations is what the endpoints API needs of the SIP registrar.
type registrations interface {
	Registered(username string) bool
	Unregister(username string)
}

// endpointsAPI adapts the store's endpoints (and the registrar's state) to the REST API.
type endpointsAPI struct {
	st  store.Store
	reg registrations
}

func endpointErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.ErrEndpointNotFound
	case errors.Is(err, store.ErrConflict):
		return api.ErrUsernameExists
	case errors.Is(err, store.ErrBadReference):
		return api.ErrUnknownApplication
	}
	return err
}

func (e endpointsAPI) view(ep store.Endpoint) api.Endpoint {
	return api.Endpoint{ID: ep.EndpointID, Username: ep.Username, Alias: ep.Alias, AppID: ep.AppID,
		Registered: e.reg != nil && e.reg.Registered(ep.Username)}
}

func (e endpointsAPI) Create(ctx context.Context, acct string, p api.EndpointParams) (string, error) {
	ep, err := e.st.CreateEndpoint(ctx, store.Endpoint{AuthID: acct, Username: p.Username, Password: p.Password, Alias: p.Alias, AppID: p.AppID})
	if err != nil {
		return "", endpointErr(err)
	}
	return ep.EndpointID, nil
}

func (e endpointsAPI) List(ctx context.Context, acct string, f api.EndpointFilter) ([]api.Endpoint, int, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	eps, total, err := e.st.ListEndpoints(ctx, acct, store.EndpointFilter{
		UsernameContains: opt(f.UsernameContains), UsernameExact: opt(f.UsernameExact),
		UsernameStartsWith: opt(f.UsernameStartsWith), AliasContains: opt(f.AliasContains),
		AliasExact: opt(f.AliasExact), AppIDExact: opt(f.AppIDExact), AppIDIsNull: f.AppIDIsNull,
		Limit: f.Limit, Offset: f.Offset,
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = e.view(ep)
	}
	return out, total, nil
}

func (e endpointsAPI) Get(ctx context.Context, acct, id string) (api.Endpoint, error) {
	ep, err := e.st.GetEndpoint(ctx, acct, id)
	if err != nil {
		return api.Endpoint{}, endpointErr(err)
	}
	return e.view(ep), nil
}

func (e endpointsAPI) Update(ctx context.Context, acct, id string, u api.EndpointUpdate) error {
	ep, err := e.st.UpdateEndpoint(ctx, acct, id, store.EndpointPatch{Alias: u.Alias, Password: u.Password, AppID: u.AppID})
	if err != nil {
		return endpointErr(err)
	}
	if u.Password != nil && e.reg != nil {
		e.reg.Unregister(ep.Username)
	}
	return nil
}

func (e endpointsAPI) Delete(ctx context.Context, acct, id string) error {
	ep, err := e.st.GetEndpoint(ctx, acct, id)
	if err != nil {
		return endpointErr(err)
	}
	if err := e.st.DeleteEndpoint(ctx, acct, id); err != nil {
		return endpointErr(err)
	}
	if e.reg != nil {
		e.reg.Unregister(ep.Username)
	}
	return nil
}
