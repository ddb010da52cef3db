package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Digest authentication (RFC 2617 / RFC 7616 with MD5 and qop=auth), both sides: the
// registrar and INVITE challenges verify credentials, outbound legs answer challenges.

// nonceTTL is how long a nonce is accepted; an older one with right credentials gets
// "stale=true" so the client retries without asking its user.
const nonceTTL = 5 * time.Minute

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

// nonceMaker issues and checks nonces without storing them: a nonce is its issue time and
// an HMAC of it under a per-server random key.
type nonceMaker struct {
	key [32]byte
}

func newNonceMaker() *nonceMaker {
	n := &nonceMaker{}
	_, _ = rand.Read(n.key[:])
	return n
}

func (n *nonceMaker) make(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:])
	m := hmac.New(sha256.New, n.key[:])
	m.Write(b[:])
	return hex.EncodeToString(b[:]) + hex.EncodeToString(m.Sum(nil)[:12])
}

// check says whether nonce is ours, and whether it is too old.
func (n *nonceMaker) check(nonce string, now time.Time) (valid, stale bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 28 {
		return false, false
	}
	m := hmac.New(sha256.New, n.key[:])
	m.Write(raw[:16])
	if !hmac.Equal(m.Sum(nil)[:12], raw[16:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	age := now.Sub(issued)
	return true, age > nonceTTL || age < -time.Minute
}

// challenge is the value of a WWW-Authenticate / Proxy-Authenticate header.
func (n *nonceMaker) challenge(realm string, stale bool, now time.Time) string {
	c := fmt.Sprintf(`Digest realm=%s, nonce=%s, algorithm=MD5, qop="auth"`, quote(realm), quote(n.make(now)))
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
	authStale // right credentials, old nonce: challenge with stale=true
	authWrong // wrong password or unknown user
)

// verifyDigest checks credentials p for method against password lookup. It returns the
// username it found (also on failure, for logs).
func (n *nonceMaker) verifyDigest(p digestParams, method, realm string, now time.Time, password func(user string) (string, bool)) (string, authResult) {
	user := p["username"]
	if p["realm"] != realm || user == "" || p["nonce"] == "" || p["response"] == "" {
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
	valid, stale := n.check(p["nonce"], now)
	if !valid {
		return user, authMissing
	}
	pw, ok := password(user)
	if !ok {
		return user, authWrong
	}
	want := digestResponse(user, realm, pw, method, p["uri"], p["nonce"], qop, p["nc"], p["cnonce"])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return user, authWrong
	}
	if stale {
		return user, authStale
	}
	return user, authOK
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
