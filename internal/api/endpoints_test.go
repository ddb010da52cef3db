package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// endpointKeys are the 8 keys of the Endpoint object (§5.2, Appendix A).
func endpointKeys() []string {
	return []string{"alias", "application", "endpoint_id", "resource_uri", "sip_registered", "sip_uri", "sub_account", "username"}
}

// decodeNoAPIID parses a JSON object body that must not carry api_id (the §5.2 exceptions).
func decodeNoAPIID(t *testing.T, body []byte, ctype string) map[string]any {
	t.Helper()
	if ctype != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ctype)
	}
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if _, ok := m["api_id"]; ok {
		t.Fatalf("api_id present: %s", body)
	}
	return m
}

func TestCreateEndpoint(t *testing.T) {
	const creds = `"username":"alice","password":"s3cret-pass"`
	tests := []struct {
		name, body string
		text       string // "" means 201
		want       EndpointParams
	}{
		{"python client (number app id)", `{"username":"alice","password":"s3cret-pass","alias":"Alice","application":` + testApp2ID + `}`, "",
			EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "Alice", AppID: testApp2ID}},
		{"go client (app_id string)", `{` + creds + `,"alias":"Alice","app_id":"` + testAppID + `"}`, "",
			EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "Alice", AppID: testAppID}},
		{"both equal", `{` + creds + `,"application":"` + testAppID + `","app_id":` + testAppID + `}`, "",
			EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "alice", AppID: testAppID}},
		{"alias defaults to username", `{` + creds + `}`, "", EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "alice"}},
		{"null application is absent", `{` + creds + `,"application":null}`, "", EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "alice"}},
		{"ignored parameters", `{` + creds + `,"allow_voice":"x","allow_same_domain":false,"sub_account":"y"}`, "",
			EndpointParams{Username: "alice", Password: "s3cret-pass", Alias: "alice"}},
		{"username charset", `{"username":"a.B_9-x","password":"12345678"}`, "", EndpointParams{Username: "a.B_9-x", Password: "12345678", Alias: "a.B_9-x"}},
		{"username 64", `{"username":"` + strings.Repeat("u", 64) + `","password":"12345678"}`, "",
			EndpointParams{Username: strings.Repeat("u", 64), Password: "12345678", Alias: strings.Repeat("u", 64)}},
		{"password 128 runes", `{"username":"bob","password":"` + strings.Repeat("é", 128) + `"}`, "",
			EndpointParams{Username: "bob", Password: strings.Repeat("é", 128), Alias: "bob"}},
		{"missing username", `{"password":"12345678"}`, "missing required parameter: username", EndpointParams{}},
		{"missing password", `{"username":"bob"}`, "missing required parameter: password", EndpointParams{}},
		{"username 65", `{"username":"` + strings.Repeat("u", 65) + `","password":"12345678"}`, "invalid value for parameter: username", EndpointParams{}},
		{"username leading dot", `{"username":".bob","password":"12345678"}`, "invalid value for parameter: username", EndpointParams{}},
		{"username at", `{"username":"bob@x","password":"12345678"}`, "invalid value for parameter: username", EndpointParams{}},
		{"username before password", `{"username":"b b"}`, "invalid value for parameter: username", EndpointParams{}},
		{"password 7", `{"username":"bob","password":"1234567"}`, "invalid value for parameter: password", EndpointParams{}},
		{"password 129", `{"username":"bob","password":"` + strings.Repeat("p", 129) + `"}`, "invalid value for parameter: password", EndpointParams{}},
		{"alias 101", `{` + creds + `,"alias":"` + strings.Repeat("a", 101) + `"}`, "invalid value for parameter: alias", EndpointParams{}},
		{"application not digits", `{` + creds + `,"application":"abc"}`, "invalid value for parameter: application", EndpointParams{}},
		{"application float", `{` + creds + `,"application":1.5}`, "invalid value for parameter: application", EndpointParams{}},
		{"application boolean", `{` + creds + `,"application":true}`, "invalid value for parameter: application", EndpointParams{}},
		{"app_id not digits", `{` + creds + `,"app_id":"x1"}`, "invalid value for parameter: app_id", EndpointParams{}},
		{"both different", `{` + creds + `,"application":"` + testAppID + `","app_id":"` + testApp2ID + `"}`, "invalid value for parameter: app_id", EndpointParams{}},
		{"unknown application", `{` + creds + `,"application":999999999999999}`, "invalid value for parameter: application", EndpointParams{}},
		{"unknown app_id", `{` + creds + `,"app_id":"999999999999999"}`, "invalid value for parameter: app_id", EndpointParams{}},
		{"another account's app", `{` + creds + `,"application":"333333333333333"}`, "invalid value for parameter: application", EndpointParams{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Endpoint/", body: tt.body})
			if tt.text != "" {
				if w.Code != 400 || errorText(t, w) != tt.text {
					t.Fatalf("%d %s, want 400 %q", w.Code, w.Body, tt.text)
				}
				return
			}
			if w.Code != 201 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			m := decodeNoAPIID(t, w.Body.Bytes(), w.Header().Get("Content-Type"))
			assertKeys(t, m, "alias", "endpoint_id", "username")
			if m["alias"] != tt.want.Alias || m["username"] != tt.want.Username || m["endpoint_id"] != "500000000000001" {
				t.Errorf("body %s", w.Body)
			}
			if got := fx.eps.created[0]; got != tt.want {
				t.Errorf("params %+v want %+v", got, tt.want)
			}
		})
	}
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "POST", path: base + "/Endpoint/", body: `{"username":"frontdesk","password":"12345678"}`})
	if w.Code != 409 || errorText(t, w) != "username already exists" {
		t.Errorf("duplicate: %d %s", w.Code, w.Body)
	}
}

