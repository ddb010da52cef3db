package api

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// applicationKeys are the 23 keys of the Application object (§5.1, Appendix A).
func applicationKeys() []string {
	return []string{"answer_method", "answer_url", "app_id", "app_name", "application_type", "created_at",
		"default_app", "default_endpoint_app", "enabled", "fallback_answer_url", "fallback_method", "hangup_method",
		"hangup_url", "log_incoming_message", "message_method", "message_url", "public_uri", "resource_uri",
		"sip_transfer_method", "sip_transfer_url", "sip_uri", "sub_account", "updated_at"}
}

func TestCreateApplication(t *testing.T) {
	const minimal = `"app_name":"My App","answer_url":"https://example.com/answer"`
	tests := []struct {
		name, body, ctype string
		text              string // "" means 201
		want              func(a *Application)
	}{
		{"python client", `{"app_name":"Support Line","answer_url":"https://example.com/answer","answer_method":"GET"}`, "", "", func(a *Application) {
			a.Name, a.AnswerMethod, a.HangupURL = "Support Line", "GET", "https://example.com/answer"
		}},
		{"all parameters", `{` + minimal + `,"answer_method":"post","hangup_url":"https://example.com/h","hangup_method":"GET",
			"fallback_answer_url":"https://example.com/f","fallback_method":"GET","message_url":"https://example.com/m","message_method":"GET",
			"default_number_app":true,"default_endpoint_app":"TRUE","public_uri":true,"enabled":false,"log_incoming_messages":false,
			"sip_transfer_url":"https://example.com/t","sip_transfer_method":"GET","subaccount":"x","sub_account":"y",
			"production_app":true,"application_type":"weird"}`, "", "", func(a *Application) {
			a.HangupURL, a.HangupMethod = "https://example.com/h", "GET"
			a.FallbackAnswerURL, a.FallbackMethod = "https://example.com/f", "GET"
			a.MessageURL, a.MessageMethod = "https://example.com/m", "GET"
			a.DefaultNumberApp, a.DefaultEndpointApp, a.PublicURI, a.Enabled, a.LogIncomingMessages = true, true, true, false, false
			a.SIPTransferURL, a.SIPTransferMethod = "https://example.com/t", "GET"
		}},
		{"form", "app_name=My+App&answer_url=https%3A%2F%2Fexample.com%2Fanswer&log_incoming_message=false", "application/x-www-form-urlencoded", "",
			func(a *Application) { a.LogIncomingMessages = false }},
		{"plural spelling wins", `{` + minimal + `,"log_incoming_messages":true,"log_incoming_message":false}`, "", "", nil},
		{"nulls are absent", `{` + minimal + `,"fallback_answer_url":null,"message_url":null,"enabled":null}`, "", "", nil},
		{"unicode name", `{"app_name":"Café – support 24/7","answer_url":"https://example.com/answer"}`, "", "",
			func(a *Application) { a.Name = "Café – support 24/7" }},
		{"missing app_name", `{"answer_url":"https://example.com/answer"}`, "", "missing required parameter: app_name", nil},
		{"missing answer_url", `{"app_name":"x"}`, "", "missing required parameter: answer_url", nil},
		{"missing both", ``, "", "missing required parameter: app_name", nil},
		{"empty app_name", `{"app_name":"","answer_url":"https://example.com/answer"}`, "", "missing required parameter: app_name", nil},
		{"app_name 101", `{"app_name":"` + strings.Repeat("a", 101) + `","answer_url":"https://example.com/answer"}`, "", "invalid value for parameter: app_name", nil},
		{"app_name control", `{"app_name":"a\tb","answer_url":"https://example.com/answer"}`, "", "invalid value for parameter: app_name", nil},
		{"app_name bad before answer_url missing", `{"app_name":"a\nb"}`, "", "invalid value for parameter: app_name", nil},
		{"answer_url", `{"app_name":"x","answer_url":"example.com"}`, "", "invalid value for parameter: answer_url", nil},
		{"answer_method", `{` + minimal + `,"answer_method":"PUT"}`, "", "invalid value for parameter: answer_method", nil},
		{"hangup_url", `{` + minimal + `,"hangup_url":"x"}`, "", "invalid value for parameter: hangup_url", nil},
		{"hangup_method", `{` + minimal + `,"hangup_method":"x"}`, "", "invalid value for parameter: hangup_method", nil},
		{"fallback_answer_url", `{` + minimal + `,"fallback_answer_url":"x"}`, "", "invalid value for parameter: fallback_answer_url", nil},
		{"fallback_method", `{` + minimal + `,"fallback_method":"x"}`, "", "invalid value for parameter: fallback_method", nil},
		{"message_url", `{` + minimal + `,"message_url":1}`, "", "invalid value for parameter: message_url", nil},
		{"message_method", `{` + minimal + `,"message_method":"x"}`, "", "invalid value for parameter: message_method", nil},
		{"default_number_app", `{` + minimal + `,"default_number_app":"1"}`, "", "invalid value for parameter: default_number_app", nil},
		{"default_endpoint_app", `{` + minimal + `,"default_endpoint_app":1}`, "", "invalid value for parameter: default_endpoint_app", nil},
		{"public_uri", `{` + minimal + `,"public_uri":"no"}`, "", "invalid value for parameter: public_uri", nil},
		{"enabled", `{` + minimal + `,"enabled":"off"}`, "", "invalid value for parameter: enabled", nil},
		{"log_incoming_messages", `{` + minimal + `,"log_incoming_messages":"x"}`, "", "invalid value for parameter: log_incoming_messages", nil},
		{"log_incoming_message", `{` + minimal + `,"log_incoming_message":"x"}`, "", "invalid value for parameter: log_incoming_message", nil},
		{"sip_transfer_url", `{` + minimal + `,"sip_transfer_url":"x"}`, "", "invalid value for parameter: sip_transfer_url", nil},
		{"sip_transfer_method", `{` + minimal + `,"sip_transfer_method":"x"}`, "", "invalid value for parameter: sip_transfer_method", nil},
		{"table order", `{` + minimal + `,"enabled":"x","hangup_method":"x"}`, "", "invalid value for parameter: hangup_method", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Application/", body: tt.body, ctype: tt.ctype})
			if tt.text != "" {
				if w.Code != 400 || errorText(t, w) != tt.text {
					t.Fatalf("%d %s, want 400 %q", w.Code, w.Body, tt.text)
				}
				if len(fx.apps.apps[testAccount]) != 2 {
					t.Fatal("created after a validation failure")
				}
				return
			}
			if w.Code != 201 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "app_id", "message")
			if m["message"] != "created" || m["app_id"] != "100000000000001" {
				t.Errorf("body %s", w.Body)
			}
			want := Application{
				ID: "100000000000001", Name: "My App", AnswerURL: "https://example.com/answer", AnswerMethod: "POST",
				HangupURL: "https://example.com/answer", HangupMethod: "POST", FallbackMethod: "POST", MessageMethod: "POST",
				Enabled: true, LogIncomingMessages: true, SIPTransferMethod: "POST", CreatedAt: testNow, UpdatedAt: testNow,
			}
			if tt.want != nil {
				tt.want(&want)
			}
			if got := fx.apps.apps[testAccount][2]; !reflect.DeepEqual(got, want) {
				t.Errorf("stored\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestGetApplication(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: base + "/Application/" + testAppID + "/"})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	assertKeys(t, m, append(applicationKeys(), "api_id")...)
	want := map[string]any{
		"answer_method": "POST", "answer_url": "https://example.com/answer", "app_id": testAppID, "app_name": "Support Line",
		"application_type": "XML", "created_at": "2026-10-28T10:30:00Z", "default_app": false, "default_endpoint_app": true,
		"enabled": true, "fallback_answer_url": "https://example.com/fallback", "fallback_method": "POST", "hangup_method": "POST",
		"hangup_url": "https://example.com/hangup", "log_incoming_message": true, "message_method": "POST", "message_url": nil,
		"public_uri": false, "resource_uri": "/v1/Account/MA_X/Application/" + testAppID + "/", "sip_transfer_method": "POST",
		"sip_transfer_url": nil, "sip_uri": "sip:" + testAppID + "@sip.parley.example.com", "sub_account": nil,
		"updated_at": "2026-10-28T10:31:30Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v want %#v", k, m[k], v)
		}
	}
	for _, path := range []string{"/Application/nope/", "/Application/333333333333333/"} {
		w := fx.do(t, req{method: "GET", path: base + path})
		if w.Code != 404 || errorText(t, w) != "application not found" {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
}

func TestUpdateApplication(t *testing.T) {
	str := func(s string) *string { return &s }
	yes, no := true, false
	tests := []struct {
		name, body string
		status     int
		text       string
		want       ApplicationUpdate
	}{
		{"python client", `{"app_name":"Renamed","default_number_app":true}`, 202, "", ApplicationUpdate{Name: str("Renamed"), DefaultNumberApp: &yes}},
		{"nothing", ``, 202, "", ApplicationUpdate{}},
		{"clear with null", `{"fallback_answer_url":null,"message_url":null,"sip_transfer_url":null}`, 202, "",
			ApplicationUpdate{FallbackAnswerURL: str(""), MessageURL: str(""), SIPTransferURL: str("")}},
		{"clear with empty form value", "fallback_answer_url=&app_name=", 202, "", ApplicationUpdate{FallbackAnswerURL: str("")}},
		{"null on a non-nullable field is absent", `{"answer_url":null,"enabled":null}`, 202, "", ApplicationUpdate{}},
		{"set", `{"answer_url":"http://a.test/","answer_method":"get","hangup_url":"http://a.test/h","enabled":false,"log_incoming_message":true,"public_uri":"true"}`, 202, "",
			ApplicationUpdate{AnswerURL: str("http://a.test/"), AnswerMethod: str("GET"), HangupURL: str("http://a.test/h"), Enabled: &no, LogIncomingMessages: &yes, PublicURI: &yes}},
		{"bad app_name", `{"app_name":"` + strings.Repeat("x", 101) + `"}`, 400, "invalid value for parameter: app_name", ApplicationUpdate{}},
		{"bad fallback", `{"fallback_answer_url":"nope"}`, 400, "invalid value for parameter: fallback_answer_url", ApplicationUpdate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Application/" + testAppID + "/", body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("%q want %q", got, tt.text)
				}
				return
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message")
			if m["message"] != "changed" {
				t.Errorf("body %s", w.Body)
			}
			if got := fx.apps.updates[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("update\n got %s\nwant %s", describeUpdate(got), describeUpdate(tt.want))
			}
		})
	}
	// Validation comes before the lookup; unknown apps are 404.
	fx := newFixture(t, nil)
	if w := fx.do(t, req{method: "POST", path: base + "/Application/nope/", body: `{"enabled":"x"}`}); w.Code != 400 {
		t.Errorf("validation before lookup: %d", w.Code)
	}
	if w := fx.do(t, req{method: "POST", path: base + "/Application/nope/", body: `{"enabled":true}`}); w.Code != 404 || errorText(t, w) != "application not found" {
		t.Errorf("unknown: %d %s", w.Code, w.Body)
	}
	// A cleared URL reads back as null; the rest is unchanged.
	fx.do(t, req{method: "POST", path: base + "/Application/" + testAppID + "/", body: `{"fallback_answer_url":null}`})
	m := decode(t, fx.do(t, req{method: "GET", path: base + "/Application/" + testAppID + "/"}))
	if v, ok := m["fallback_answer_url"]; !ok || v != nil || m["app_name"] != "Support Line" || m["updated_at"] != "2026-11-06T14:50:00Z" {
		t.Errorf("after clearing: %v", m)
	}
}

// describeUpdate prints the fields an update sets, for failure messages.
func describeUpdate(u ApplicationUpdate) string {
	var parts []string
	v := reflect.ValueOf(u)
	for i := range v.NumField() {
		if f := v.Field(i); !f.IsNil() {
			parts = append(parts, fmt.Sprintf("%s=%#v", v.Type().Field(i).Name, f.Elem().Interface()))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func TestDeleteApplication(t *testing.T) {
	tests := []struct {
		name, id, body, query string
		status                int
		text                  string
		want                  ApplicationDelete
	}{
		{"plain", testAppID, ``, "", 204, "", ApplicationDelete{}},
		{"cascade", testAppID, `{"cascade":true}`, "", 204, "", ApplicationDelete{Cascade: true}},
		{"cascade in query", testAppID, ``, "?cascade=true", 204, "", ApplicationDelete{Cascade: true}},
		{"re-attach (number)", testAppID, `{"new_endpoint_application":271828182845904}`, "", 204, "", ApplicationDelete{NewEndpointApp: testApp2ID}},
		{"re-attach (string)", testAppID, `{"new_endpoint_application":"` + testApp2ID + `","cascade":false}`, "", 204, "", ApplicationDelete{NewEndpointApp: testApp2ID}},
		{"re-attach to itself", testAppID, `{"new_endpoint_application":"` + testAppID + `"}`, "", 400, "invalid value for parameter: new_endpoint_application", ApplicationDelete{}},
		{"bad cascade", testAppID, `{"cascade":"maybe"}`, "", 400, "invalid value for parameter: cascade", ApplicationDelete{}},
		{"bad new app format", testAppID, `{"new_endpoint_application":"12a"}`, "", 400, "invalid value for parameter: new_endpoint_application", ApplicationDelete{}},
		{"unknown new app", testAppID, `{"new_endpoint_application":"999999999999999"}`, "", 400, "invalid value for parameter: new_endpoint_application", ApplicationDelete{}},
		{"unknown", "999999999999999", ``, "", 404, "application not found", ApplicationDelete{}},
		{"in use", testApp2ID, `{}`, "", 409, "application in use", ApplicationDelete{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "DELETE", path: base + "/Application/" + tt.id + "/" + tt.query, body: tt.body})
			if tt.status == 204 {
				assertNoContent(t, w)
				if len(fx.apps.apps[testAccount]) != 1 {
					t.Error("not deleted")
				}
			} else if w.Code != tt.status || errorText(t, w) != tt.text {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tt.status, tt.text)
			}
			if tt.status != 400 && tt.status != 404 && (len(fx.apps.deletes) != 1 || fx.apps.deletes[0] != tt.want) {
				t.Errorf("delete options %+v want %+v", fx.apps.deletes, tt.want)
			}
		})
	}
}

func TestListApplications(t *testing.T) {
	fx := newFixture(t, nil)
	for i := range 3 {
		fx.apps.apps[testAccount] = append(fx.apps.apps[testAccount], testApp("40000000000000"+string(rune('1'+i)), "bulk"))
	}
	tests := []struct {
		query      string
		status     int
		text       string
		ids        []string
		next, prev any
		total      float64
	}{
		{"", 200, "", []string{testAppID, testApp2ID, "400000000000001", "400000000000002", "400000000000003"}, "", nil, 5},
		{"?limit=2", 200, "", []string{testAppID, testApp2ID}, "/v1/Account/MA_X/Application/?limit=2&offset=2", nil, 5},
		{"?limit=2&offset=4", 200, "", []string{"400000000000003"}, "", "/v1/Account/MA_X/Application/?limit=2&offset=2", 5},
		{"?app_name=bulk&limit=1&offset=1", 200, "", []string{"400000000000002"},
			"/v1/Account/MA_X/Application/?limit=1&offset=2&app_name=bulk", "/v1/Account/MA_X/Application/?limit=1&offset=0&app_name=bulk", 3},
		{"?app_name=Support%20Line", 200, "", []string{testAppID}, "", nil, 1},
		{"?app_name=nothing", 200, "", []string{}, "", nil, 0},
		{"?limit=0", 400, "invalid value for parameter: limit", nil, nil, nil, 0},
		{"?limit=101", 400, "invalid value for parameter: limit", nil, nil, nil, 0},
		{"?offset=-1", 400, "invalid value for parameter: offset", nil, nil, nil, 0},
	}
	for _, tt := range tests {
		w := fx.do(t, req{method: "GET", path: base + "/Application/" + tt.query})
		if w.Code != tt.status {
			t.Errorf("%s: %d %s", tt.query, w.Code, w.Body)
			continue
		}
		if tt.text != "" {
			if got := errorText(t, w); got != tt.text {
				t.Errorf("%s: %q", tt.query, got)
			}
			continue
		}
		m := decode(t, w)
		assertKeys(t, m, "api_id", "meta", "objects")
		meta := m["meta"].(map[string]any)
		assertKeys(t, meta, "limit", "next", "offset", "previous", "total_count")
		if meta["next"] != tt.next || meta["previous"] != tt.prev || meta["total_count"] != tt.total {
			t.Errorf("%s: meta %v", tt.query, meta)
		}
		ids := []string{}
		for _, o := range m["objects"].([]any) {
			obj := o.(map[string]any)
			assertKeys(t, obj, applicationKeys()...)
			ids = append(ids, obj["app_id"].(string))
		}
		if !reflect.DeepEqual(ids, tt.ids) {
			t.Errorf("%s: ids %v want %v", tt.query, ids, tt.ids)
		}
	}
	// Another account sees its own.
	w := fx.do(t, req{method: "GET", path: "/api/v1/Account/MA_OTHER/Application/", header: http.Header{"X-Auth-Id": {"MA_OTHER"}, "X-Auth-Token": {"other-token"}}})
	if m := decode(t, w); len(m["objects"].([]any)) != 1 {
		t.Errorf("other account: %s", w.Body)
	}
}

func TestApplicationUpdateApply(t *testing.T) {
	a := testApp("1", "n")
	s := func(v string) *string { return &v }
	b := true
	ApplicationUpdate{Name: s("m"), FallbackAnswerURL: s("https://f"), PublicURI: &b}.Apply(&a)
	if a.Name != "m" || a.FallbackAnswerURL != "https://f" || !a.PublicURI || a.AnswerURL != "https://example.com/answer" {
		t.Errorf("%+v", a)
	}
	ApplicationUpdate{FallbackAnswerURL: s("")}.Apply(&a)
	if a.FallbackAnswerURL != "" {
		t.Error("not cleared")
	}
}
