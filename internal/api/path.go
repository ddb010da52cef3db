package api

import (
	"net/http"
	"net/url"
	"strings"
)

// fixedSegments maps the lower-case form of every fixed path segment to its canonical form.
var fixedSegments = map[string]string{
	"api": "api", "v1": "v1", "account": "Account",
	"conference": "Conference", "member": "Member", "kick": "Kick", "mute": "Mute",
	"deaf": "Deaf", "play": "Play", "speak": "Speak", "record": "Record",
	"call": "Call", "request": "Request", "recording": "Recording",
	"application": "Application", "endpoint": "Endpoint", "stream": "Stream",
	"dtmf": "DTMF",
}

// varEscaper and varUnescaper carry a decoded variable segment through the router unchanged:
// only '%' and '/' are escaped, so a decoded '/' cannot split a segment.
var (
	varEscaper   = strings.NewReplacer("%", "%25", "/", "%2F")
	varUnescaper = strings.NewReplacer("%25", "%", "%2F", "/")
)

// normalizePath turns a request path (escaped form) into the canonical routing path
// "/Account/{auth_id}/Fixed/{var}/Fixed…" without the "/api/v1" or "/v1" prefix and without a
// trailing slash. Variable segments are percent-decoded once and then escaped with varEscaper.
//
// Every path of the API alternates fixed and variable segments after the auth_id (Resource,
// {id}, Sub-resource, {id}, Action), so a segment's position says whether it is fixed; fixed
// segments match case-insensitively, variable ones are kept as they are. ok is false for a path
// that cannot match any route: no known prefix, an empty segment, a bad escape, or an unknown
// fixed segment.
func normalizePath(escaped string) (canon string, ok bool) {
	if !strings.HasPrefix(escaped, "/") {
		return "", false
	}
	p := escaped[1:]
	if strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	segs := strings.Split(p, "/")
	for j, raw := range segs {
		dec, err := url.PathUnescape(raw)
		if raw == "" || err != nil || dec == "" {
			return "", false
		}
		segs[j] = dec
	}
	// Prefix: api/v1/Account or v1/Account.
	i := 0
	if strings.EqualFold(segs[0], "api") {
		i = 1
	}
	if len(segs) < i+3 || !strings.EqualFold(segs[i], "v1") || !strings.EqualFold(segs[i+1], "account") {
		return "", false
	}
	segs = segs[i+2:]
	var b strings.Builder
	b.Grow(len(escaped) + 8)
	b.WriteString("/Account")
	for j, dec := range segs {
		b.WriteByte('/')
		if j%2 == 0 { // auth_id and every second segment after it are variable
			varEscaper.WriteString(&b, dec)
			continue
		}
		fixed, known := fixedSegments[strings.ToLower(dec)]
		if !known || fixed == "api" || fixed == "v1" || fixed == "Account" {
			return "", false
		}
		b.WriteString(fixed)
	}
	return b.String(), true
}

// pathVar returns the decoded value of the variable segment name of a routed request.
func pathVar(r *http.Request, name string) string {
	return varUnescaper.Replace(r.PathValue(name))
}

// Target is what a REST path addresses, for a caller that routes requests before this handler
// (a cluster node forwarding them to the node that serves the room or the call).
type Target struct {
	Account string
	// Resource is the first fixed segment after the account in canonical form ("Call",
	// "Request", "Conference", …); "" for the account itself.
	Resource string
	// ID is the decoded variable segment after Resource (a CallUUID, a conference name); ""
	// when the path addresses the whole collection.
	ID string
}

// ParseTarget reads an escaped request path as the router does (every form of §1.1); ok is
// false for a path that cannot match any route.
func ParseTarget(escapedPath string) (t Target, ok bool) {
	canon, ok := normalizePath(escapedPath)
	if !ok {
		return Target{}, false
	}
	// canon is "/Account/{auth_id}[/Resource[/{id}[/…]]]".
	segs := strings.Split(canon, "/")
	t.Account = varUnescaper.Replace(segs[2])
	if len(segs) > 3 {
		t.Resource = segs[3]
	}
	if len(segs) > 4 {
		t.ID = varUnescaper.Replace(segs[4])
	}
	return t, true
}
