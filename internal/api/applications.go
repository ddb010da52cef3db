package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
	"unicode"
	"unicode/utf8"
)

// Applications is what the application routes (§5.1) need from the application store. Get,
// Update and Delete return ErrApplicationNotFound for an app_id that is unknown or of another
// account.
type Applications interface {
	// Create stores a new application (a.ID, CreatedAt and UpdatedAt are ignored) under a new
	// app_id (§1.7: 15 digits, first 1–9, random, unique) and returns that id. Setting
	// DefaultNumberApp or DefaultEndpointApp clears the same flag on every other app of the
	// account.
	Create(ctx context.Context, accountID string, a Application) (appID string, err error)
	// List returns one page of the account's applications matching f, oldest first, and the
	// number of all matching applications.
	List(ctx context.Context, accountID string, f ApplicationFilter) ([]Application, int, error)
	// Get returns one application.
	Get(ctx context.Context, accountID, appID string) (Application, error)
	// Update changes the fields u sets (see ApplicationUpdate.Apply) and UpdatedAt, with the
	// same default-flag rule as Create.
	Update(ctx context.Context, accountID, appID string, u ApplicationUpdate) error
	// Delete removes an application; d says what happens to its endpoints. It returns
	// ErrApplicationInUse when a number route names the app, and ErrUnknownApplication when
	// d.NewEndpointApp is not another application of the account (checked first).
	Delete(ctx context.Context, accountID, appID string, d ApplicationDelete) error
}

