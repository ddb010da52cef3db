package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/sip"
	"github.com/parley-voice/parley/internal/store"
)

// Config keys of applications that come from configuration rather than the API.
const (
	configKeyDefault = "default"
	configKeyDemo    = "demo"
	configKeyNumber  = "number:"
)

// routes maps dialled numbers to the applications configured for them.
type routes struct {
	mu      sync.Mutex
	numbers map[string]map[string]string // auth_id -> number -> app_id
	baseURL string
}

// applyConfig stores the configured accounts and applications; it runs at every start, so
// stored rows are updated, never duplicated.
func applyConfig(ctx context.Context, st store.Store, cfg *config.Config) (*routes, error) {
	r := &routes{numbers: make(map[string]map[string]string)}
	for _, a := range cfg.Accounts {
		if err := st.UpsertAccount(ctx, a.AuthID, a.AuthToken); err != nil {
			return nil, fmt.Errorf("storing account %s: %w", a.AuthID, err)
		}
		if a.DefaultApp != nil {
			app := configuredApp(a.AuthID, *a.DefaultApp, "Default application")
			app.DefaultNumberApp = true
			if _, err := st.UpsertConfiguredApplication(ctx, a.AuthID, configKeyDefault, app); err != nil {
				return nil, fmt.Errorf("storing the default application of %s: %w", a.AuthID, err)
			}
		}
		r.numbers[a.AuthID] = make(map[string]string)
		for _, nr := range a.NumberRoutes {
			app, err := st.UpsertConfiguredApplication(ctx, a.AuthID, configKeyNumber+nr.Number, configuredApp(a.AuthID, nr.App, "Number "+nr.Number))
			if err != nil {
				return nil, fmt.Errorf("storing the application of number %s: %w", nr.Number, err)
			}
			r.numbers[a.AuthID][nr.Number] = app.AppID
		}
	}
	return r, nil
}

func configuredApp(authID string, ac config.AppConfig, fallbackName string) store.Application {
	name := ac.Name
	if name == "" {
		name = fallbackName
	}
	app := store.NewApplication(authID, name, ac.AnswerURL)
	if ac.AnswerMethod != "" {
		app.AnswerMethod = ac.AnswerMethod
	}
	if ac.HangupURL != "" {
		app.HangupURL = ac.HangupURL
	}
	if ac.HangupMethod != "" {
		app.HangupMethod = ac.HangupMethod
	}
	if ac.FallbackURL != "" {
		u := ac.FallbackURL
		app.FallbackAnswerURL = &u
	}
	if ac.FallbackMethod != "" {
		app.FallbackMethod = ac.FallbackMethod
	}
	return app
}

