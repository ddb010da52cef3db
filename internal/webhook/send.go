package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits from §9.1.
const (
	// MaxRedirects is how many HTTP redirects one attempt follows.
	MaxRedirects = 5
	// DefaultTimeout is the per-attempt timeout (webhook_timeout).
	DefaultTimeout = 10 * time.Second
	// discardLimit bounds how much of an ignored reply body is read so the connection can be
	// reused.
	discardLimit = 64 << 10
	// idleConnsPerHost lets every dispatcher worker keep its connection to a busy web app.
	idleConnsPerHost = 64
)

// StatusError reports a final HTTP status (after redirects) that is not 2xx.
type StatusError struct {
	Code int
}

// Error says which status was received.
func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP status %d %s", e.Code, http.StatusText(e.Code))
}

// errPermanent marks a failure that no retry can fix (a malformed URL or method).
var errPermanent = errors.New("request cannot be sent")

// HTTPOptions say how requests are sent; Client and Dispatcher share them.
type HTTPOptions struct {
	// HTTPClient sends the requests; nil means a new client with its own transport. Its
	// CheckRedirect is replaced: redirects are followed here so each hop is re-signed.
	HTTPClient *http.Client
	// Version is the Parley version; the User-Agent is "Parley/{Version}".
	Version string
	// Timeout bounds one attempt including redirects and reading the reply; default 10 s.
	Timeout time.Duration
	// InsecureSkipVerify turns TLS certificate verification off (webhook_tls_verify=false). It
	// applies to clients whose transport is nil or an *http.Transport (cloned, never modified).
	InsecureSkipVerify bool
}

// sender performs single attempts: sign, send, follow redirects.
type sender struct {
	hc        *http.Client
	userAgent string
	timeout   time.Duration
}

func newSender(o HTTPOptions) *sender {
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	}
	if o.InsecureSkipVerify {
		var t *http.Transport
		switch rt := hc.Transport.(type) {
		case nil:
			t = http.DefaultTransport.(*http.Transport).Clone()
		case *http.Transport:
			t = rt.Clone()
		}
		if t != nil {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true
			hc.Transport = t
		}
	}
	if hc.Transport == nil && o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = idleConnsPerHost
		hc.Transport = t
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &sender{hc: &hc, userAgent: "Parley/" + o.Version, timeout: o.Timeout}
	if o.Version == "" {
		s.userAgent = "Parley/dev"
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s
}

// reply is the outcome of one attempt that got a final HTTP response.
type reply struct {
	status   int
	body     []byte // at most limit bytes
	tooLarge bool   // the body had more than limit bytes
	final    *url.URL
}

// normMethod maps "" to POST and accepts GET and POST in any case.
func normMethod(m string) (string, error) {
	switch strings.ToUpper(m) {
	case "", http.MethodPost:
		return http.MethodPost, nil
	case http.MethodGet:
		return http.MethodGet, nil
	}
	return "", fmt.Errorf("%w: method %q is not GET or POST", errPermanent, m)
}

// parseTarget parses an http or https URL.
func parseTarget(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid URL: %w", errPermanent, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q is not an absolute http or https URL", errPermanent, u.Redacted())
	}
	return u, nil
}

// attempt sends one signed request and follows up to MaxRedirects redirects, signing each hop
// again. With limit > 0 the reply body is read up to limit bytes (limit+1 to detect a larger
// one); otherwise it is discarded.
func (s *sender) attempt(ctx context.Context, method, rawURL string, params url.Values, authToken string, extra http.Header, limit int64) (reply, error) {
	method, err := normMethod(method)
	if err != nil {
		return reply{}, err
	}
	target, err := parseTarget(rawURL)
	if err != nil {
		return reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	form := params.Encode()
	body := ""
	if method == http.MethodGet {
		target = withQuery(target, form)
	} else {
		body = form
	}
	for hop := 0; ; hop++ {
		var rd io.Reader
		if method == http.MethodPost {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target.String(), rd)
		if err != nil {
			return reply{}, fmt.Errorf("%w: %w", errPermanent, err)
		}
		for k, v := range extra {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", s.userAgent)
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if err := setSignature(req.Header, authToken, target); err != nil {
			return reply{}, fmt.Errorf("%w: %w", errPermanent, err)
		}
		resp, err := s.hc.Do(req)
		if errors.Is(err, ErrFetchDenied) { // no retry can change the policy's answer
			return reply{}, fmt.Errorf("%w: request to %s: %w", errPermanent, redactedBase(target), unwrapURLError(err))
		}
		if err != nil {
			return reply{}, fmt.Errorf("request to %s failed: %w", redactedBase(target), unwrapURLError(err))
		}
		if isRedirect(resp.StatusCode) && resp.Header.Get("Location") != "" {
			loc, lerr := resp.Location()
			drain(resp.Body)
			if lerr != nil {
				return reply{}, fmt.Errorf("redirect from %s has a bad Location: %w", redactedBase(target), lerr)
			}
			if hop >= MaxRedirects {
				return reply{}, fmt.Errorf("more than %d redirects starting at %s", MaxRedirects, rawBase(rawURL))
			}
			if loc.Scheme != "http" && loc.Scheme != "https" {
				return reply{}, fmt.Errorf("redirect to unsupported URL scheme %q", loc.Scheme)
			}
			if resp.StatusCode == http.StatusSeeOther {
				method, body = http.MethodGet, ""
			}
			target = loc
			continue
		}
		r := reply{status: resp.StatusCode, final: target}
		if limit > 0 {
			r.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
			resp.Body.Close()
			if err != nil {
				return reply{}, fmt.Errorf("reading reply from %s: %w", redactedBase(target), err)
			}
			if int64(len(r.body)) > limit {
				r.body, r.tooLarge = r.body[:limit], true
			}
		} else {
			drain(resp.Body)
		}
		return r, nil
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// withQuery returns u with form appended to its query string (existing parameters kept).
func withQuery(u *url.URL, form string) *url.URL {
	if form == "" {
		return u
	}
	c := *u
	if c.RawQuery == "" {
		c.RawQuery = form
	} else {
		c.RawQuery += "&" + form
	}
	return &c
}

func drain(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, discardLimit))
	b.Close()
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the full URL with its
// query (which may hold call data).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactedBase is the URL without query and credentials, for messages and logs.
func redactedBase(u *url.URL) string {
	b, err := baseOf(u)
	if err != nil {
		return u.Redacted()
	}
	return b
}

func rawBase(rawURL string) string {
	b, err := BaseURL(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	return b
}
