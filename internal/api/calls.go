package api

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Calls is what the call routes (§4) need from the call domain. A call is "live" from the
// moment its leg exists until it ends, ringing or answered. Get, Hangup and Transfer return
// ErrCallNotFound for a CallUUID that is unknown, ended, or of another account.
type Calls interface {
	// MakeCall creates an outbound leg and returns its CallUUID (also the request_uuid) at
	// once; the INVITE is sent after the response. It returns ErrDraining while the server
	// shuts down, and may return ErrConcurrentLimit when the account has
	// Options.MaxConcurrentCalls live legs (the API checks Live first; this closes the race).
	MakeCall(ctx context.Context, accountID string, p MakeCallParams) (callUUID string, err error)
	// List returns the CallUUIDs of the account's live legs that match f, oldest first.
	List(ctx context.Context, accountID string, f CallFilter) ([]string, error)
	// Get returns a snapshot of one live leg.
	Get(ctx context.Context, accountID, callUUID string) (CallView, error)
	// Hangup ends a live leg (§4.5: BYE, CANCEL or 480; source "API Request"). It returns once
	// the leg has ended (List, Get and Live no longer report it, a conference member has left
	// its room), bounded by a short timeout.
	Hangup(ctx context.Context, accountID, callUUID string) error
	// Transfer replaces the documents of the legs p names (§4.6); it returns once the running
	// element has been abandoned (bounded by a short timeout). ErrCallNotAnswered when the
	// leg is still ringing; ErrNotBridged when p names the B leg and the call is not in a
	// <Dial> bridge (checked after ErrCallNotAnswered).
	Transfer(ctx context.Context, accountID, callUUID string, p TransferParams) error
	// Live returns the number of live legs of the account, inbound and outbound.
	Live(ctx context.Context, accountID string) int
}

// MakeCallParams are the validated parameters of POST /Call/ (§4.2), defaults applied.
type MakeCallParams struct {
	// From is the caller id as sent: a number with or without '+', a sip:/sips: URI or a bare
	// SIP user; it becomes the user part of the INVITE From.
	From string
	// To is the destination as sent: a sip:/sips: URI, or a number with or without '+'
	// (ToNumber) that goes to the outbound gateway.
	To       string
	ToNumber bool
	// AnswerURL is fetched on answer with AnswerMethod ("GET" or "POST", as are all methods).
	AnswerURL    string
	AnswerMethod string
	// RingURL, HangupURL and FallbackURL are "" when not given.
	RingURL        string
	RingMethod     string
	HangupURL      string
	HangupMethod   string
	FallbackURL    string
	FallbackMethod string
	// CallerName is the From display name; "" for none.
	CallerName string
	// SendDigits are the DTMF digits to send ([0-9A-D*#wW]); "" for none.
	SendDigits      string
	SendOnPreanswer bool
	// TimeLimit is the maximum answered duration (default 4 h).
	TimeLimit time.Duration
	// HangupOnRing, when not nil, hangs up this long after ringing starts (may be 0).
	HangupOnRing *time.Duration
	// RingTimeout cancels an unanswered call after this long (default 120 s).
	RingTimeout time.Duration
	// SIPHeaders go on the INVITE in this order; Name already carries the "X-PH-" prefix.
	SIPHeaders []SIPHeader
	// SourceIP is the address of the REST client that made the request (the CDR's source_ip).
	SourceIP string
	// MachineDetection is nil when machine_detection is off.
	MachineDetection *MachineDetection
}

// SIPHeader is one header of MakeCallParams.SIPHeaders.
type SIPHeader struct {
	Name  string
	Value string
}

// CallFilter selects live legs for Calls.List. Empty fields do not filter; FromNumber and
// ToNumber are normalised as in §1.7 (digits without '+' for numbers, "sip:user@host" for
// other parties) and compare equal to the normalised from/to of a leg.
type CallFilter struct {
	// Direction is "", "inbound" or "outbound".
	Direction  string
	FromNumber string
	ToNumber   string
}

// CallView is a snapshot of a live leg for GET /Call/{call_uuid}/ (§4.4).
type CallView struct {
	CallUUID string
	// Answered selects call_status "in-progress" (true) or "ringing".
	Answered bool
	// Direction is "inbound" or "outbound".
	Direction string
	// From and To are as in webhooks (§1.7 formats).
	From       string
	To         string
	CallerName string
	// SessionStart is when the leg was created.
	SessionStart time.Time
}

