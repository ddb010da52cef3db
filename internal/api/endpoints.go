package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Endpoints is what the endpoint routes (§5.2) need from the endpoint store and registrar.
// Get, Update and Delete return ErrEndpointNotFound for an endpoint_id that is unknown or of
// another account. Create and Update return ErrUnknownApplication when the app id they are
// given is not an application of the account (checked before the endpoint lookup).
type Endpoints interface {
	// Create stores a new endpoint under a new endpoint_id (§1.7: 15 digits, first 1–9,
	// random, unique) and returns that id. ErrUsernameExists when the username is taken on
	// the server. p.AppID "" means the account's default_endpoint_app, else none.
	Create(ctx context.Context, accountID string, p EndpointParams) (endpointID string, err error)
	// List returns one page of the account's endpoints matching f (see EndpointFilter.Match),
	// oldest first, and the number of all matching endpoints.
	List(ctx context.Context, accountID string, f EndpointFilter) ([]Endpoint, int, error)
	// Get returns one endpoint, Registered telling whether it has an unexpired registration.
	Get(ctx context.Context, accountID, endpointID string) (Endpoint, error)
	// Update changes the fields u sets. A password change drops the current registrations.
	Update(ctx context.Context, accountID, endpointID string, u EndpointUpdate) error
	// Delete removes the endpoint and its registrations at once; calls in progress go on.
	Delete(ctx context.Context, accountID, endpointID string) error
}

// EndpointParams are the validated parameters of POST /Endpoint/, defaults applied.
type EndpointParams struct {
	Username string
	// Password is write-only: it is never returned.
	Password string
	// Alias is the display name; the username when not given.
	Alias string
	// AppID is the app_id to attach; "" for the account's default_endpoint_app, else none.
	AppID string
}

// Endpoint is one stored endpoint (§5.2).
type Endpoint struct {
	ID       string
	Username string
	Alias    string
	// AppID is the attached application; "" for none.
	AppID string
	// Registered is true while at least one unexpired registration exists.
	Registered bool
}

// EndpointUpdate is a partial update: nil fields do not change. AppID pointing to "" detaches
// the application.
type EndpointUpdate struct {
	Alias    *string
	Password *string
	AppID    *string
}

// EndpointFilter selects endpoints for List. Empty strings and a nil AppIDIsNull do not
// filter; all comparisons are case-sensitive.
type EndpointFilter struct {
	Page
	UsernameContains   string
	UsernameExact      string
	UsernameStartsWith string
	AliasContains      string
	AliasExact         string
	// AppIDExact matches endpoints attached to that app_id.
	AppIDExact string
	// AppIDIsNull true matches endpoints without an application, false those with one.
	AppIDIsNull *bool
}

// Match reports whether e passes every filter of f (the page is not considered).
func (f EndpointFilter) Match(e Endpoint) bool {
	switch {
	case f.UsernameContains != "" && !strings.Contains(e.Username, f.UsernameContains),
		f.UsernameExact != "" && e.Username != f.UsernameExact,
		f.UsernameStartsWith != "" && !strings.HasPrefix(e.Username, f.UsernameStartsWith),
		f.AliasContains != "" && !strings.Contains(e.Alias, f.AliasContains),
		f.AliasExact != "" && e.Alias != f.AliasExact,
		f.AppIDExact != "" && e.AppID != f.AppIDExact,
		f.AppIDIsNull != nil && *f.AppIDIsNull != (e.AppID == ""):
		return false
	}
	return true
}

func (s *server) endpointRoutes() {
	s.route(http.MethodPost, "/Endpoint", s.createEndpoint)
	s.route(http.MethodGet, "/Endpoint", s.listEndpoints)
	s.route(http.MethodGet, "/Endpoint/{eid}", s.getEndpoint)
	s.route(http.MethodPost, "/Endpoint/{eid}", s.updateEndpoint)
	s.route(http.MethodDelete, "/Endpoint/{eid}", s.deleteEndpoint)
}

