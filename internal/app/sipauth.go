package app

import (
	"context"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/sip"
)

// endpointCredentials lets the SIP registrar and INVITE authentication check endpoint
// passwords.
type endpointCredentials struct{ s *Server }

func (e endpointCredentials) Credentials(ctx context.Context, username string) (string, bool) {
	ep, err := e.s.store.GetEndpointByUsername(ctx, username)
	if err != nil {
		return "", false
	}
	return ep.Password, true
}

// authenticate decides, before routing, whether an INVITE must prove it comes from an endpoint
// (spec §8.1): apps with public_uri are reachable by anyone; a phone whose From is one of our
// endpoints must authenticate even from a trusted address, so that its own application
// applies; any other INVITE from an untrusted source is challenged.
func (s *Server) authenticate(ctx context.Context, info call.LegInfo, authUser string) sip.AuthDecision {
	if info.JoinToken != "" {
		// Another cluster node's internal leg: its one-time token is its credential.
		if s.rooms.acceptsJoin(info.JoinToken) {
			return sip.Accept()
		}
		return sip.Reject(403, "Forbidden")
	}
	if authUser != "" {
		return sip.Accept()
	}
	if app, err := s.store.LookupApplication(ctx, info.ToUser); err == nil && app.PublicURI {
		return sip.Accept()
	}
	if info.FromHost == s.cfg.SIPDomain() || hostOnly(info.FromHost) == s.cfg.SIPDomain() {
		if _, err := s.store.GetEndpointByUsername(ctx, info.FromUser); err == nil {
			return sip.Challenge()
		}
	}
	if _, trusted := s.cfg.AccountForSource(info.Source.Addr()); !trusted {
		return sip.Challenge()
	}
	return sip.Accept()
}

// hostOnly strips a port from host.
func hostOnly(host string) string {
	for i := len(host) - 1; i >= 0; i-- {
		switch host[i] {
		case ':':
			return host[:i]
		case ']':
			return host
		}
	}
	return host
}