// Application is one stored application (§5.1). Nullable URLs are "" when null.
type Application struct {
	ID           string
	Name         string
	AnswerURL    string
	AnswerMethod string
	HangupURL    string
	HangupMethod string
	// FallbackAnswerURL is fetched when AnswerURL cannot be reached; "" for none.
	FallbackAnswerURL string
	FallbackMethod    string
	// MessageURL, MessageMethod, LogIncomingMessages and the SIP transfer fields are stored
	// only.
	MessageURL    string
	MessageMethod string
	// DefaultNumberApp takes inbound numbers without a route; reported as default_app.
	DefaultNumberApp bool
	// DefaultEndpointApp is given to endpoints created without an application.
	DefaultEndpointApp bool
	// PublicURI accepts calls to the app's sip_uri from any source.
	PublicURI bool
	// Enabled false refuses calls routed to the app with SIP 480.
	Enabled             bool
	LogIncomingMessages bool
	SIPTransferURL      string
	SIPTransferMethod   string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// ApplicationUpdate is a partial update: nil fields do not change. For the nullable URLs a
// pointer to "" clears the value.
type ApplicationUpdate struct {
	Name                *string
	AnswerURL           *string
	AnswerMethod        *string
	HangupURL           *string
	HangupMethod        *string
	FallbackAnswerURL   *string
	FallbackMethod      *string
	MessageURL          *string
	MessageMethod       *string
	DefaultNumberApp    *bool
	DefaultEndpointApp  *bool
	PublicURI           *bool
	Enabled             *bool
	LogIncomingMessages *bool
	SIPTransferURL      *string
	SIPTransferMethod   *string
}

// Apply copies the fields u sets into a. It does not touch ID, the times, or other apps.
func (u ApplicationUpdate) Apply(a *Application) {
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
	setS(&a.Name, u.Name)
	setS(&a.AnswerURL, u.AnswerURL)
	setS(&a.AnswerMethod, u.AnswerMethod)
	setS(&a.HangupURL, u.HangupURL)
	setS(&a.HangupMethod, u.HangupMethod)
	setS(&a.FallbackAnswerURL, u.FallbackAnswerURL)
	setS(&a.FallbackMethod, u.FallbackMethod)
	setS(&a.MessageURL, u.MessageURL)
	setS(&a.MessageMethod, u.MessageMethod)
	setB(&a.DefaultNumberApp, u.DefaultNumberApp)
	setB(&a.DefaultEndpointApp, u.DefaultEndpointApp)
	setB(&a.PublicURI, u.PublicURI)
	setB(&a.Enabled, u.Enabled)
	setB(&a.LogIncomingMessages, u.LogIncomingMessages)
	setS(&a.SIPTransferURL, u.SIPTransferURL)
	setS(&a.SIPTransferMethod, u.SIPTransferMethod)
}

// ApplicationFilter selects applications for List.
type ApplicationFilter struct {
	Page
	// Name, when not "", must equal app_name exactly.
	Name string
}

// ApplicationDelete says what happens to the endpoints attached to a deleted application:
// Cascade deletes them; otherwise NewEndpointApp ("" for none) re-attaches them to that app,
// and without it they are detached.
type ApplicationDelete struct {
	Cascade        bool
	NewEndpointApp string
}

func (s *server) applicationRoutes() {
	s.route(http.MethodPost, "/Application", s.createApplication)
	s.route(http.MethodGet, "/Application", s.listApplications)
	s.route(http.MethodGet, "/Application/{aid}", s.getApplication)
	s.route(http.MethodPost, "/Application/{aid}", s.updateApplication)
	s.route(http.MethodDelete, "/Application/{aid}", s.deleteApplication)
}

// appName reads app_name: 1–100 printable characters.
func (b *binder) appName(required bool) (string, bool) {
	v, ok := b.String("app_name", required, 100)
	if !ok {
		return "", false
	}
	for _, c := range v {
		if !unicode.IsPrint(c) {
			b.invalid("app_name")
			return "", false
		}
	}
	return v, true
}

// methodIfGiven reads a GET/POST method that is present.
func (b *binder) methodIfGiven(name string) *string {
	if m, ok := b.Enum(name, false, http.MethodGet, http.MethodPost); ok {
		return &m
	}
	return nil
}

// boolIfGiven reads a boolean that is present.
func (b *binder) boolIfGiven(name string) *bool {
	if v, ok := b.Bool(name, false); ok {
		return &v
	}
	return nil
}

// nullableURL reads a URL that may be cleared: an explicit JSON null or "" gives a pointer to
// "", an absolute http(s) URL a pointer to it, absence nil.
func (b *binder) nullableURL(name string) *string {
	if b.err != nil {
		return nil
	}
	if t, given := b.p.Text(name); b.p.IsNull(name) || (given && t == "") {
		empty := ""
		return &empty
	}
	if u, ok := b.URL(name, false); ok {
		return &u
	}
	return nil
}

// bindApplication reads the create (app_name and answer_url required) or update parameters
// of §5.1 in table order. The result sets exactly the parameters present.
func bindApplication(b *binder, create bool) ApplicationUpdate {
	var u ApplicationUpdate
	if v, ok := b.appName(create); ok {
		u.Name = &v
	}
	if v, ok := b.URL("answer_url", create); ok {
		u.AnswerURL = &v
	}
	u.AnswerMethod = b.methodIfGiven("answer_method")
	if v, ok := b.URL("hangup_url", false); ok {
		u.HangupURL = &v
	}
	u.HangupMethod = b.methodIfGiven("hangup_method")
	u.FallbackAnswerURL = b.nullableURL("fallback_answer_url")
	u.FallbackMethod = b.methodIfGiven("fallback_method")
	u.MessageURL = b.nullableURL("message_url")
	u.MessageMethod = b.methodIfGiven("message_method")
	u.DefaultNumberApp = b.boolIfGiven("default_number_app")
	u.DefaultEndpointApp = b.boolIfGiven("default_endpoint_app")
	u.PublicURI = b.boolIfGiven("public_uri")
	u.Enabled = b.boolIfGiven("enabled")
	// Either spelling; the plural (the one the Go client sends) wins when both are present.
	u.LogIncomingMessages = b.boolIfGiven("log_incoming_messages")
	if single := b.boolIfGiven("log_incoming_message"); u.LogIncomingMessages == nil {
		u.LogIncomingMessages = single
	}
	u.SIPTransferURL = b.nullableURL("sip_transfer_url")
	u.SIPTransferMethod = b.methodIfGiven("sip_transfer_method")
	return u
}

type appCreatedBody struct {
	APIID   string `json:"api_id"`
	AppID   string `json:"app_id"`
	Message string `json:"message"`
}

func (s *server) createApplication(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	u := bindApplication(b, true)
	if b.err != nil {
		return b.err
	}
	a := Application{
		AnswerMethod: http.MethodPost, HangupMethod: http.MethodPost, FallbackMethod: http.MethodPost,
		MessageMethod: http.MethodPost, SIPTransferMethod: http.MethodPost,
		Enabled: true, LogIncomingMessages: true,
	}
	u.Apply(&a)
	if u.HangupURL == nil {
		a.HangupURL = a.AnswerURL // never null (§5.1 decision)
	}
	id, err := s.opts.Applications.Create(r.Context(), q.account, a)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, appCreatedBody{APIID: s.newID(), AppID: id, Message: "created"})
	return nil
}

// applicationBody is the 23-key Application object of §5.1.
type applicationBody struct {
	AnswerMethod       string  `json:"answer_method"`
	AnswerURL          string  `json:"answer_url"`
	AppID              string  `json:"app_id"`
	AppName            string  `json:"app_name"`
	ApplicationType    string  `json:"application_type"`
	CreatedAt          string  `json:"created_at"`
	DefaultApp         bool    `json:"default_app"`
	DefaultEndpointApp bool    `json:"default_endpoint_app"`
	Enabled            bool    `json:"enabled"`
	FallbackAnswerURL  *string `json:"fallback_answer_url"`
	FallbackMethod     string  `json:"fallback_method"`
	HangupMethod       string  `json:"hangup_method"`
	HangupURL          string  `json:"hangup_url"`
	LogIncomingMessage bool    `json:"log_incoming_message"`
	MessageMethod      string  `json:"message_method"`
	MessageURL         *string `json:"message_url"`
	PublicURI          bool    `json:"public_uri"`
	ResourceURI        string  `json:"resource_uri"`
	SIPTransferMethod  string  `json:"sip_transfer_method"`
	SIPTransferURL     *string `json:"sip_transfer_url"`
	SIPURI             string  `json:"sip_uri"`
	SubAccount         *string `json:"sub_account"`
	UpdatedAt          string  `json:"updated_at"`
}

