package app

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
)

func TestHTTPSWhenACertificateIsConfigured(t *testing.T) {
	certFile, keyFile, roots, err := siptest.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startHTTPTest(t, map[string]string{"PARLEY_HTTPS_CERT_FILE": certFile, "PARLEY_HTTPS_KEY_FILE": keyFile})
	addr := srv.HTTPAddr().String()
	if base := srv.publicBaseURL(); base != "https://"+addr {
		t.Errorf("public base URL %q, want https://%s", base, addr)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/Account/"+httpTestAccount+"/Call/", nil)
	req.SetBasicAuth(httpTestAccount, httpTestToken)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"api_id"`) {
		t.Fatalf("GET over HTTPS: %d %s", res.StatusCode, body)
	}
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v", res.TLS)
	}

	// Plain HTTP on the same port never reaches the API.
	plain := &http.Client{Timeout: 5 * time.Second}
	if res, err := plain.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP served while HTTPS is configured")
		}
	}
	// A client that does not trust the certificate fails its handshake.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + addr + "/healthz"); err == nil {
		t.Error("an untrusted certificate was accepted by a verifying client")
	}
	// Parley's own fetches trust the certificate (the demo application is fetched over it).
	own := httpTransport(true)
	if err := trustOwnCertificate(own, certFile); err != nil {
		t.Fatal(err)
	}
	res, err = own.RoundTrip(mustRequest(t, "https://"+addr+"/healthz"))
	if err != nil {
		t.Fatalf("Parley's own HTTP client does not trust its certificate: %v", err)
	}
	res.Body.Close()
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHTTPSBadCertificateFailsStart(t *testing.T) {
	if _, err := httpsListener(nil, "/nonexistent/cert.pem", "/nonexistent/key.pem"); err == nil || !strings.Contains(err.Error(), "https_cert_file") {
		t.Fatalf("err = %v", err)
	}
}
