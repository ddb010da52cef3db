package api

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// decode parses a JSON object body and checks the §1.4 basics: content type and a fresh v4
// api_id (unless noAPIID).
func decode(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	id, _ := m["api_id"].(string)
	if !uuidV4.MatchString(id) {
		t.Fatalf("api_id %q is not a lower-case UUID v4 (body %s)", id, w.Body)
	}
	return m
}

func errorText(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	m := decode(t, w)
	assertKeys(t, m, "api_id", "error")
	s, _ := m["error"].(string)
	return s
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// assertKeys checks an exact key set (Appendix A).
func assertKeys(t testing.TB, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keysOf(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

func assertNoContent(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code != 204 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Fatalf("want bare 204, got %d %q Content-Type %q", w.Code, w.Body, w.Header().Get("Content-Type"))
	}
}