type applicationGetBody struct {
	applicationBody
	APIID string `json:"api_id"`
}

type applicationListBody struct {
	APIID   string            `json:"api_id"`
	Meta    metaBody          `json:"meta"`
	Objects []applicationBody `json:"objects"`
}

// nullIfEmpty turns "" into a JSON null.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// orPost keeps a never-null method a method.
func orPost(m string) string {
	if m == "" {
		return http.MethodPost
	}
	return m
}

const isoUTC = "2006-01-02T15:04:05Z"

func (s *server) applicationObject(account string, a Application) applicationBody {
	return applicationBody{
		AnswerMethod: orPost(a.AnswerMethod), AnswerURL: a.AnswerURL, AppID: a.ID, AppName: a.Name,
		ApplicationType: "XML", CreatedAt: a.CreatedAt.UTC().Format(isoUTC),
		DefaultApp: a.DefaultNumberApp, DefaultEndpointApp: a.DefaultEndpointApp, Enabled: a.Enabled,
		FallbackAnswerURL: nullIfEmpty(a.FallbackAnswerURL), FallbackMethod: orPost(a.FallbackMethod),
		HangupMethod: orPost(a.HangupMethod), HangupURL: a.HangupURL,
		LogIncomingMessage: a.LogIncomingMessages, MessageMethod: orPost(a.MessageMethod),
		MessageURL: nullIfEmpty(a.MessageURL), PublicURI: a.PublicURI,
		ResourceURI:       resourcePath(account, "Application", a.ID),
		SIPTransferMethod: orPost(a.SIPTransferMethod), SIPTransferURL: nullIfEmpty(a.SIPTransferURL),
		SIPURI:    "sip:" + a.ID + "@" + s.opts.SIPDomain,
		UpdatedAt: a.UpdatedAt.UTC().Format(isoUTC),
	}
}

func (s *server) listApplications(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	f := ApplicationFilter{Page: bindPage(b)}
	filters := url.Values{}
	if v, ok := b.String("app_name", false, 0); ok {
		f.Name = v
		filters.Set("app_name", v)
	}
	if b.err != nil {
		return b.err
	}
	apps, total, err := s.opts.Applications.List(r.Context(), q.account, f)
	if err != nil {
		return err
	}
	body := applicationListBody{
		APIID:   s.newID(),
		Meta:    pageMeta(resourcePath(q.account, "Application"), f.Page, total, filters),
		Objects: make([]applicationBody, len(apps)),
	}
	for i, a := range apps {
		body.Objects[i] = s.applicationObject(q.account, a)
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *server) getApplication(w http.ResponseWriter, r *http.Request, q *request) error {
	a, err := s.opts.Applications.Get(r.Context(), q.account, pathVar(r, "aid"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, applicationGetBody{applicationBody: s.applicationObject(q.account, a), APIID: s.newID()})
	return nil
}

type appChangedBody struct {
	APIID   string `json:"api_id"`
	Message string `json:"message"`
}

func (s *server) updateApplication(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	u := bindApplication(b, false)
	if b.err != nil {
		return b.err
	}
	if err := s.opts.Applications.Update(r.Context(), q.account, pathVar(r, "aid"), u); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, appChangedBody{APIID: s.newID(), Message: "changed"})
	return nil
}

func (s *server) deleteApplication(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	var d ApplicationDelete
	d.Cascade, _ = b.Bool("cascade", false)
	d.NewEndpointApp, _ = b.appID("new_endpoint_application")
	id := pathVar(r, "aid")
	if d.NewEndpointApp == id {
		b.invalid("new_endpoint_application") // endpoints cannot move to the app being deleted
	}
	if b.err != nil {
		return b.err
	}
	err := s.opts.Applications.Delete(r.Context(), q.account, id, d)
	if errors.Is(err, ErrUnknownApplication) {
		return invalidParam("new_endpoint_application")
	}
	if err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// appID reads an app id parameter: a JSON integer or a string of ASCII digits.
func (b *binder) appID(name string) (string, bool) {
	v, ok := b.get(name, false)
	if !ok {
		return "", false
	}
	if (v.kind != kindText && v.kind != kindNumber) || !allDigits(v.text) || utf8.RuneCountInString(v.text) > 20 {
		b.invalid(name)
		return "", false
	}
	return v.text, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
