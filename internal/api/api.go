// Package api is Parley's HTTP REST API, wire-compatible with the Vobiz voice API: path
// normalisation, routing, authentication, rate limits, request parameter parsing, the two
// response profiles, and the Vobiz-shaped JSON bodies of every resource (one file per resource).
//
// It turns HTTP into calls on small interfaces that it declares itself (Conferences, Recordings,
// Calls, Streams, Applications, Endpoints, Accounts) and turns their results back into JSON. It
// must NOT hold domain state, import the domain packages (the app layer adapts them to these
// interfaces; its only internal imports are the leaves shared with the document side:
// internal/voice, the <Speak> lists, internal/streamspec, the stream parameters' grammar, and
// internal/failwindow, the failed-sign-in rule it shares with the console), talk SIP, or start
// media work itself.
package api

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parley-voice/parley/internal/failwindow"
)

// Profile selects the response shape of the five POST member actions (§1.5).
type Profile string

// The response profiles.
const (
	// ProfileClassic answers 200 with member_id as the path segment verbatim (the default).
	ProfileClassic Profile = "classic"
	// ProfileCurrent answers 202 with member_id as an array of strings.
	ProfileCurrent Profile = "current"
)

// DefaultMaxBodyBytes is the request body limit used when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// Defaults of the call limits of §1.8, used when the Options field is 0.
const (
	DefaultCallsPerSecond     = 100
	DefaultMaxConcurrentCalls = 2000
)

// Accounts finds the auth token of an account.
type Accounts interface {
	// Lookup returns the auth token of the account authID, and false when there is none.
	Lookup(authID string) (token string, ok bool)
}

// Options configures the handler returned by New. Resources whose interface is nil are not
// served: their routes answer 404 "route not found".
type Options struct {
	Accounts    Accounts
	Conferences Conferences
	Recordings  Recordings
	Calls       Calls
	// CallRecords serves the CDR reads (GET /Call/ and GET /Call/{call_uuid}/ without a live
	// status) beside Calls; when nil they answer 404 "route not found".
	CallRecords CallRecords
	Streams     Streams
	// CallMedia serves the call-level Play, Speak, DTMF and Record routes (calls-more §A).
	CallMedia    CallMedia
	Applications Applications
	Endpoints    Endpoints

	// Profile is ProfileClassic (also when empty) or ProfileCurrent.
	Profile Profile
	// PublicBaseURL prefixes recording_url values, e.g. "https://parley.example.com".
	PublicBaseURL string
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RESTRate is the sustained requests per second allowed per account; 0 turns the limit off.
	RESTRate float64
	// RESTBurst is the token bucket size; values below 1 mean 1 when RESTRate is set.
	RESTBurst int
	// AuthFailures is how many failed authentications one source address may have within
	// AuthFailureWindow before all its requests get 429 until the window ends. 0 means
	// DefaultAuthFailures (and DefaultAuthFailureWindow for a 0 window); negative turns it off.
	AuthFailures      int
	AuthFailureWindow time.Duration
	// CallsPerSecond is the sustained POST /Call/ rate per account, with a burst of one
	// second's worth (at least 1). 0 means DefaultCallsPerSecond; a negative value turns the
	// limit off.
	CallsPerSecond float64
	// MaxConcurrentCalls bounds the live legs (inbound + outbound) of an account when POST
	// /Call/ asks for one more. 0 means DefaultMaxConcurrentCalls; negative turns it off.
	MaxConcurrentCalls int
	// HasSIPGateway reports that an outbound SIP gateway is configured; without one a POST
	// /Call/ to a telephone number is refused with 400.
	HasSIPGateway bool
	// SIPDomain is the domain of the sip_uri values of applications and endpoints.
	SIPDomain string
	// Logger receives server-side failures; nil means slog.Default().
	Logger *slog.Logger
	// Clock gives the current time; nil means time.Now.
	Clock func() time.Time
	// NewID returns the api_id of a response; nil means a random UUID v4. Tests may pin it.
	NewID func() string
	// Observer is told the route, status and duration of every request; nil means nobody.
	Observer RequestObserver
}

// server is the http.Handler built by New.
type server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	newID   func() string
	maxBody int64
	limiter *rateLimiter
	// authLimit refuses sources with too many failed authentications; nil when off.
	authLimit *failwindow.Limiter
	// callLimiter is the calls_per_second bucket of POST /Call/; nil when off.
	callLimiter *rateLimiter
	// maxCalls is the concurrent call limit; 0 when off.
	maxCalls int
	mux      *chi.Mux
}

