package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/api/openapitest"
	"github.com/parley-voice/parley/test/kit"
)

// TestServedDocumentAndLiveResponses fetches the OpenAPI document from the running binary
// without credentials, and sends REST requests of every resource through the validating
// RoundTripper, so real answers (not only the golden ones of the api package) meet the document.
func TestServedDocumentAndLiveResponses(t *testing.T) {
	s := startServer(t, newApp(t))

	resp, err := http.Get(s.HTTP + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(doc, api.OpenAPIDocument()) {
		t.Fatalf("GET /api/v1/openapi.json without credentials: %d, %d bytes", resp.StatusCode, len(doc))
	}

	v, err := openapitest.New()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: openapitest.Transport(t, v, nil)}
	send := func(method, path, token string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, s.HTTP+"/api/v1/Account/"+kit.AuthID+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(kit.AuthID, token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	send("GET", "/Conference/", kit.AuthToken, nil)
	send("GET", "/Conference/Nope/", kit.AuthToken, nil)
	send("GET", "/Conference/", "wrong", nil)
	send("PUT", "/Conference/", kit.AuthToken, nil)
	send("GET", "/Nothing/here/", kit.AuthToken, nil)
	send("GET", "/Call/", kit.AuthToken, nil)
	send("POST", "/Call/", kit.AuthToken, map[string]any{"from": "1"})
	send("GET", "/Recording/", kit.AuthToken, nil)
	created := send("POST", "/Application/", kit.AuthToken, map[string]any{"app_name": "A", "answer_url": "https://example.com/a"})
	appID, _ := created["app_id"].(string)
	send("GET", "/Application/", kit.AuthToken, nil)
	send("GET", "/Application/"+appID+"/", kit.AuthToken, nil)
	send("POST", "/Application/"+appID+"/", kit.AuthToken, map[string]any{"public_uri": true})
	ep := send("POST", "/Endpoint/", kit.AuthToken, map[string]any{"username": "carol", "password": "s3cret-pass", "application": appID})
	epID, _ := ep["endpoint_id"].(string)
	send("GET", "/Endpoint/", kit.AuthToken, nil)
	send("GET", "/Endpoint/"+epID+"/", kit.AuthToken, nil)
	send("POST", "/Endpoint/"+epID+"/", kit.AuthToken, map[string]any{"alias": "C"})
	send("DELETE", "/Application/"+appID+"/", kit.AuthToken, map[string]any{"cascade": true})
	if appID == "" || epID == "" {
		t.Errorf("create answers: app %v, endpoint %v", created, ep)
	}
}
