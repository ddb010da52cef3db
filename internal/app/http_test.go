package app

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/webhook"
)

const httpTestAccount, httpTestToken = "MA_HTTPTEST1", "http-test-token"

// startHTTPTest starts a whole server on loopback with extra settings.
func startHTTPTest(t *testing.T, extra map[string]string) *Server {
	t.Helper()
	env := map[string]string{
		"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0", "PARLEY_RTP_PORTS": "19200-19299",
		"PARLEY_DATA_DIR": t.TempDir(), "PARLEY_AUTH_ID": httpTestAccount, "PARLEY_AUTH_TOKEN": httpTestToken,
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// rawGet sends one request with the path exactly as given (no client-side cleaning) and
// returns the status line's code, the Location header and the body.
func rawGet(t *testing.T, addr, path string, auth bool) (int, string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: parley.test\r\nConnection: close\r\n"
	if auth {
		req += "X-Auth-ID: " + httpTestAccount + "\r\nX-Auth-Token: " + httpTestToken + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// TestNoRedirects goes through the real listener: paths with "..", "//" or "/." reach the API
// handler unchanged, whose normalisation answers them, and nothing is ever redirected.
func TestNoRedirects(t *testing.T) {
	srv := startHTTPTest(t, nil)
	addr := srv.HTTPAddr().String()
	acct := "/api/v1/Account/" + httpTestAccount
	for _, tc := range []struct {
		path     string
		status   int
		bodyPart string
	}{
		{acct + "/Call/", 200, `"api_id"`},
		{"/API/V1/account/" + httpTestAccount + "/call", 200, `"api_id"`},
		{"/v1/Account/" + httpTestAccount + "/Call/", 200, `"api_id"`},
		{acct + "/../" + httpTestAccount + "/Call/", 404, `"route not found"`},
		{acct + "/Call/../Call/", 404, `"route not found"`},
		{"//api/v1/Account/" + httpTestAccount + "/Call/", 404, `"route not found"`},
		{acct + "//Call/", 404, `"route not found"`},
		{acct + "/./Call/", 404, `"route not found"`},
		{"/api/../metrics", 404, `"route not found"`},
		{"/demo/../metrics", 404, `"route not found"`},
		{"/", 404, `"route not found"`},
		{"/healthz", 200, "ok"},
		{"/metrics", 200, "parley_calls_live"},
		{"/metrics", 200, "parley_sip_bans_total 0"},
	} {
		status, loc, body := rawGet(t, addr, tc.path, true)
		if status != tc.status || loc != "" || !strings.Contains(body, tc.bodyPart) {
			t.Errorf("GET %s: %d Location %q body %.80q, want %d with %s and no redirect", tc.path, status, loc, body, tc.status, tc.bodyPart)
		}
	}
}

func TestHTTPServerLimits(t *testing.T) {
	srv := startHTTPTest(t, map[string]string{
		"PARLEY_HTTP_READ_HEADER_TIMEOUT": "300ms", "PARLEY_HTTP_IDLE_TIMEOUT": "400ms",
		"PARLEY_HTTP_MAX_HEADER_BYTES": "4KiB", "PARLEY_HTTP_MAX_CONNS": "2",
	})
	h := srv.httpSrv
	if h.ReadTimeout != time.Minute || h.WriteTimeout != 5*time.Minute || h.ReadHeaderTimeout != 300*time.Millisecond ||
		h.IdleTimeout != 400*time.Millisecond || h.MaxHeaderBytes != 4096 {
		t.Errorf("http.Server settings %v %v %v %v %d", h.ReadTimeout, h.WriteTimeout, h.ReadHeaderTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}
	addr := srv.HTTPAddr().String()
	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}

	// A client that never finishes its headers is cut off.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = io.WriteString(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(slow, 3*time.Second) {
		t.Error("a connection with unfinished headers stayed open past the read header timeout")
	}

	// An idle keep-alive connection is closed.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !closedWithin(idle, 3*time.Second) {
		t.Error("an idle keep-alive connection stayed open past the idle timeout")
	}

	// Oversized headers get 431.
	status, _, _ := rawGet(t, addr, "/healthz?"+strings.Repeat("a", 16<<10), false)
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB request line: %d, want 431", status)
	}
}

// TestHTTPConnectionCap: with the cap full of connections that send nothing, a client that
// sends its request is served at once, and the cap holds: the longest waiting connection gave
// up its slot.
func TestHTTPConnectionCap(t *testing.T) {
	srv := startHTTPTest(t, map[string]string{"PARLEY_HTTP_MAX_CONNS": "2", "PARLEY_HTTP_READ_HEADER_TIMEOUT": "20s"})
	addr := srv.HTTPAddr().String()
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		time.Sleep(50 * time.Millisecond) // accepted in this order
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("with the cap full of idle connections: %v", err)
	}
	resp.Body.Close()
	_ = held[0].SetReadDeadline(time.Now().Add(time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the longest idle connection is still open (%v)", err)
	}
	_ = held[1].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := held[1].Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("the newer idle connection was closed too (%v)", err)
	}
}

// TestFetchPolicyWired checks that documents and audio cannot be fetched from the link-local
// metadata address nor from Parley's own listener, while the demo application can.
func TestFetchPolicyWired(t *testing.T) {
	srv := startHTTPTest(t, nil)
	base := "http://" + srv.HTTPAddr().String()
	ctx := context.Background()
	for _, u := range []string{base + "/metrics", base + "/api/v1/Account/" + httpTestAccount + "/Call/", "http://169.254.169.254/latest/meta-data/"} {
		_, err := srv.docs.FetchDocument(ctx, webhook.Request{URL: u, AuthToken: httpTestToken})
		if !errors.Is(err, webhook.ErrFetchDenied) {
			t.Errorf("document %s: %v, want ErrFetchDenied", u, err)
		}
	}
	doc, err := srv.docs.FetchDocument(ctx, webhook.Request{URL: base + "/demo/answer", AuthToken: httpTestToken})
	if err != nil || !strings.Contains(string(doc.Body), "<Conference") {
		t.Fatalf("demo answer document: %v %q", err, doc.Body)
	}
	if _, err := srv.runner.Audio.Fetch(ctx, base+"/metrics"); !errors.Is(err, webhook.ErrFetchDenied) {
		t.Errorf("audio from our own listener: %v, want ErrFetchDenied", err)
	}
}
