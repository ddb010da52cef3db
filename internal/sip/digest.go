package sip

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/sipguard"
)

// Digest authentication (RFC 2617 / RFC 7616 with MD5 and qop=auth), both sides: the
// registrar and INVITE challenges verify credentials, outbound legs answer challenges.

// digestParams are the name=value pairs of a Digest challenge or credentials.
type digestParams map[string]string

var errNotDigest = errors.New("not a Digest authentication header")

// parseDigest parses `Digest a="b", c=d, ...`. Names are lower-cased; quoted values are
// unescaped. It never panics and rejects what it cannot read.
func parseDigest(v string) (digestParams, error) {
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:6], "digest") || (v[6] != ' ' && v[6] != '\t') {
		return nil, errNotDigest
	}
	s := v[7:]
	p := digestParams{}
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: parameter without value in %q", errNotDigest, v)
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted value", errNotDigest)
			}
			val, s = b.String(), s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if name == "" {
			return nil, fmt.Errorf("%w: empty parameter name", errNotDigest)
		}
		p[name] = val
	}
	return p, nil
}

func md5hex(parts ...string) string {
	h := md5.Sum([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(h[:])
}

// digestResponse computes the "response" value (RFC 2617 §3.2.2.1).
func digestResponse(username, realm, password, method, uri, nonce, qop, nc, cnonce string) string {
	ha1 := md5hex(username, realm, password)
	ha2 := md5hex(method, uri)
	if qop == "" {
		return md5hex(ha1, nonce, ha2)
	}
	return md5hex(ha1, nonce, nc, cnonce, qop, ha2)
}

// quote makes a quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// challengeValue is the value of a WWW-Authenticate / Proxy-Authenticate header.
func challengeValue(realm, nonce string, stale bool) string {
	c := fmt.Sprintf(`Digest realm=%s, nonce=%s, algorithm=MD5, qop="auth"`, quote(realm), quote(nonce))
	if stale {
		c += ", stale=true"
	}
	return c
}

// authResult is the outcome of checking credentials.
type authResult int

const (
	authMissing authResult = iota // no usable credentials for our realm: challenge
	authOK
	authStale   // right credentials, old or already used nonce: challenge with stale=true
	authWrong   // wrong password or unknown user
	authIgnored // the source or username is locked out: send nothing at all
)

// digestCheck is what verifying credentials needs besides the credentials.
type digestCheck struct {
	method, realm string
	src           netip.Addr
	now           time.Time
	guard         *sipguard.Guard
	password      func(user string) (string, bool)
}

// verifyDigest checks credentials p. It returns the username it found (also on failure, for
// logs). It records failures and successes in the guard; a replayed nonce-count counts as a
// failure and is answered like a stale nonce, so a real client that lost track retries.
func verifyDigest(p digestParams, c digestCheck) (string, authResult) {
	user := p["username"]
	if p["realm"] != c.realm || user == "" || p["nonce"] == "" || p["response"] == "" {
		return user, authMissing
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return user, authMissing
	}
	qop := p["qop"]
	if qop != "" && qop != "auth" {
		return user, authMissing
	}
	if qop != "" && (p["cnonce"] == "" || p["nc"] == "") {
		return user, authMissing
	}
	if c.guard.CheckUser(c.src, user, c.method, c.now) != sipguard.Allow {
		return user, authIgnored
	}
	nonces := c.guard.Nonces()
	fresh := nonces.Check(p["nonce"], c.now)
	if fresh == sipguard.NonceInvalid {
		return user, authMissing
	}
	pw, ok := c.password(user)
	if !ok {
		c.guard.AuthFailed(c.src, user, c.now)
		return user, authWrong
	}
	want := digestResponse(user, c.realm, pw, c.method, p["uri"], p["nonce"], qop, p["nc"], p["cnonce"])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		c.guard.AuthFailed(c.src, user, c.now)
		return user, authWrong
	}
	if fresh == sipguard.NonceStale {
		return user, authStale // counted once, by Check
	}
	nc := ""
	if qop != "" {
		nc = p["nc"]
	}
	switch nonces.Use(p["nonce"], nc, c.now) {
	case sipguard.NonceOK:
		c.guard.AuthSucceeded(c.src, user, c.now)
		return user, authOK
	case sipguard.NonceStale:
		return user, authStale
	case sipguard.NonceReplay:
		c.guard.AuthFailed(c.src, user, c.now)
		return user, authStale
	}
	return user, authMissing
}

// answerChallenge builds the Authorization value for a challenge we received.
func answerChallenge(challenge, method, uri, username, password string, nc int) (string, error) {
	p, err := parseDigest(challenge)
	if err != nil {
		return "", err
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return "", fmt.Errorf("digest algorithm %s is not supported", alg)
	}
	qop := ""
	for _, q := range strings.Split(p["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			qop = "auth"
		}
	}
	if p["qop"] != "" && qop == "" {
		return "", fmt.Errorf("digest qop %q is not supported", p["qop"])
	}
	var cb [8]byte
	_, _ = rand.Read(cb[:])
	cnonce := hex.EncodeToString(cb[:])
	ncs := fmt.Sprintf("%08x", nc)
	resp := digestResponse(username, p["realm"], password, method, uri, p["nonce"], qop, ncs, cnonce)
	var b strings.Builder
	fmt.Fprintf(&b, "Digest username=%s, realm=%s, nonce=%s, uri=%s, response=%s, algorithm=MD5",
		quote(username), quote(p["realm"]), quote(p["nonce"]), quote(uri), quote(resp))
	if qop != "" {
		fmt.Fprintf(&b, ", qop=auth, nc=%s, cnonce=%s", ncs, quote(cnonce))
	}
	if op, ok := p["opaque"]; ok {
		fmt.Fprintf(&b, ", opaque=%s", quote(op))
	}
	return b.String(), nil
}
