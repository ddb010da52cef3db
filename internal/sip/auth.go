package sip

import (
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// AuthAction is what to do with a new INVITE.
type AuthAction int

// The verdicts of Options.Authenticate.
const (
	AuthAccept    AuthAction = iota // go on: the Handler gets the call
	AuthChallenge                   // answer 407 (digest, realm Options.Realm); accepted once it proves an endpoint
	AuthReject                      // refuse with Status
)

// AuthDecision is the app's verdict on one INVITE.
type AuthDecision struct {
	Action AuthAction
	Status int    // AuthReject: the final status (403, 404, 480, ...); default 403
	Reason string // AuthReject: reason phrase; default from the status
}

// Accept, Challenge and Reject build AuthDecisions.
func Accept() AuthDecision    { return AuthDecision{Action: AuthAccept} }
func Challenge() AuthDecision { return AuthDecision{Action: AuthChallenge} }
func Reject(status int, reason string) AuthDecision {
	return AuthDecision{Action: AuthReject, Status: status, Reason: reason}
}

// Authenticated is implemented by inbound legs. AuthenticatedUser is the endpoint username
// whose digest credentials the INVITE carried and that were verified, "" when none.
type Authenticated interface {
	AuthenticatedUser() string
}

// AuthenticatedUser implements Authenticated.
func (l *inboundLeg) AuthenticatedUser() string { return l.authUser }

// authenticateInvite runs the INVITE authentication rules. It answers the INVITE itself
// (407, 403 or the rejection) and returns ok=false when the call must not go on.
func (s *Server) authenticateInvite(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, transport string) (user string, ok bool) {
	log := s.log.With("sip_call_id", callID(req))
	if s.opts.Registrar != nil {
		u, res := s.checkCredentials(req, "Proxy-Authorization", src.Addr())
		if res == authMissing {
			u, res = s.checkCredentials(req, "Authorization", src.Addr())
		}
		switch res {
		case authIgnored:
			return "", false // locked out: no answer at all
		case authWrong:
			log.Debug("INVITE with wrong credentials", "username", u, "source", src.String())
			s.challengeOrRefuse(req, tx, src, 403, "Forbidden")
			return "", false
		case authStale:
			s.challengeOrRefuse(req, tx, src, 407, "Proxy Authentication Required",
				sip.NewHeader("Proxy-Authenticate", s.challenge(true)))
			return "", false
		case authOK:
			user = u
		}
	}
	if s.opts.Authenticate == nil {
		return user, true
	}
	d := s.opts.Authenticate(s.ctx, legInfoFromInvite(req, src, transport), user)
	switch d.Action {
	case AuthAccept:
		return user, true
	case AuthChallenge:
		if user != "" {
			return user, true
		}
		if s.opts.Registrar == nil {
			log.Warn("INVITE needs authentication but no Registrar is configured", "source", src.String())
			s.respond(req, tx, 403, "Forbidden")
			return "", false
		}
		log.Debug("INVITE challenged", "source", src.String())
		s.challengeOrRefuse(req, tx, src, 407, "Proxy Authentication Required",
			sip.NewHeader("Proxy-Authenticate", s.challenge(false)))
		return "", false
	default:
		status, reason := d.Status, d.Reason
		if status < 300 || status > 699 {
			status = 403
		}
		if reason == "" {
			reason = reasonPhrase(status)
		}
		log.Info("INVITE refused", "status", status, "source", src.String())
		s.respond(req, tx, status, reason)
		return "", false
	}
}

// reasonPhrase is the usual reason phrase of a status.
func reasonPhrase(status int) string {
	switch status {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Refused"
}