// New builds the REST API handler. It serves paths in every form of §1.1 and never redirects.
func New(opts Options) http.Handler {
	s := &server{opts: opts, log: opts.Logger, now: opts.Clock, newID: opts.NewID, maxBody: opts.MaxBodyBytes}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = newAPIID
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	switch opts.Profile {
	case "", ProfileClassic:
		s.opts.Profile = ProfileClassic
	case ProfileCurrent:
	default:
		s.log.Warn("unknown api profile, using classic", "profile", string(opts.Profile))
		s.opts.Profile = ProfileClassic
	}
	s.authLimit = newAuthLimiter(opts.AuthFailures, opts.AuthFailureWindow, s.now)
	if opts.RESTRate > 0 {
		s.limiter = newRateLimiter(opts.RESTRate, opts.RESTBurst, s.now)
	}
	switch cps := opts.CallsPerSecond; {
	case cps == 0:
		s.callLimiter = newRateLimiter(DefaultCallsPerSecond, DefaultCallsPerSecond, s.now)
	case cps > 0:
		s.callLimiter = newRateLimiter(cps, int(math.Ceil(cps)), s.now)
	}
	switch {
	case opts.MaxConcurrentCalls == 0:
		s.maxCalls = DefaultMaxConcurrentCalls
	case opts.MaxConcurrentCalls > 0:
		s.maxCalls = opts.MaxConcurrentCalls
	}
	s.mux = chi.NewMux()
	s.mux.NotFound(s.routeNotFound)
	s.mux.MethodNotAllowed(s.methodNotAllowed)
	s.routes()
	return s
}

// routes registers every resource. Each resource lives in its own file and registers its own
// routes; a later resource adds one line here.
func (s *server) routes() {
	if s.opts.Conferences != nil {
		s.conferenceRoutes()
	}
	if s.opts.Recordings != nil {
		s.recordingRoutes()
	}
	if s.opts.Calls != nil {
		s.callRoutes()
	}
	if s.opts.Streams != nil {
		s.streamRoutes()
	}
	if s.opts.CallMedia != nil {
		s.callMediaRoutes()
	}
	if s.opts.Applications != nil {
		s.applicationRoutes()
	}
	if s.opts.Endpoints != nil {
		s.endpointRoutes()
	}
}

// route registers fn for method and pattern. The pattern is relative to
// /Account/{auth_id} and written in canonical form without the trailing slash.
func (s *server) route(method, pattern string, fn handlerFunc) {
	s.routeWith(method, pattern, fn, routeOptions{})
}

// routeWith is route with per-route steps of the common pipeline.
func (s *server) routeWith(method, pattern string, fn handlerFunc, o routeOptions) {
	s.mux.Method(method, accountPrefix+pattern, s.wrap(fn, o))
}

// accountPrefix is the canonical start of every routed path (see normalizePath).
const accountPrefix = "/Account/{auth_id}"

// ServeHTTP serves the OpenAPI document, or normalises the path (§1.1) and hands the canonical
// form to the router.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isOpenAPIPath(r.URL.Path) {
		s.observe(w, r, nil, RouteOpenAPI, func(w http.ResponseWriter) { s.serveOpenAPI(w, r) })
		return
	}
	canon, ok := normalizePath(r.URL.EscapedPath())
	if !ok {
		s.observe(w, r, nil, RouteUnmatched, func(w http.ResponseWriter) {
			s.writeError(w, http.StatusNotFound, msgRouteNotFound)
		})
		return
	}
	rctx := chi.NewRouteContext()
	rctx.RoutePath = canon
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	s.observe(w, r, rctx, RouteUnmatched, func(w http.ResponseWriter) { s.mux.ServeHTTP(w, r) })
}

func (s *server) routeNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, http.StatusNotFound, msgRouteNotFound)
}

// methodNotAllowed answers 405 with the Allow header, or 404 when the path matches no route for
// any method (chi also lands here for methods it does not know).
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	path := chi.RouteContext(r.Context()).RoutePath
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if s.mux.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		s.writeError(w, http.StatusNotFound, msgRouteNotFound)
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	s.writeError(w, http.StatusMethodNotAllowed, "method not allowed")
}
