// Package webhook sends Parley's outgoing HTTP requests to the customer's web app (spec §9.1–§9.4):
// document requests that the caller waits for (answer, action, redirect URLs), and
// notifications (hangup, ring, callbacks) that go through a durable outbox and are retried until
// delivered or too old. Every request is form-encoded and signed (X-Vobiz-Signature-V2/-V3).
//
// It must NOT import other Parley packages, parse VobizXML, or decide what a failure means for a
// call: it reports ErrUnreachable or ErrDocumentTooLarge and the caller maps them to hangup
// causes. It declares the Outbox it needs; the store implements it.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Header names set on every outgoing request.
const (
	HeaderSignatureV2      = "X-Vobiz-Signature-V2"
	HeaderSignatureV2Nonce = "X-Vobiz-Signature-V2-Nonce"
	HeaderSignatureV3      = "X-Vobiz-Signature-V3"
	HeaderSignatureV3Nonce = "X-Vobiz-Signature-V3-Nonce"
	// HeaderDeliveryID carries a notification's ID, the same on every attempt, so receivers can
	// drop repeats.
	HeaderDeliveryID = "X-Parley-Delivery-ID"
)

// nonceDigits is the length of a signature nonce (§9.2).
const nonceDigits = 20

// BaseURL returns the part of rawURL that is signed: scheme, host (with the port if written) and
// path, without user info, query or fragment.
func BaseURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	return baseOf(u)
}

func baseOf(u *url.URL) (string, error) {
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("URL %q is not absolute (it needs a scheme and a host)", u.Redacted())
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath(), nil
}

// Sign returns the V2 and V3 signatures of a request to rawURL with the given nonce:
// base64(HMAC-SHA256(authToken, base+nonce)) and base64(HMAC-SHA256(authToken, base+"."+nonce)).
func Sign(authToken, rawURL, nonce string) (v2, v3 string, err error) {
	base, err := BaseURL(rawURL)
	if err != nil {
		return "", "", err
	}
	v2, v3 = signBase(authToken, base, nonce)
	return v2, v3, nil
}

func signBase(authToken, base, nonce string) (v2, v3 string) {
	return hmacB64(authToken, base+nonce), hmacB64(authToken, base+"."+nonce)
}

func hmacB64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// NewNonce returns 20 random decimal digits from crypto/rand.
func NewNonce() string {
	var out [nonceDigits]byte
	var buf [32]byte
	n := 0
	for n < nonceDigits {
		rand.Read(buf[:]) // never fails since Go 1.24
		for _, b := range buf {
			// Reject 250..255 so every digit is equally likely.
			if b >= 250 {
				continue
			}
			out[n] = '0' + b%10
			n++
			if n == nonceDigits {
				break
			}
		}
	}
	return string(out[:])
}

// setSignature signs a request to u with a fresh nonce.
func setSignature(h http.Header, authToken string, u *url.URL) error {
	base, err := baseOf(u)
	if err != nil {
		return err
	}
	nonce := NewNonce()
	v2, v3 := signBase(authToken, base, nonce)
	h.Set(HeaderSignatureV2, v2)
	h.Set(HeaderSignatureV2Nonce, nonce)
	h.Set(HeaderSignatureV3, v3)
	h.Set(HeaderSignatureV3Nonce, nonce)
	return nil
}

// VerifyRequest checks the V2 and V3 signatures of a request received by an HTTP server (a
// receiver's view: the scheme comes from r.TLS, the host from r.Host). It is meant for tests and
// for users' receivers written in Go.
func VerifyRequest(r *http.Request, authToken string) error {
	sig2, nonce2 := r.Header.Get(HeaderSignatureV2), r.Header.Get(HeaderSignatureV2Nonce)
	sig3, nonce3 := r.Header.Get(HeaderSignatureV3), r.Header.Get(HeaderSignatureV3Nonce)
	if sig2 == "" || nonce2 == "" || sig3 == "" || nonce3 == "" {
		return errors.New("request is missing a signature or nonce header")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if r.URL.IsAbs() {
		scheme, host = r.URL.Scheme, r.URL.Host
	}
	path := r.URL.EscapedPath()
	bases := []string{scheme + "://" + host + path}
	if path == "/" {
		// A URL written without a path arrives as "/".
		bases = append(bases, scheme+"://"+host)
	}
	for _, base := range bases {
		want2, _ := signBase(authToken, base, nonce2)
		_, want3 := signBase(authToken, base, nonce3)
		ok2 := hmac.Equal([]byte(sig2), []byte(want2))
		ok3 := hmac.Equal([]byte(sig3), []byte(want3))
		if ok2 && ok3 {
			return nil
		}
		if ok2 != ok3 {
			return fmt.Errorf("signature mismatch for %s (V2 valid: %v, V3 valid: %v)", base, ok2, ok3)
		}
	}
	return fmt.Errorf("signatures do not match %s", bases[0])
}
