package app

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/vxml"
)

// routeSIPTarget resolves an outbound destination (spec §8.3): an endpoint of ours rings its
// registered contacts, a number goes to the outbound gateway, any other SIP URI is sent to its
// host when direct SIP is allowed.
func (s *Server) routeSIPTarget(ctx context.Context, kind, address string) (flow.DialRoute, *call.Cause) {
	if kind == vxml.TargetNumber {
		if s.cfg.SIPGateway == "" {
			return flow.DialRoute{}, &call.CauseRoutingError
		}
		return flow.DialRoute{Target: "sip:" + strings.TrimPrefix(address, "+") + "@" + s.cfg.SIPGateway, ViaGateway: true}, nil
	}
	u, err := url.Parse(address)
	if err != nil || u.Scheme != "sip" || u.Opaque == "" {
		return flow.DialRoute{}, &call.CauseRoutingError
	}
	user, host, _ := strings.Cut(u.Opaque, "@")
	if host == "" {
		return flow.DialRoute{}, &call.CauseRoutingError
	}
	if hostOnly(strings.SplitN(host, ";", 2)[0]) == s.cfg.SIPDomain() {
		if _, err := s.store.GetEndpointByUsername(ctx, user); err == nil {
			contacts := s.sip.Contacts(user)
			if len(contacts) == 0 {
				return flow.DialRoute{}, &call.CauseNotRegistered
			}
			return flow.DialRoute{Target: address, Contacts: contacts}, nil
		}
	}
	if !s.cfg.AllowDirectSIP {
		return flow.DialRoute{}, &call.CauseRoutingError
	}
	return flow.DialRoute{Target: address}, nil
}

// dialRouter gives the flow the same routing for <Dial>.
type dialRouter struct{ s *Server }

func (d dialRouter) RouteDial(ctx context.Context, _ string, kind, address string) (flow.DialRoute, *call.Cause) {
	return d.s.routeSIPTarget(ctx, kind, address)
}

// trackLeg registers a <Dial> B leg: it is live for the API and gets a call record, but no
// hangup webhook.
func (s *Server) trackLeg(b, parent *call.Call) {
	s.calls.Add(b)
	s.recordStart(b, parent.UUID(), b.Leg().Info().CallID, "", "", "")
	go func() {
		<-b.Done()
		s.finishCall(b, "", "")
	}()
}

// callsAPI adapts calls to the REST API.
type callsAPI struct{ s *Server }

func (a callsAPI) Live(_ context.Context, acct string) int { return a.s.calls.Count(acct) }

func (a callsAPI) MakeCall(ctx context.Context, acct string, p api.MakeCallParams) (string, error) {
	s := a.s
	if s.draining.Load() {
		return "", api.ErrDraining
	}
	token, ok := s.token(acct)
	if !ok {
		return "", errors.New("unknown account")
	}
	fromUser := call.PartyUser(p.From)
	id := call.Identity{AccountID: acct, Direction: call.Outbound, CallerName: p.CallerName}
	if call.IsNumber(fromUser) {
		id.From = strings.TrimPrefix(fromUser, "+")
	} else {
		id.From = "sip:" + fromUser + "@" + s.cfg.SIPDomain()
		if strings.HasPrefix(p.From, "sip:") {
			id.From = call.URIParty(p.From)
		}
	}
	if id.CallerName == "" {
		id.CallerName = fromUser
	}
	kind := vxml.TargetUser
	if p.ToNumber {
		kind = vxml.TargetNumber
		id.To = strings.TrimPrefix(p.To, "+")
	} else {
		id.To = call.URIParty(p.To)
	}
	headers := map[string]string{}
	for _, h := range p.SIPHeaders {
		headers[h.Name] = h.Value
	}
	id.CustomHeaders = headers
	if len(headers) == 0 {
		id.CustomHeaders = nil
	}

	route, cause := s.routeSIPTarget(ctx, kind, p.To)
	progress := make(chan flow.Progress, 4)
	var leg call.OutboundLeg
	if cause == nil {
		var err error
		leg, err = s.sip.Dial(context.Background(), call.DialRequest{
			Target: route.Target, Contacts: route.Contacts, FromUser: fromUser, FromDisplay: p.CallerName,
			Headers: headers, RingTimeout: p.RingTimeout,
			OnProgress: func(status int, early bool) {
				select {
				case progress <- flow.Progress{Status: status, EarlyMedia: early}:
				default:
				}
			},
		})
		if err != nil {
			s.log.Warn("outbound call cannot be placed", "to", p.To, "err", err)
			cause = &call.CauseRoutingError
		}
	}
	if cause != nil {
		leg = newNotPlacedLeg()
	}
	c := call.New(id, leg, s.callOptions())
	if !s.beginHandler() {
		c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
		return "", api.ErrDraining
	}
	s.calls.Add(c)
	s.recordStart(c, "", leg.Info().CallID, p.SourceIP, p.HangupURL, p.HangupMethod)
	go func() {
		defer s.handlers.Done()
		if cause != nil {
			c.Hangup(*cause, call.SourceVobiz, 0)
		} else {
			s.runner.RunOutbound(&flow.Attempt{Call: c, Leg: leg, Progress: progress, ViaGateway: route.ViaGateway}, &flow.Outbound{
				Session: flow.Session{Call: c, AuthToken: token, AnswerURL: p.AnswerURL, AnswerMethod: p.AnswerMethod,
					FallbackURL: p.FallbackURL, FallbackMethod: p.FallbackMethod},
				RingURL: p.RingURL, RingMethod: p.RingMethod, SendDigits: p.SendDigits, SendOnPreanswer: p.SendOnPreanswer,
				TimeLimit: p.TimeLimit, HangupOnRing: p.HangupOnRing,
				MachineDetection: s.machineDetection(p.MachineDetection),
			})
		}
		<-c.Done()
		s.finishCall(c, p.HangupURL, p.HangupMethod)
	}()
	return c.UUID(), nil
}

