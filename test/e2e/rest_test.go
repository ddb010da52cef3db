package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"testing"
)

// rest makes an authenticated REST request to p and returns the status and decoded JSON body
// (nil for an empty body).
func rest(t *testing.T, p *parley, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return restAs(t, p, testAuthID, testAuthToken, method, path, body)
}

func restAs(t *testing.T, p *parley, authID, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-ID", authID)
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, data, err)
	}
	return resp.StatusCode, m
}

// keys returns the sorted keys of m.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func assertKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	got := keys(m)
	if len(got) != len(want) {
		t.Errorf("%s keys %v, want exactly %v", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s keys %v, want exactly %v", what, got, want)
			return
		}
	}
}

func accountPath(rest string) string { return "/api/v1/Account/" + testAuthID + rest }
