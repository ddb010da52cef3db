package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// appendixA are the exact key sets of Appendix A of the contract, by body.
var appendixA = map[string][]string{
	"Error":                      {"api_id", "error"},
	"List conferences":           {"api_id", "conferences"},
	"Get conference":             {"conference_name", "conference_run_time", "conference_member_count", "members", "api_id"},
	"Member":                     {"muted", "member_id", "deaf", "from", "to", "caller_name", "direction", "call_uuid", "join_time"},
	"POST member action":         {"message", "member_id", "api_id"},
	"Start conference recording": {"api_id", "message", "recording_id", "url"},
	"Make call":                  {"api_id", "message", "request_uuid"},
	"List live / queued calls":   {"api_id", "calls"},
	"Get live call": {"api_id", "call_status", "call_uuid", "caller_name", "direction", "from", "request_uuid",
		"session_start", "stir_attestation", "stir_verification", "to"},
	"Transfer":           {"api_id", "message", "call_uuid"},
	"Create application": {"api_id", "app_id", "message"},
	"Update application": {"api_id", "message"},
	"Application": {"answer_method", "answer_url", "app_id", "app_name", "application_type", "created_at", "default_app",
		"default_endpoint_app", "enabled", "fallback_answer_url", "fallback_method", "hangup_method", "hangup_url",
		"log_incoming_message", "message_method", "message_url", "public_uri", "resource_uri", "sip_transfer_method",
		"sip_transfer_url", "sip_uri", "sub_account", "updated_at"},
	"List":            {"api_id", "meta", "objects"},
	"meta":            {"limit", "next", "offset", "previous", "total_count"},
	"Create endpoint": {"alias", "endpoint_id", "username"},
	"Endpoint":        {"alias", "application", "endpoint_id", "resource_uri", "sip_registered", "sip_uri", "sub_account", "username"},
	"Recording": {"add_time", "call_uuid", "conference_name", "from_number", "monthly_recording_storage_amount",
		"recording_duration_ms", "recording_end_ms", "recording_format", "recording_id", "recording_start_ms",
		"recording_storage_duration", "recording_storage_rate", "recording_type", "recording_url", "resource_uri",
		"rounded_recording_duration", "to_number"},
	"CDR": {"answer_time", "bill_duration", "billed_duration", "call_direction", "call_duration", "call_state",
		"call_status", "call_uuid", "conference_uuid", "end_time", "from_number", "hangup_cause", "hangup_cause_code",
		"hangup_cause_name", "hangup_source", "initiation_time", "parent_call_uuid", "resource_uri", "source_ip",
		"stir_attestation", "stir_verification", "to_number", "total_amount", "total_rate"},
}

