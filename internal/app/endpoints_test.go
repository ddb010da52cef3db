package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/store/sqlite"
)

type oneAccount struct{}

func (oneAccount) Lookup(id string) (string, bool) { return "tok", id == "MA_T" }

// Endpoint create through the real store: a request that is both invalid (unknown
// application) and conflicting (taken username) answers the 400, as §1.6 orders the checks.
func TestEndpointCreateInvalidBeforeConflict(t *testing.T) {
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := api.New(api.Options{Accounts: oneAccount{}, Endpoints: endpointsAPI{st: st}})
	create := func(body string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/Account/MA_T/Endpoint/", strings.NewReader(body))
		r.Header.Set("X-Auth-ID", "MA_T")
		r.Header.Set("X-Auth-Token", "tok")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		msg, _ := m["error"].(string)
		return w.Code, msg
	}
	if code, msg := create(`{"username":"frontdesk","password":"12345678"}`); code != 201 {
		t.Fatalf("first create: %d %s", code, msg)
	}
	if code, msg := create(`{"username":"frontdesk","password":"12345678","application":"999999999999999"}`); code != 400 || msg != "invalid value for parameter: application" {
		t.Errorf("taken username and unknown application: %d %q, want 400 invalid application", code, msg)
	}
	if code, msg := create(`{"username":"frontdesk","password":"12345678"}`); code != 409 || msg != "username already exists" {
		t.Errorf("taken username: %d %q", code, msg)
	}
}
