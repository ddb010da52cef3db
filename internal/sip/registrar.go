package sip

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Registrar gives the SIP layer the endpoint passwords it checks digest credentials with.
type Registrar interface {
	// Credentials returns the password of an endpoint username; ok is false for an unknown
	// username.
	Credentials(ctx context.Context, username string) (password string, ok bool)
}

// Registration expiry bounds (spec §5.3).
const (
	minExpires     = 60
	maxExpires     = 3600
	maxBindings    = 10 // contacts kept per username; the oldest goes first
	credentialWait = 2 * time.Second
)

// binding is one registered contact of a username.
type binding struct {
	contact   string // contact URI as registered, without header parameters
	expires   time.Time
	source    netip.AddrPort // where the REGISTER came from: calls go there (NAT)
	transport string
	added     time.Time
}

// registrations is the in-memory registration table, guarded by Server.regMu.
type registrations map[string]map[string]*binding

// Contacts returns the unexpired contact URIs registered for username, oldest first.
func (s *Server) Contacts(username string) []string {
	now := s.now()
	s.regMu.Lock()
	defer s.regMu.Unlock()
	bs := s.liveBindingsLocked(username, now)
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.contact
	}
	return out
}

// Registered says whether username has at least one unexpired registration.
func (s *Server) Registered(username string) bool { return len(s.Contacts(username)) > 0 }

// Unregister drops every registration of username (endpoint deleted, password changed).
func (s *Server) Unregister(username string) {
	s.regMu.Lock()
	delete(s.regs, username)
	s.regMu.Unlock()
}

// liveBindingsLocked prunes expired bindings of username and returns the rest, oldest first.
func (s *Server) liveBindingsLocked(username string, now time.Time) []*binding {
	m := s.regs[username]
	var out []*binding
	for k, b := range m {
		if !now.Before(b.expires) {
			delete(m, k)
			continue
		}
		out = append(out, b)
	}
	if len(m) == 0 {
		delete(s.regs, username)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].added.Equal(out[j].added) {
			return out[i].added.Before(out[j].added)
		}
		return out[i].contact < out[j].contact
	})
	return out
}

// bindingFor finds the live binding of a contact URI, to send a call where the phone's
// REGISTER came from.
func (s *Server) bindingFor(contact string) (binding, bool) {
	now := s.now()
	s.regMu.Lock()
	defer s.regMu.Unlock()
	for _, m := range s.regs {
		if b, ok := m[contact]; ok && now.Before(b.expires) {
			return *b, true
		}
	}
	return binding{}, false
}

// sweepRegistrations drops expired bindings of every user.
func (s *Server) sweepRegistrations() {
	now := s.now()
	s.regMu.Lock()
	for u := range s.regs {
		s.liveBindingsLocked(u, now)
	}
	s.regMu.Unlock()
}

func (s *Server) sweepLoop() {
	defer s.serveWG.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweepRegistrations()
		}
	}
}

// lookupPassword asks the Registrar, bounded in time.
func (s *Server) lookupPassword(user string) (string, bool) {
	if s.opts.Registrar == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(s.ctx, credentialWait)
	defer cancel()
	return s.opts.Registrar.Credentials(ctx, user)
}

// checkCredentials verifies the digest credentials in header (Authorization or
// Proxy-Authorization) of req, which came from src.
func (s *Server) checkCredentials(req *sip.Request, header string, src netip.Addr) (string, authResult) {
	var res authResult
	user := ""
	for _, h := range req.GetHeaders(header) {
		p, err := parseDigest(h.Value())
		if err != nil {
			continue
		}
		user, res = verifyDigest(p, digestCheck{method: string(req.Method), realm: s.opts.Realm, src: src,
			now: s.now(), guard: s.guard, password: s.lookupPassword})
		if res != authMissing {
			return user, res
		}
	}
	return user, res
}

// challenge is a fresh WWW-Authenticate / Proxy-Authenticate value.
func (s *Server) challenge(stale bool) string {
	return challengeValue(s.opts.Realm, s.guard.Nonces().Issue(s.now()), stale)
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	src := sourceOf(req)
	if !s.admit(req, src) || !s.hold(req, tx, src) {
		return
	}
	if s.opts.Registrar == nil {
		s.respond(req, tx, 403, "Forbidden", sip.NewHeader("Warning", `399 parley "registration is not enabled"`))
		return
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	user, res := s.checkCredentials(req, "Authorization", src.Addr())
	switch res {
	case authIgnored:
		return
	case authMissing, authStale:
		s.challengeOrRefuse(req, tx, src, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", s.challenge(res == authStale)))
		return
	case authWrong:
		s.log.Debug("REGISTER with wrong credentials", "username", user, "source", src.String())
		s.challengeOrRefuse(req, tx, src, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", s.challenge(false)))
		return
	}
	if user != to.Address.User {
		s.log.Warn("REGISTER for another user's address refused", "username", user, "aor", to.Address.User, "source", src.String())
		s.respond(req, tx, 403, "Forbidden")
		return
	}

	defExpires := maxExpires
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			defExpires = n
		}
	}
	now := s.now()
	transport := strings.ToLower(req.Transport())
	var contacts []*sip.ContactHeader
	wildcard := false
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		contacts = append(contacts, c)
	}
	if wildcard {
		if defExpires != 0 || len(contacts) > 0 {
			s.respond(req, tx, 400, "Bad Request", sip.NewHeader("Warning", `399 parley "Contact * needs Expires: 0"`))
			return
		}
		s.Unregister(user)
		s.log.Info("all registrations removed", "username", user, "source", src.String())
		s.respond(req, tx, 200, "OK", sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
		return
	}

	s.regMu.Lock()
	m := s.regs[user]
	if m == nil {
		m = map[string]*binding{}
		s.regs[user] = m
	}
	for _, c := range contacts {
		if c.Address.Scheme != "sip" || c.Address.Host == "" {
			continue
		}
		exp := defExpires
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				exp = n
			}
		}
		key := contactKey(c.Address)
		if exp == 0 {
			delete(m, key)
			continue
		}
		exp = min(max(exp, minExpires), maxExpires)
		b := m[key]
		if b == nil {
			b = &binding{contact: key, added: now}
			m[key] = b
		}
		b.expires = now.Add(time.Duration(exp) * time.Second)
		b.source = src
		b.transport = transport
	}
	live := s.liveBindingsLocked(user, now)
	for len(live) > maxBindings {
		delete(m, live[0].contact)
		live = live[1:]
	}
	hdrs := []sip.Header{sip.NewHeader("Date", now.UTC().Format(time.RFC1123))}
	for _, b := range live {
		secs := int(b.expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.contact+">;expires="+strconv.Itoa(secs)))
	}
	s.regMu.Unlock()
	if len(contacts) > 0 {
		s.log.Info("registered", "username", user, "source", src.String(), "contacts", len(live))
	}
	s.respond(req, tx, 200, "OK", hdrs...)
}

// contactKey is the contact URI without header parameters, the key of a binding.
func contactKey(u sip.Uri) string {
	c := u.Clone()
	c.Headers = nil
	return c.String()
}

// sourceOf is the address a request came from.
func sourceOf(req *sip.Request) netip.AddrPort {
	src, _ := netip.ParseAddrPort(req.Source())
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
}
