package call

import "strings"

// IsNumber tells whether a SIP user part is a telephone number (spec §1.7).
func IsNumber(user string) bool {
	digits := strings.TrimPrefix(user, "+")
	if len(digits) < 1 || len(digits) > 15 {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// PartyUser is the user part of a party as reports and requests give it: a number, a bare
// user, or a SIP URI ("sip:alice@host" gives "alice").
func PartyUser(party string) string {
	if rest, ok := strings.CutPrefix(party, "sip:"); ok {
		user, _, _ := strings.Cut(rest, "@")
		return user
	}
	return party
}

// Party formats a SIP party as responses and webhooks show it (spec §1.7): E.164 digits without
// "+" for a number, otherwise "sip:user@host" without port, parameters or display name.
func Party(user, host string) string {
	if IsNumber(user) {
		return strings.TrimPrefix(user, "+")
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	if user == "" {
		return "sip:" + host
	}
	return "sip:" + user + "@" + host
}

// URIParty formats a sip: or sips: URI as Party does: "sip:alice@pbx.example.com:5080;x=y"
// gives "sip:alice@pbx.example.com", "sip:+4930123@gw" gives "4930123".
func URIParty(uri string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(uri, "sip:"), "sips:")
	rest = strings.SplitN(rest, ";", 2)[0]
	user, host, ok := strings.Cut(rest, "@")
	if !ok {
		return Party("", user)
	}
	return Party(user, host)
}
