package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// policyServer counts the requests it receives.
func policyServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "<Response/>")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func policyClient(p *FetchPolicy) *Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return NewClient(ClientOptions{
		HTTPOptions: HTTPOptions{HTTPClient: &http.Client{Transport: p.Transport(base)}},
		RetryWaits:  []time.Duration{10 * time.Millisecond, 10 * time.Millisecond},
	})
}

func TestFetchPolicyDeniesResolvedAddress(t *testing.T) {
	srv, hits := policyServer(t)
	port := fmt.Sprint(netip.MustParseAddrPort(srv.Listener.Addr().String()).Port())
	// "localhost" is a name: the policy must judge the address it resolves to.
	target := "http://localhost:" + port + "/answer"
	deny := &FetchPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	_, err := policyClient(deny).FetchDocument(context.Background(), Request{URL: target, AuthToken: testToken})
	if !errors.Is(err, ErrFetchDenied) {
		t.Fatalf("fetch of a name resolving to a denied address: %v, want ErrFetchDenied", err)
	}
	if !strings.Contains(err.Error(), "denied network 127.0.0.0/8") && !strings.Contains(err.Error(), "denied network ::1/128") {
		t.Errorf("error %q does not say which network", err)
	}
	if !strings.Contains(err.Error(), "1 attempt(s)") {
		t.Errorf("a denied fetch was retried: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the denied server received %d requests", hits.Load())
	}

	allow := &FetchPolicy{Deny: DefaultFetchDeny}
	doc, err := policyClient(allow).FetchDocument(context.Background(), Request{URL: target, AuthToken: testToken})
	if err != nil || string(doc.Body) != "<Response/>" {
		t.Fatalf("allowed fetch: %q, %v", doc.Body, err)
	}
}

func TestFetchPolicyDefaultDeniesMetadata(t *testing.T) {
	p := &FetchPolicy{Deny: DefaultFetchDeny}
	for _, tc := range []struct {
		addr string
		deny bool
	}{
		{"169.254.169.254:80", true},
		{"169.254.1.1:8080", true},
		{"[fe80::1]:80", true},
		{"[fd00:ec2::254]:80", true},
		{"[::ffff:169.254.169.254]:80", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"192.0.2.10:443", false},
	} {
		err := p.check(netip.MustParseAddrPort(tc.addr), false)
		if (err != nil) != tc.deny {
			t.Errorf("%s: %v, deny %v", tc.addr, err, tc.deny)
		}
	}
}

func TestFetchPolicySelf(t *testing.T) {
	srv, hits := policyServer(t)
	self := netip.MustParseAddrPort(srv.Listener.Addr().String())
	p := &FetchPolicy{Deny: DefaultFetchDeny, Self: []netip.AddrPort{self}, SelfPaths: []string{"/demo/"}}
	hc := &http.Client{Transport: p.Transport(http.DefaultTransport.(*http.Transport).Clone())}
	get := func(path string) error {
		resp, err := hc.Get(srv.URL + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := get("/demo/answer"); err != nil {
		t.Fatalf("demo path on our own listener: %v", err)
	}
	// The connection the demo request left idle must not carry this one.
	for _, path := range []string{"/metrics", "/api/v1/Account/X/Call/", "/demo/../metrics", "/demo/%2e%2e/metrics"} {
		if err := get(path); !errors.Is(err, ErrFetchDenied) {
			t.Errorf("%s on our own listener: %v, want ErrFetchDenied", path, err)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("own listener received %d requests, want 1 (the demo path)", hits.Load())
	}
	// An unspecified Self address stands for every local address.
	any := &FetchPolicy{Self: []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Unspecified(), self.Port())}}
	if err := any.check(self, false); !errors.Is(err, ErrFetchDenied) {
		t.Errorf("wildcard listener, loopback target: %v", err)
	}
	if err := any.check(netip.AddrPortFrom(self.Addr(), self.Port()+1), false); err != nil {
		t.Errorf("another port: %v", err)
	}
}

// TestDeniedAttemptIsPermanent: the dispatcher drops a notification to a denied address at
// once instead of retrying it for webhook_max_age.
func TestDeniedAttemptIsPermanent(t *testing.T) {
	p := &FetchPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	s := newSender(HTTPOptions{HTTPClient: &http.Client{Transport: p.Transport(http.DefaultTransport.(*http.Transport).Clone())}})
	_, err := s.attempt(context.Background(), "POST", "http://127.0.0.1:9/x", url.Values{}, testToken, nil, 0)
	if !errors.Is(err, errPermanent) || !errors.Is(err, ErrFetchDenied) {
		t.Fatalf("denied attempt: %v, want a permanent ErrFetchDenied", err)
	}
}