// validUsername reports whether u is 1–64 characters of [A-Za-z0-9][A-Za-z0-9_.-]*.
func validUsername(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

// password reads a password of 8–128 characters.
func (b *binder) password(required bool) (string, bool) {
	v, ok := b.String("password", required, 128)
	if ok && utf8.RuneCountInString(v) < 8 {
		b.invalid("password")
		return "", false
	}
	return v, ok
}

// nullableAppID reads an application id that may be cleared: JSON null or "" gives a pointer
// to "", an id a pointer to it, absence nil.
func (b *binder) nullableAppID(name string) *string {
	if b.err != nil {
		return nil
	}
	if t, given := b.p.Text(name); b.p.IsNull(name) || (given && t == "") {
		empty := ""
		return &empty
	}
	if id, ok := b.appID(name); ok {
		return &id
	}
	return nil
}

// bindEndpointApp reads application and its alias app_id; both present and different is an
// invalid app_id. It returns the id (nil when neither is present) and the name of the
// parameter that gave it, for the 400 of an unknown application.
func bindEndpointApp(b *binder) (*string, string) {
	app := b.nullableAppID("application")
	alias := b.nullableAppID("app_id")
	switch {
	case app == nil && alias == nil:
		return nil, ""
	case app == nil:
		return alias, "app_id"
	case alias != nil && *alias != *app:
		b.invalid("app_id")
	}
	return app, "application"
}

type endpointCreatedBody struct {
	Alias      string `json:"alias"`
	EndpointID string `json:"endpoint_id"`
	Username   string `json:"username"`
}

func (s *server) createEndpoint(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	var p EndpointParams
	if u, ok := b.String("username", true, 0); ok {
		if !validUsername(u) {
			b.invalid("username")
		}
		p.Username = u
	}
	p.Password, _ = b.password(true)
	alias, ok := b.String("alias", false, 100)
	if !ok {
		alias = p.Username
	}
	p.Alias = alias
	app, appParam := bindEndpointApp(b)
	if b.err != nil {
		return b.err
	}
	if app != nil {
		p.AppID = *app
	}
	id, err := s.opts.Endpoints.Create(r.Context(), q.account, p)
	if errors.Is(err, ErrUnknownApplication) {
		return invalidParam(appParam)
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, endpointCreatedBody{Alias: p.Alias, EndpointID: id, Username: p.Username})
	return nil
}

// endpointBody is the 8-key Endpoint object of §5.2.
type endpointBody struct {
	Alias         string  `json:"alias"`
	Application   string  `json:"application"`
	EndpointID    string  `json:"endpoint_id"`
	ResourceURI   string  `json:"resource_uri"`
	SIPRegistered string  `json:"sip_registered"`
	SIPURI        string  `json:"sip_uri"`
	SubAccount    *string `json:"sub_account"`
	Username      string  `json:"username"`
}

type endpointListBody struct {
	APIID   string         `json:"api_id"`
	Meta    metaBody       `json:"meta"`
	Objects []endpointBody `json:"objects"`
}

func (s *server) endpointObject(account string, e Endpoint) endpointBody {
	app := ""
	if e.AppID != "" {
		app = resourcePath(account, "Application", e.AppID)
	}
	reg := "false"
	if e.Registered {
		reg = "true"
	}
	return endpointBody{
		Alias: e.Alias, Application: app, EndpointID: e.ID,
		ResourceURI: resourcePath(account, "Endpoint", e.ID), SIPRegistered: reg,
		SIPURI: "sip:" + e.Username + "@" + s.opts.SIPDomain, Username: e.Username,
	}
}

func (s *server) listEndpoints(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	f := EndpointFilter{Page: bindPage(b)}
	filters := url.Values{}
	for _, flt := range []struct {
		name string
		dst  *string
	}{
		{"username__contains", &f.UsernameContains}, {"username__exact", &f.UsernameExact},
		{"username__startswith", &f.UsernameStartsWith}, {"alias__contains", &f.AliasContains},
		{"alias__exact", &f.AliasExact}, {"application_id__exact", &f.AppIDExact},
	} {
		if v, ok := b.String(flt.name, false, 0); ok {
			*flt.dst = v
			filters.Set(flt.name, v)
		}
	}
	if v, ok := b.Bool("application_id__isnull", false); ok {
		f.AppIDIsNull = &v
		t, _ := q.params.Text("application_id__isnull")
		filters.Set("application_id__isnull", t)
	}
	if b.err != nil {
		return b.err
	}
	eps, total, err := s.opts.Endpoints.List(r.Context(), q.account, f)
	if err != nil {
		return err
	}
	body := endpointListBody{
		APIID:   s.newID(),
		Meta:    pageMeta(resourcePath(q.account, "Endpoint"), f.Page, total, filters),
		Objects: make([]endpointBody, len(eps)),
	}
	for i, e := range eps {
		body.Objects[i] = s.endpointObject(q.account, e)
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

// getEndpoint answers the object alone: no api_id (§5.2).
func (s *server) getEndpoint(w http.ResponseWriter, r *http.Request, q *request) error {
	e, err := s.opts.Endpoints.Get(r.Context(), q.account, pathVar(r, "eid"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, s.endpointObject(q.account, e))
	return nil
}

// updateEndpoint answers 202 with an empty body (§5.2). username and the allow_* flags are
// locked and ignored.
func (s *server) updateEndpoint(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	var u EndpointUpdate
	if v, ok := b.String("alias", false, 100); ok {
		u.Alias = &v
	}
	if v, ok := b.password(false); ok {
		u.Password = &v
	}
	app, appParam := bindEndpointApp(b)
	if b.err != nil {
		return b.err
	}
	u.AppID = app
	err := s.opts.Endpoints.Update(r.Context(), q.account, pathVar(r, "eid"), u)
	if errors.Is(err, ErrUnknownApplication) {
		return invalidParam(appParam)
	}
	if err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (s *server) deleteEndpoint(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Endpoints.Delete(r.Context(), q.account, pathVar(r, "eid")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}
