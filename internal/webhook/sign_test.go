package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSignVector(t *testing.T) {
	const (
		token = "3dF8sKq29xLmPz0"
		raw   = "https://app.example.com/hooks/answer?step=2"
		nonce = "12345678901234567890"
	)
	base, err := BaseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base+nonce, "https://app.example.com/hooks/answer12345678901234567890"; got != want {
		t.Errorf("V2 message = %q, want %q", got, want)
	}
	if got, want := base+"."+nonce, "https://app.example.com/hooks/answer.12345678901234567890"; got != want {
		t.Errorf("V3 message = %q, want %q", got, want)
	}
	v2, v3, err := Sign(token, raw, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if want := "9IJZyaO/bhGqq0gIq6gbpzH7FAeLnfOEEMUs/6KGRn0="; v2 != want {
		t.Errorf("V2 = %q, want %q", v2, want)
	}
	if want := "Budp//ApvvBecA6k6j/nbIbyHs4wsmhprGKTubSSRa0="; v3 != want {
		t.Errorf("V3 = %q, want %q", v3, want)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "https://app.example.com/hooks/answer?step=2", want: "https://app.example.com/hooks/answer"},
		{in: "http://app.example.com:8080/a/b#frag", want: "http://app.example.com:8080/a/b"},
		{in: "https://user:pw@app.example.com/x?y=1", want: "https://app.example.com/x"},
		{in: "HTTPS://app.example.com/x", want: "https://app.example.com/x"},
		{in: "https://app.example.com", want: "https://app.example.com"},
		{in: "https://app.example.com/a%20b/c", want: "https://app.example.com/a%20b/c"},
		{in: "http://[::1]:9000/h", want: "http://[::1]:9000/h"},
		{in: "/relative/path", wantErr: true},
		{in: "app.example.com/x", wantErr: true},
		{in: "http://bad host/", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := BaseURL(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("BaseURL(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("BaseURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewNonce(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		n := NewNonce()
		if len(n) != 20 || strings.Trim(n, "0123456789") != "" {
			t.Fatalf("nonce %q is not 20 decimal digits", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}

func TestVerifyRequest(t *testing.T) {
	const token = "secret-token"
	signed := func(target string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		if err := setSignature(r.Header, token, &u); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name    string
		req     func() *http.Request
		token   string
		wantErr bool
	}{
		{"valid", func() *http.Request { return signed("http://h.example:8080/cb?x=1") }, token, false},
		{"root path", func() *http.Request { return signed("http://h.example/") }, token, false},
		{"wrong token", func() *http.Request { return signed("http://h.example/cb") }, "other", true},
		{"tampered V2", func() *http.Request {
			r := signed("http://h.example/cb")
			r.Header.Set(HeaderSignatureV2, "AAAA")
			return r
		}, token, true},
		{"changed nonce", func() *http.Request {
			r := signed("http://h.example/cb")
			r.Header.Set(HeaderSignatureV3Nonce, "11111111111111111111")
			return r
		}, token, true},
		{"missing headers", func() *http.Request { return httptest.NewRequest(http.MethodGet, "http://h.example/cb", nil) }, token, true},
		{"other path", func() *http.Request {
			r := signed("http://h.example/cb")
			r.URL.Path = "/other"
			return r
		}, token, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyRequest(tt.req(), tt.token)
			if (err != nil) != tt.wantErr {
				t.Errorf("VerifyRequest error = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzBaseURL(f *testing.F) {
	for _, s := range []string{"https://app.example.com/hooks/answer?step=2", "http://h:1/a#b", "", "::", "http://[::1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		base, err := BaseURL(raw)
		if err != nil {
			return
		}
		if strings.ContainsAny(base, "?#") {
			t.Errorf("BaseURL(%q) = %q keeps a query or fragment", raw, base)
		}
		// The query never changes the signature.
		v2a, v3a, err := Sign("k", raw, "1")
		if err != nil {
			t.Fatal(err)
		}
		v2b, v3b, err := Sign("k", base, "1")
		if err != nil {
			t.Fatalf("Sign(base %q): %v", base, err)
		}
		if v2a != v2b || v3a != v3b {
			t.Errorf("signature of %q differs from its base %q", raw, base)
		}
	})
}
