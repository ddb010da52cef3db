package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// AccountPath is the REST path of rest under the AuthID account.
func AccountPath(rest string) string { return "/api/v1/Account/" + AuthID + rest }

// Request sends a REST request to the server as account (authID, token), body encoded as JSON
// when not nil, and returns the status and the decoded JSON object (nil for an empty body). A
// body that is not a JSON object is an error.
func (s *Server) Request(ctx context.Context, authID, token, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.HTTP+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Auth-ID", authID)
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: body %q is not a JSON object: %w", method, path, data, err)
	}
	return resp.StatusCode, m, nil
}

// REST is Request as the AuthID account, failing the test on any error.
func (s *Server) REST(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return s.RESTAs(t, AuthID, AuthToken, method, path, body)
}

// RESTAs is Request as account (authID, token), failing the test on any error.
func (s *Server) RESTAs(t testing.TB, authID, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	st, m, err := s.Request(context.Background(), authID, token, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return st, m
}