// installDemo makes the built-in demo application the default number application of the first
// account when that account has none, so a first call is answered.
func (s *Server) installDemo(ctx context.Context) error {
	if len(s.cfg.Accounts) == 0 {
		return nil
	}
	a := s.cfg.Accounts[0]
	if _, err := s.store.DefaultNumberApp(ctx, a.AuthID); err == nil {
		if demo, err := s.store.GetApplicationByConfigKey(ctx, a.AuthID, configKeyDemo); err != nil || !demo.DefaultNumberApp {
			return nil // the account has its own default application
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	app := store.NewApplication(a.AuthID, "Parley demo", s.routes.baseURL+"/demo/answer")
	app.HangupURL = s.routes.baseURL + "/demo/hangup"
	app.DefaultNumberApp = true
	_, err := s.store.UpsertConfiguredApplication(ctx, a.AuthID, configKeyDemo, app)
	return err
}

// errNoRoute is an INVITE that matches no rule of spec §8.1.
var errNoRoute = errors.New("no application for this call")

// errAppDisabled is an INVITE routed to a disabled application.
var errAppDisabled = errors.New("application disabled")

// errEndpointNoApp is an authenticated endpoint without an application.
var errEndpointNoApp = errors.New("endpoint has no application")

// route picks the application of an inbound INVITE (spec §8.1). authUser is the endpoint the
// INVITE authenticated as, "" when none.
func (s *Server) route(ctx context.Context, info call.LegInfo, authUser string) (store.Application, *config.Account, error) {
	// Rule 1: an authenticated endpoint runs its own application.
	if authUser != "" {
		ep, err := s.store.GetEndpointByUsername(ctx, authUser)
		if err != nil {
			return store.Application{}, nil, errNoRoute
		}
		acct, ok := s.cfg.Account(ep.AuthID)
		if !ok {
			return store.Application{}, nil, errNoRoute
		}
		if ep.AppID == "" {
			return store.Application{}, acct, errEndpointNoApp
		}
		app, err := s.store.GetApplication(ctx, ep.AuthID, ep.AppID)
		if err != nil {
			return store.Application{}, acct, errEndpointNoApp
		}
		if !app.Enabled {
			return app, acct, errAppDisabled
		}
		return app, acct, nil
	}
	acct, trusted := s.cfg.AccountForSource(info.Source.Addr())
	var app store.Application
	found := false
	// Rule 2: the Request-URI user is an app_id.
	if a, err := s.store.LookupApplication(ctx, info.ToUser); err == nil {
		if a.PublicURI || (trusted && acct.AuthID == a.AuthID) {
			app, found = a, true
			if !trusted || acct.AuthID != a.AuthID {
				acct, _ = s.cfg.Account(a.AuthID)
			}
		}
	}
	if !found && trusted {
		number := strings.TrimPrefix(info.ToUser, "+")
		s.routes.mu.Lock()
		appID, ok := s.routes.numbers[acct.AuthID][number]
		s.routes.mu.Unlock()
		if ok && call.IsNumber(info.ToUser) {
			if a, err := s.store.GetApplication(ctx, acct.AuthID, appID); err == nil {
				app, found = a, true
			}
		}
		if !found {
			if a, err := s.store.DefaultNumberApp(ctx, acct.AuthID); err == nil {
				app, found = a, true
			}
		}
	}
	if !found || acct == nil {
		return store.Application{}, nil, errNoRoute
	}
	if !app.Enabled {
		return app, acct, errAppDisabled
	}
	return app, acct, nil
}

// handleInbound runs one inbound call from INVITE to hangup webhook.
func (s *Server) handleInbound(ctx context.Context, leg call.Leg) {
	if !s.beginHandler() {
		_ = leg.Reject(503, "Service Unavailable", "Retry-After: 30")
		return
	}
	defer s.handlers.Done()
	if s.clustered() && !s.joined.Load() { // see Server.joined
		_ = leg.Reject(503, "Service Unavailable", "Retry-After: 1")
		return
	}

	info := leg.Info()
	if info.JoinToken != "" {
		// Another node's internal conference leg: never routed to an application.
		if s.rooms == nil {
			_ = leg.Reject(403, "Forbidden")
			return
		}
		s.rooms.serveJoin(ctx, leg)
		return
	}
	authUser := ""
	if a, ok := leg.(sip.Authenticated); ok {
		authUser = a.AuthenticatedUser()
	}
	app, acct, err := s.route(ctx, info, authUser)
	switch {
	case errors.Is(err, errNoRoute):
		s.log.Info("INVITE refused: no route", "from", info.FromUser, "to", info.ToUser, "source", info.Source.String())
		_ = leg.Reject(404, "Not Found")
		return
	case errors.Is(err, errEndpointNoApp):
		s.log.Info("INVITE refused: endpoint has no application", "endpoint", authUser)
		_ = leg.Reject(480, "Temporarily Unavailable")
		return
	case errors.Is(err, errAppDisabled):
		s.log.Info("INVITE refused: application disabled", "app_id", app.AppID)
		_ = leg.Reject(480, "Temporarily Unavailable")
		return
	case err != nil:
		s.log.Error("routing failed", "err", err)
		_ = leg.Reject(500, "Server Internal Error")
		return
	}
	if limit := s.cfg.MaxConcurrentCalls; limit > 0 && s.calls.Count(acct.AuthID) >= limit {
		s.log.Warn("INVITE refused: concurrent call limit", "auth_id", acct.AuthID, "limit", limit)
		_ = leg.Reject(503, "Service Unavailable", "Retry-After: 1")
		return
	}

	id := inboundIdentity(acct.AuthID, info)
	if authUser != "" {
		id.From = "sip:" + authUser + "@" + s.cfg.SIPDomain()
	}
	c := call.New(id, leg, s.callOptions())
	s.calls.Add(c)
	s.recordStart(c, "", info.CallID, sourceIP(info.Source), app.HangupURL, app.HangupMethod)
	c.Logger().Info("inbound call", "from", c.Identity().From, "to", c.Identity().To, "app_id", app.AppID)
	if err := c.Ring(ctx); err != nil {
		c.Logger().Debug("ringing failed", "err", err)
	}
	session := &flow.Session{
		Call:         c,
		AuthToken:    acct.AuthToken,
		AnswerURL:    app.AnswerURL,
		AnswerMethod: app.AnswerMethod,
	}
	if app.FallbackAnswerURL != nil {
		session.FallbackURL, session.FallbackMethod = *app.FallbackAnswerURL, app.FallbackMethod
	}
	s.runner.Run(session)
	<-c.Done()
	s.finishCall(c, app.HangupURL, app.HangupMethod)
}

// beginHandler counts a new call handler unless the server is draining.
func (s *Server) beginHandler() bool {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.handlers.Add(1)
	return true
}

func inboundIdentity(authID string, info call.LegInfo) call.Identity {
	id := call.Identity{
		AccountID:     authID,
		Direction:     call.Inbound,
		From:          call.Party(info.FromUser, info.FromHost),
		CallerName:    info.FromDisplay,
		Created:       info.Created,
		CustomHeaders: info.CustomHeaders,
	}
	if id.CallerName == "" {
		id.CallerName = info.FromUser
	}
	if call.IsNumber(info.ToUser) {
		id.To = strings.TrimPrefix(info.ToUser, "+")
	} else {
		id.To = info.RequestURI
	}
	if info.Diversion != "" {
		id.ForwardedFrom = strings.TrimPrefix(info.Diversion, "+")
	}
	return id
}

// streamsEndWait bounds how long the hangup webhook waits for the call's streams to send their
// end callbacks (a stopped stream flushes at most 2 s of media, then closes).
const streamsEndWait = 5 * time.Second

// finishCall completes the call's record (its CDR) and then queues its hangup webhook, so a
// client can read the record on receiving the webhook (calls-more.md §E.2); the webhook also
// waits for the end callbacks of the call's streams (spec/streams.md §9).
func (s *Server) finishCall(c *call.Call, hangupURL, hangupMethod string) {
	ctx, cancel := context.WithTimeout(context.Background(), streamsEndWait)
	s.streams.AwaitCallEnd(ctx, c.UUID())
	cancel()
	o, _ := c.Outcome()
	status, room := flow.FinalStatus(c.Identity(), o), s.lastRooms.take(c.UUID())
	p := store.CallPatch{EndTime: &o.Ended, HangupCauseCode: &o.Cause.Code, HangupCause: &o.Cause.Cause,
		HangupCauseName: &o.Cause.Name, HangupSource: &o.Source, CallStatus: &status}
	if room != "" {
		p.ConferenceUUID = &room
	}
	if !o.Answered.IsZero() {
		p.AnswerTime = &o.Answered
	}
	// In a cluster, a survivor may have ended the record already, taking this node for dead
	// (a pause, a partition), and queued the hangup webhook: that one stands.
	p.WhileLive = s.nodes != nil
	if err := s.store.UpdateCall(context.Background(), c.UUID(), p); errors.Is(err, store.ErrConflict) {
		c.Logger().Warn("call record closed by another node (this node was taken for dead); its hangup webhook was sent from there")
		return
	} else if err != nil {
		c.Logger().Error("updating call record failed", "err", err)
	}
	if hangupURL == "" {
		return
	}
	if hangupMethod == "" {
		hangupMethod = http.MethodPost
	}
	n := webhookNotification(c.Identity().AccountID, hangupURL, hangupMethod, flow.HangupParams(c), c.UUID())
	if err := s.dispatcher.Notify(context.Background(), n); err != nil {
		c.Logger().Error("queueing hangup webhook failed", "err", err)
	}
}