// TransferParams are the validated parameters of POST /Call/{call_uuid}/ (§4.6). A URL is
// set exactly for the legs Legs names.
type TransferParams struct {
	// Legs is "aleg", "bleg" or "both".
	Legs       string
	ALegURL    string
	ALegMethod string
	BLegURL    string
	BLegMethod string
}

func (s *server) callRoutes() {
	s.routeWith(http.MethodPost, "/Call", s.makeCall, routeOptions{admit: s.admitCall})
	s.route(http.MethodGet, "/Call", s.listCalls)
	s.route(http.MethodGet, "/Call/{cid}", s.getCall)
	s.route(http.MethodPost, "/Call/{cid}", s.transferCall)
	s.routeWith(http.MethodDelete, "/Call/{cid}", s.hangupCall("cid"), routeOptions{ignoreBody: true})
	s.routeWith(http.MethodDelete, "/Request/{rid}", s.hangupCall("rid"), routeOptions{ignoreBody: true})
}

// admitCall applies the call limits of §1.8 at the rate-limit step: it takes a
// calls_per_second token (given back by the release func when no call is created) and checks
// the account's live legs against the concurrent limit.
func (s *server) admitCall(w http.ResponseWriter, r *http.Request, account string) (func(), bool) {
	var release func()
	if s.callLimiter != nil {
		if ok, wait := s.callLimiter.allow(account); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			s.writeError(w, http.StatusTooManyRequests, msgCallRateLimited)
			return nil, false
		}
		release = func() { s.callLimiter.refund(account) }
	}
	if s.maxCalls > 0 && s.opts.Calls.Live(r.Context(), account) >= s.maxCalls {
		if release != nil {
			release()
		}
		// A live call may end at any moment, so the earliest useful retry is in a second.
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusTooManyRequests, msgConcurrentLimit)
		return nil, false
	}
	return release, true
}

type callFiredBody struct {
	APIID       string `json:"api_id"`
	Message     string `json:"message"`
	RequestUUID string `json:"request_uuid"`
}

// Bounds of the integer parameters of POST /Call/.
const (
	maxTimeLimit    = 86400
	maxRingTimeout  = 600
	maxHangupOnRing = 86400 // larger values behave the same: ring_timeout ends ringing first
)

func (s *server) makeCall(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := MakeCallParams{TimeLimit: 14400 * time.Second, RingTimeout: 120 * time.Second}
	if from, ok := b.String("from", true, 0); ok && !validCallerID(from) {
		b.invalid("from")
	} else {
		p.From = from
	}
	if to, ok := b.String("to", true, 0); ok {
		p.To = to
		switch {
		case strings.Contains(to, "<"): // bulk dialling is not supported
			b.invalid("to")
		case isNumber(to):
			p.ToNumber = true
			if !s.opts.HasSIPGateway {
				b.invalid("to")
			}
		case !isSIPURI(to):
			b.invalid("to")
		}
	}
	p.AnswerURL, _ = b.URL("answer_url", true)
	p.AnswerMethod = b.Method("answer_method")
	p.RingURL, _ = b.URL("ring_url", false)
	p.RingMethod = b.Method("ring_method")
	p.HangupURL, _ = b.URL("hangup_url", false)
	p.HangupMethod = b.Method("hangup_method")
	p.FallbackURL, _ = b.URL("fallback_url", false)
	p.FallbackMethod = b.Method("fallback_method")
	p.CallerName, _ = b.String("caller_name", false, 50)
	if d, ok := b.String("send_digits", false, 0); ok {
		if strings.TrimLeft(d, "0123456789ABCD*#wW") != "" {
			b.invalid("send_digits")
		}
		p.SendDigits = d
	}
	p.SendOnPreanswer, _ = b.Bool("send_on_preanswer", false)
	if n, ok := b.Int("time_limit", false, 1, maxTimeLimit); ok {
		p.TimeLimit = time.Duration(n) * time.Second
	}
	if n, ok := b.Int("hangup_on_ring", false, 0, maxInt); ok {
		d := time.Duration(min(n, maxHangupOnRing)) * time.Second
		p.HangupOnRing = &d
	}
	if n, ok := b.Int("ring_timeout", false, 1, maxRingTimeout); ok {
		p.RingTimeout = time.Duration(n) * time.Second
	}
	if h, ok := b.String("sip_headers", false, 0); ok {
		hs, valid := parseSIPHeaders(h)
		if !valid {
			b.invalid("sip_headers")
		}
		p.SIPHeaders = hs
	}
	p.MachineDetection = b.machineDetection()
	if b.err != nil {
		return b.err
	}
	p.SourceIP = clientIP(r)
	id, err := s.opts.Calls.MakeCall(r.Context(), q.account, p)
	if err != nil {
		return err
	}
	q.keepAdmission()
	s.writeJSON(w, http.StatusCreated, callFiredBody{APIID: s.newID(), Message: "call fired", RequestUUID: id})
	return nil
}