// TestAppendixAKeySets sends one request per body kind and compares the decoded key sets with
// Appendix A, including nested objects (members, meta, list items).
func TestAppendixAKeySets(t *testing.T) {
	withAPIID := func(name string) []string { return append(append([]string(nil), appendixA[name]...), "api_id") }
	type nested struct {
		key  string // key of an object or array of objects in the body
		body string // its Appendix A body
	}
	tests := []struct {
		method, path, body string
		status             int
		keys               []string
		nested             []nested
	}{
		{"GET", "/Call/nope/", "", 404, appendixA["Error"], nil},
		{"GET", "/Conference/", "", 200, appendixA["List conferences"], nil},
		{"GET", "/Conference/MyConf/", "", 200, appendixA["Get conference"], []nested{{"members", "Member"}}},
		{"POST", "/Conference/MyConf/Member/10/Kick/", "", 200, appendixA["POST member action"], nil},
		{"POST", "/Conference/MyConf/Record/", "", 200, appendixA["Start conference recording"], nil},
		{"POST", "/Call/", `{` + minimalCall + `}`, 201, appendixA["Make call"], nil},
		{"GET", "/Call/?status=live", "", 200, appendixA["List live / queued calls"], nil},
		{"GET", "/Call/?status=queued", "", 200, appendixA["List live / queued calls"], nil},
		{"GET", "/Call/" + testCallIn + "/?status=live", "", 200, appendixA["Get live call"], nil},
		{"POST", "/Call/" + testCallIn + "/", `{"aleg_url":"https://a.test/"}`, 202, appendixA["Transfer"], nil},
		{"POST", "/Application/", `{"app_name":"a","answer_url":"https://a.test/"}`, 201, appendixA["Create application"], nil},
		{"POST", "/Application/" + testAppID + "/", `{"app_name":"b"}`, 202, appendixA["Update application"], nil},
		{"GET", "/Application/", "", 200, appendixA["List"], []nested{{"meta", "meta"}, {"objects", "Application"}}},
		{"GET", "/Application/" + testAppID + "/", "", 200, withAPIID("Application"), nil},
		{"POST", "/Endpoint/", `{"username":"zed","password":"12345678"}`, 201, appendixA["Create endpoint"], nil},
		{"GET", "/Endpoint/", "", 200, appendixA["List"], []nested{{"meta", "meta"}, {"objects", "Endpoint"}}},
		{"GET", "/Endpoint/" + testEpID + "/", "", 200, appendixA["Endpoint"], nil},
		{"GET", "/Endpoint/" + testEp2ID + "/", "", 200, appendixA["Endpoint"], nil},
		{"GET", "/Recording/", "", 200, appendixA["List"], []nested{{"meta", "meta"}, {"objects", "Recording"}}},
		{"GET", "/Recording/" + testRecording(1).ID + "/", "", 200, withAPIID("Recording"), nil},
		{"GET", "/Call/", "", 200, appendixA["List"], []nested{{"meta", "meta"}, {"objects", "CDR"}}},
		{"GET", "/Call/" + testCDRDone + "/", "", 200, withAPIID("CDR"), nil},
		{"GET", "/Call/" + testCallOut + "/", "", 200, withAPIID("CDR"), nil},
	}
	sorted := func(ks []string) string {
		ks = append([]string(nil), ks...)
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		w := fx.do(t, req{method: tt.method, path: base + tt.path, body: tt.body})
		if w.Code != tt.status {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, w.Code, w.Body)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Errorf("%s %s: %v", tt.method, tt.path, err)
			continue
		}
		if got := sorted(keysOf(m)); got != sorted(tt.keys) {
			t.Errorf("%s %s: keys %s\nwant %s", tt.method, tt.path, got, sorted(tt.keys))
		}
		for _, n := range tt.nested {
			var objs []any
			switch v := m[n.key].(type) {
			case map[string]any:
				objs = []any{v}
			case []any:
				objs = v
			}
			if len(objs) == 0 {
				t.Errorf("%s %s: no %s to check", tt.method, tt.path, n.key)
			}
			for _, o := range objs {
				if got := sorted(keysOf(o.(map[string]any))); got != sorted(appendixA[n.body]) {
					t.Errorf("%s %s: %s keys %s\nwant %s", tt.method, tt.path, n.key, got, sorted(appendixA[n.body]))
				}
			}
		}
	}
}

// TestEmptyBodies checks the bodies Appendix A says are empty: 204s, and 202 for endpoint
// update.
func TestEmptyBodies(t *testing.T) {
	for _, tt := range []struct{ method, path, body string }{
		{"DELETE", "/Call/" + testCallIn + "/", ""},
		{"DELETE", "/Request/" + testCallOut + "/", ""},
		{"DELETE", "/Application/" + testAppID + "/", ""},
		{"DELETE", "/Endpoint/" + testEpID + "/", ""},
		{"POST", "/Endpoint/" + testEpID + "/", `{"alias":"x"}`},
		{"DELETE", "/Call/" + testCallIn + "/Stream/" + testStreamLive + "/", ""},
		{"DELETE", "/Call/" + testCallIn + "/Stream/", ""},
	} {
		fx := newFixture(t, nil)
		w := fx.do(t, req{method: tt.method, path: base + tt.path, body: tt.body})
		if w.Code/100 != 2 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
			t.Errorf("%s %s: %d %q Content-Type %q", tt.method, tt.path, w.Code, w.Body, w.Header().Get("Content-Type"))
		}
	}
}