func (a callsAPI) List(_ context.Context, acct string, f api.CallFilter) ([]string, error) {
	var out []string
	for _, c := range a.s.liveCalls(acct, f) {
		out = append(out, c.UUID())
	}
	return out, nil
}

// liveCalls are the account's live legs on this node that match f, oldest first.
func (s *Server) liveCalls(acct string, f api.CallFilter) []*call.Call {
	var out []*call.Call
	for _, c := range s.calls.List(acct) {
		id := c.Identity()
		if (f.Direction != "" && string(id.Direction) != f.Direction) ||
			(f.FromNumber != "" && id.From != f.FromNumber) || (f.ToNumber != "" && id.To != f.ToNumber) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (a callsAPI) Get(_ context.Context, acct, uuid string) (api.CallView, error) {
	c, ok := a.s.calls.Get(acct, uuid)
	if !ok {
		return api.CallView{}, api.ErrCallNotFound
	}
	id := c.Identity()
	return api.CallView{CallUUID: id.UUID, Answered: c.IsAnswered(), Direction: string(id.Direction),
		From: id.From, To: id.To, CallerName: id.CallerName, SessionStart: id.Created}, nil
}

func (a callsAPI) Hangup(ctx context.Context, acct, uuid string) error {
	c, ok := a.s.calls.Get(acct, uuid)
	if !ok {
		return api.ErrCallNotFound
	}
	if c.IsAnswered() {
		c.Hangup(call.CauseNormalHangup, call.SourceAPIRequest, 0)
	} else {
		c.Hangup(call.CauseCanceled, call.SourceAPIRequest, 480)
	}
	a.s.awaitEnded(ctx, acct, []string{uuid})
	return nil
}

// applyWait bounds how long a REST action waits for its change to be applied before answering.
// Ending a call waits at most half a second for the far end to answer the BYE, so the bound is
// reached only when something is stuck; the answer is then sent anyway.
const applyWait = 3 * time.Second

// awaitEnded returns once each call has ended on our side (out of the live registry, BYE or
// CANCEL sent) and runs no document any more (a conference member has left its room), or after
// applyWait: a REST hang-up answers only then, so that a read after the answer sees no ghost.
func (s *Server) awaitEnded(ctx context.Context, acct string, uuids []string) {
	ctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	for _, id := range uuids {
		waits := []<-chan struct{}{s.runner.Stopped(id)}
		if c, ok := s.calls.Get(acct, id); ok {
			waits = append(waits, c.Done())
		}
		waits = append(waits, s.rooms.memberLegs(id)...) // a member whose call is on another node
		for _, ch := range waits {
			select {
			case <-ch:
			case <-ctx.Done():
				s.log.Warn("answering a hang-up before its call has ended", "call_uuid", id, "err", ctx.Err())
				return
			}
		}
	}
}

func (a callsAPI) Transfer(ctx context.Context, acct, uuid string, p api.TransferParams) error {
	c, ok := a.s.calls.Get(acct, uuid)
	if !ok {
		return api.ErrCallNotFound
	}
	if !c.IsAnswered() {
		return api.ErrCallNotAnswered
	}
	var aleg, bleg *flow.TransferTarget
	if p.Legs != "bleg" {
		aleg = &flow.TransferTarget{URL: p.ALegURL, Method: p.ALegMethod}
	}
	if p.Legs != "aleg" {
		bleg = &flow.TransferTarget{URL: p.BLegURL, Method: p.BLegMethod}
	}
	// The answer waits until the legs have left their element (a conference member its room,
	// both legs their bridge), bounded like a hang-up.
	ctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	switch err := a.s.runner.TransferLegs(ctx, uuid, aleg, bleg); {
	case errors.Is(err, flow.ErrNotBridged):
		return api.ErrNotBridged
	case err != nil:
		return api.ErrCallNotFound
	}
	return nil
}

// recordStart stores a new leg's record: parent is the A leg of a <Dial> B leg, sourceIP the
// REST client or INVITE source address ("" for B legs), hangupURL and hangupMethod where its
// hangup webhook will go ("" for none).
func (s *Server) recordStart(c *call.Call, parent, sipCallID, sourceIP, hangupURL, hangupMethod string) {
	id := c.Identity()
	rec := store.CallRecord{
		CallUUID: id.UUID, AuthID: id.AccountID, ParentCallUUID: parent, Direction: string(id.Direction),
		From: id.From, To: id.To, CallerName: id.CallerName, StartTime: id.Created, SIPCallID: sipCallID,
		SourceIP: sourceIP,
	}
	s.clusterCallRecord(&rec, c, hangupURL, hangupMethod)
	if err := s.store.InsertCall(context.Background(), rec); err != nil {
		c.Logger().Error("storing call record failed", "err", err)
	}
}