// parseSIPHeaders parses "name=value,name=value" (§4.2). Names are [A-Za-z0-9-]+; values may
// be empty but hold no control characters; spaces around pairs, names and values are trimmed.
func parseSIPHeaders(s string) ([]SIPHeader, bool) {
	var hs []SIPHeader
	for pair := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(pair, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.TrimLeft(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return nil, false
		}
		for _, c := range value {
			if c < 0x20 || c == 0x7f {
				return nil, false
			}
		}
		hs = append(hs, SIPHeader{Name: "X-PH-" + name, Value: value})
	}
	return hs, true
}

type callListBody struct {
	APIID string   `json:"api_id"`
	Calls []string `json:"calls"`
}

// listCalls serves GET /Call/: status live or queued reads live calls (§4.3); no status or a
// final state lists call detail records (§E.1).
func (s *server) listCalls(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	status, _ := b.Enum("status", false, slices.Concat(liveStatuses, finalStatuses)...)
	if b.err == nil && status != "live" && status != "queued" {
		return s.listCallRecords(w, r, q, b, status)
	}
	var f CallFilter
	f.Direction, _ = b.Enum("call_direction", false, "inbound", "outbound")
	from, _ := b.String("from_number", false, 0)
	to, _ := b.String("to_number", false, 0)
	if b.err != nil {
		return b.err
	}
	f.FromNumber, f.ToNumber = normalizeParty(from), normalizeParty(to)
	calls := []string{}
	if status == "live" {
		ids, err := s.opts.Calls.List(r.Context(), q.account, f)
		if err != nil {
			return err
		}
		if ids != nil {
			calls = ids
		}
	}
	s.writeJSON(w, http.StatusOK, callListBody{APIID: s.newID(), Calls: calls})
	return nil
}

type callBody struct {
	APIID            string `json:"api_id"`
	CallStatus       string `json:"call_status"`
	CallUUID         string `json:"call_uuid"`
	CallerName       string `json:"caller_name"`
	Direction        string `json:"direction"`
	From             string `json:"from"`
	RequestUUID      string `json:"request_uuid"`
	SessionStart     string `json:"session_start"`
	StirAttestation  string `json:"stir_attestation"`
	StirVerification string `json:"stir_verification"`
	To               string `json:"to"`
}

// getCall serves GET /Call/{call_uuid}/: status live or queued reads a live call (§4.4); no
// status reads its call detail record (§E.1).
func (s *server) getCall(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	status, given := b.Enum("status", false, liveStatuses...)
	if b.err != nil {
		return b.err
	}
	if !given {
		return s.getCallRecord(w, r, q)
	}
	if status == "queued" { // Parley has no call queue
		return ErrCallNotFound
	}
	v, err := s.opts.Calls.Get(r.Context(), q.account, pathVar(r, "cid"))
	if err != nil {
		return err
	}
	st := "ringing"
	if v.Answered {
		st = "in-progress"
	}
	s.writeJSON(w, http.StatusOK, callBody{
		APIID: s.newID(), CallStatus: st, CallUUID: v.CallUUID, CallerName: v.CallerName,
		Direction: v.Direction, From: v.From, RequestUUID: v.CallUUID,
		SessionStart:    v.SessionStart.UTC().Format("2006-01-02 15:04:05.000000"),
		StirAttestation: "", StirVerification: "Not Applicable", To: v.To,
	})
	return nil
}