func TestGetEndpoint(t *testing.T) {
	fx := newFixture(t, nil)
	tests := []struct {
		id   string
		want map[string]any
	}{
		{testEpID, map[string]any{"alias": "Front desk", "application": "/v1/Account/MA_X/Application/" + testAppID + "/",
			"endpoint_id": testEpID, "resource_uri": "/v1/Account/MA_X/Endpoint/" + testEpID + "/", "sip_registered": "true",
			"sip_uri": "sip:frontdesk@sip.parley.example.com", "sub_account": nil, "username": "frontdesk"}},
		{testEp2ID, map[string]any{"alias": "Back office", "application": "", "endpoint_id": testEp2ID,
			"resource_uri": "/v1/Account/MA_X/Endpoint/" + testEp2ID + "/", "sip_registered": "false",
			"sip_uri": "sip:backoffice.2@sip.parley.example.com", "sub_account": nil, "username": "backoffice.2"}},
	}
	for _, tt := range tests {
		w := fx.do(t, req{method: "GET", path: base + "/Endpoint/" + tt.id + "/"})
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tt.id, w.Code, w.Body)
		}
		m := decodeNoAPIID(t, w.Body.Bytes(), w.Header().Get("Content-Type"))
		assertKeys(t, m, endpointKeys()...)
		if !reflect.DeepEqual(m, tt.want) {
			t.Errorf("%s: %v\nwant %v", tt.id, m, tt.want)
		}
	}
	w := fx.do(t, req{method: "GET", path: base + "/Endpoint/nope/"})
	if w.Code != 404 || errorText(t, w) != "endpoint not found" {
		t.Errorf("unknown: %d %s", w.Code, w.Body)
	}
}

func TestUpdateEndpoint(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name, id, body string
		status         int
		text           string
		want           EndpointUpdate
	}{
		{"go client", testEpID, `{"alias":"Desk","password":"new-password","app_id":"` + testApp2ID + `"}`, 202, "",
			EndpointUpdate{Alias: str("Desk"), Password: str("new-password"), AppID: str(testApp2ID)}},
		{"python client", testEpID, `{"alias":"Desk","password":"new-password"}`, 202, "", EndpointUpdate{Alias: str("Desk"), Password: str("new-password")}},
		{"nothing", testEpID, ``, 202, "", EndpointUpdate{}},
		{"locked fields ignored", testEpID, `{"username":"x y z","endpoint_id":"1","allow_voice":"?"}`, 202, "", EndpointUpdate{}},
		{"detach with null", testEpID, `{"application":null}`, 202, "", EndpointUpdate{AppID: str("")}},
		{"detach with empty app_id", testEpID, `{"app_id":""}`, 202, "", EndpointUpdate{AppID: str("")}},
		{"detach with form", testEpID, "application=", 202, "", EndpointUpdate{AppID: str("")}},
		{"attach by number", testEpID, `{"application":` + testApp2ID + `}`, 202, "", EndpointUpdate{AppID: str(testApp2ID)}},
		{"short password", testEpID, `{"password":"short"}`, 400, "invalid value for parameter: password", EndpointUpdate{}},
		{"long alias", testEpID, `{"alias":"` + strings.Repeat("a", 101) + `"}`, 400, "invalid value for parameter: alias", EndpointUpdate{}},
		{"alias before password", testEpID, `{"password":"x","alias":"` + strings.Repeat("a", 101) + `"}`, 400, "invalid value for parameter: alias", EndpointUpdate{}},
		{"different ids", testEpID, `{"application":null,"app_id":"` + testAppID + `"}`, 400, "invalid value for parameter: app_id", EndpointUpdate{}},
		{"unknown app", testEpID, `{"application":"999999999999999"}`, 400, "invalid value for parameter: application", EndpointUpdate{}},
		{"validation before lookup", "nope", `{"password":"x"}`, 400, "invalid value for parameter: password", EndpointUpdate{}},
		{"unknown endpoint", "nope", `{"alias":"x"}`, 404, "endpoint not found", EndpointUpdate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Endpoint/" + tt.id + "/", body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("%q want %q", got, tt.text)
				}
				return
			}
			if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" || w.Header().Get("Content-Length") != "0" {
				t.Fatalf("202 body %q Content-Type %q Content-Length %q", w.Body, w.Header().Get("Content-Type"), w.Header().Get("Content-Length"))
			}
			if got := fx.eps.updates[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("update %+v want %+v", got, tt.want)
			}
		})
	}
}