// hangupCall serves DELETE /Call/{uuid}/ and DELETE /Request/{uuid}/ (the request_uuid is the
// CallUUID). No body is read.
func (s *server) hangupCall(segment string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *request) error {
		if err := s.opts.Calls.Hangup(r.Context(), q.account, pathVar(r, segment)); err != nil {
			return err
		}
		writeNoContent(w)
		return nil
	}
}

type transferBody struct {
	APIID    string `json:"api_id"`
	Message  string `json:"message"`
	CallUUID string `json:"call_uuid"`
}

func (s *server) transferCall(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	legs, ok := b.Enum("legs", false, "aleg", "bleg", "both")
	if !ok {
		legs = "aleg"
	}
	p := TransferParams{Legs: legs}
	// A URL for a leg that legs does not name is validated but not used.
	aURL, _ := b.URL("aleg_url", legs != "bleg")
	aMethod := b.Method("aleg_method")
	bURL, _ := b.URL("bleg_url", legs != "aleg")
	bMethod := b.Method("bleg_method")
	if b.err != nil {
		return b.err
	}
	if legs != "bleg" {
		p.ALegURL, p.ALegMethod = aURL, aMethod
	}
	if legs != "aleg" {
		p.BLegURL, p.BLegMethod = bURL, bMethod
	}
	uuid := pathVar(r, "cid")
	if err := s.opts.Calls.Transfer(r.Context(), q.account, uuid, p); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, transferBody{APIID: s.newID(), Message: "call transferred", CallUUID: uuid})
	return nil
}

// clientIP is the address of the peer that sent r, without the port.
func clientIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

// isNumber reports whether s is a telephone number of §1.7: up to 15 digits, optional '+'.
func isNumber(s string) bool {
	d := strings.TrimPrefix(s, "+")
	return d != "" && len(d) <= 15 && strings.TrimLeft(d, "0123456789") == ""
}

// sipScheme returns s without a leading "sip:" or "sips:" (any case), and whether it had one.
func sipScheme(s string) (string, bool) {
	for _, scheme := range []string{"sip:", "sips:"} {
		if len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return "", false
}

// badURIChars may not appear in a SIP URI or user sent as a bare parameter value.
const badURIChars = " \t<>\"\\"

// isSIPURI reports whether s is a sip: or sips: URI with a host: [user@]host[:port][;params].
func isSIPURI(s string) bool {
	rest, ok := sipScheme(s)
	if !ok || hasControlOr(rest, badURIChars) {
		return false
	}
	user, host, hasUser := strings.Cut(rest, "@")
	if !hasUser {
		host = user
	} else if user == "" || strings.Contains(host, "@") {
		return false
	}
	if strings.HasPrefix(host, "[") { // IPv6 reference
		end := strings.IndexByte(host, ']')
		return end > 1
	}
	if i := strings.IndexAny(host, ":;?"); i >= 0 {
		host = host[:i]
	}
	return host != ""
}

// validCallerID accepts a number, a SIP URI, or a bare SIP user (it becomes the user part).
func validCallerID(s string) bool {
	if isNumber(s) || isSIPURI(s) {
		return true
	}
	return len(s) <= 64 && !hasControlOr(s, badURIChars+"@:;,") && s != ""
}

func hasControlOr(s, chars string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(chars, c) {
			return true
		}
	}
	return false
}

// normalizeParty puts a from/to filter value in the form of responses (§1.7): a number (also
// the user part of a SIP URI) as digits without '+', any other SIP URI as "sip:user@host"
// without port, parameters or headers. Other text is returned as it is.
func normalizeParty(s string) string {
	if isNumber(s) {
		return strings.TrimPrefix(s, "+")
	}
	rest, ok := sipScheme(s)
	if !ok {
		return s
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	user, host, hasUser := strings.Cut(rest, "@")
	if !hasUser {
		user, host = "", user
	}
	if isNumber(user) {
		return strings.TrimPrefix(user, "+")
	}
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end >= 0 {
			host = host[:end+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if user == "" {
		return "sip:" + host
	}
	return "sip:" + user + "@" + host
}