func TestDeleteEndpoint(t *testing.T) {
	fx := newFixture(t, nil)
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: base + "/Endpoint/" + testEpID + "/"}))
	if len(fx.eps.eps[testAccount]) != 1 {
		t.Error("not deleted")
	}
	w := fx.do(t, req{method: "DELETE", path: base + "/Endpoint/" + testEpID + "/"})
	if w.Code != 404 || errorText(t, w) != "endpoint not found" {
		t.Errorf("again: %d %s", w.Code, w.Body)
	}
}

func TestListEndpoints(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		query  string
		text   string
		ids    []string
		filter EndpointFilter
		next   any
	}{
		{"", "", []string{testEpID, testEp2ID}, EndpointFilter{Page: Page{Limit: 20}}, ""},
		{"?limit=1", "", []string{testEpID}, EndpointFilter{Page: Page{Limit: 1}}, "/v1/Account/MA_X/Endpoint/?limit=1&offset=1"},
		{"?username__contains=office", "", []string{testEp2ID}, EndpointFilter{Page: Page{Limit: 20}, UsernameContains: "office"}, ""},
		{"?username__exact=frontdesk", "", []string{testEpID}, EndpointFilter{Page: Page{Limit: 20}, UsernameExact: "frontdesk"}, ""},
		{"?username__startswith=back", "", []string{testEp2ID}, EndpointFilter{Page: Page{Limit: 20}, UsernameStartsWith: "back"}, ""},
		{"?username__startswith=Back", "", []string{}, EndpointFilter{Page: Page{Limit: 20}, UsernameStartsWith: "Back"}, ""},
		{"?alias__contains=desk", "", []string{testEpID}, EndpointFilter{Page: Page{Limit: 20}, AliasContains: "desk"}, ""},
		{"?alias__exact=Back%20office", "", []string{testEp2ID}, EndpointFilter{Page: Page{Limit: 20}, AliasExact: "Back office"}, ""},
		{"?application_id__exact=" + testAppID, "", []string{testEpID}, EndpointFilter{Page: Page{Limit: 20}, AppIDExact: testAppID}, ""},
		{"?application_id__isnull=TRUE", "", []string{testEp2ID}, EndpointFilter{Page: Page{Limit: 20}, AppIDIsNull: &yes}, ""},
		{"?application_id__isnull=false&limit=1&offset=0", "", []string{testEpID}, EndpointFilter{Page: Page{Limit: 1}, AppIDIsNull: &no},
			""},
		{"?sub_account=x", "", []string{testEpID, testEp2ID}, EndpointFilter{Page: Page{Limit: 20}}, ""},
		{"?application_id__isnull=maybe", "invalid value for parameter: application_id__isnull", nil, EndpointFilter{}, nil},
		{"?limit=500", "invalid value for parameter: limit", nil, EndpointFilter{}, nil},
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		w := fx.do(t, req{method: "GET", path: base + "/Endpoint/" + tt.query})
		if tt.text != "" {
			if w.Code != 400 || errorText(t, w) != tt.text {
				t.Errorf("%s: %d %s", tt.query, w.Code, w.Body)
			}
			continue
		}
		if w.Code != 200 {
			t.Errorf("%s: %d %s", tt.query, w.Code, w.Body)
			continue
		}
		m := decode(t, w)
		assertKeys(t, m, "api_id", "meta", "objects")
		meta := m["meta"].(map[string]any)
		assertKeys(t, meta, "limit", "next", "offset", "previous", "total_count")
		if meta["next"] != tt.next || meta["previous"] != nil {
			t.Errorf("%s: meta %v", tt.query, meta)
		}
		ids := []string{}
		for _, o := range m["objects"].([]any) {
			obj := o.(map[string]any)
			assertKeys(t, obj, endpointKeys()...)
			ids = append(ids, obj["endpoint_id"].(string))
		}
		if !reflect.DeepEqual(ids, tt.ids) {
			t.Errorf("%s: ids %v want %v", tt.query, ids, tt.ids)
		}
		if got := fx.eps.filters[0]; !reflect.DeepEqual(got, tt.filter) {
			t.Errorf("%s: filter %+v want %+v", tt.query, got, tt.filter)
		}
	}
	// The filters are repeated in the page links.
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: base + "/Endpoint/?limit=1&offset=1&application_id__isnull=False"})
	if m := decode(t, w); m["meta"].(map[string]any)["previous"] != "/v1/Account/MA_X/Endpoint/?limit=1&offset=0&application_id__isnull=False" {
		t.Errorf("previous link: %s", w.Body)
	}
}
