package api_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/api/openapitest"
)

// goldenRoute is the documented operation a golden file exercises. status is the answer in
// the classic profile; currentStatus, when set, the one in the current profile.
type goldenRoute struct {
	method        string
	template      string // "" for a path that matches no route
	status        int
	currentStatus int
}

const (
	tConfs      = "/Account/{auth_id}/Conference/"
	tConf       = "/Account/{auth_id}/Conference/{conference_name}/"
	tRecord     = "/Account/{auth_id}/Conference/{conference_name}/Record/"
	tMember     = "/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/"
	tRecordings = "/Account/{auth_id}/Recording/"
	tRecording  = "/Account/{auth_id}/Recording/{recording_id}/"
	tCalls      = "/Account/{auth_id}/Call/"
	tCall       = "/Account/{auth_id}/Call/{call_uuid}/"
	tRequest    = "/Account/{auth_id}/Request/{request_uuid}/"
	tStreams    = "/Account/{auth_id}/Call/{call_uuid}/Stream/"
	tStream     = "/Account/{auth_id}/Call/{call_uuid}/Stream/{stream_id}/"
	tCallPlay   = "/Account/{auth_id}/Call/{call_uuid}/Play/"
	tCallSpeak  = "/Account/{auth_id}/Call/{call_uuid}/Speak/"
	tCallDTMF   = "/Account/{auth_id}/Call/{call_uuid}/DTMF/"
	tCallRecord = "/Account/{auth_id}/Call/{call_uuid}/Record/"
	tApps       = "/Account/{auth_id}/Application/"
	tApp        = "/Account/{auth_id}/Application/{app_id}/"
	tEndpoints  = "/Account/{auth_id}/Endpoint/"
	tEndpoint   = "/Account/{auth_id}/Endpoint/{endpoint_id}/"
)

// memberAction is a POST member action: 200 in the classic profile, 202 in the current one.
func memberAction(action string) goldenRoute {
	return goldenRoute{"POST", tMember + action + "/", 200, 202}
}

// goldenRoutes maps every golden file name to its operation. A golden file missing here fails
// TestGoldenMatchesOpenAPI, so a new golden file forces a look at the document.
var goldenRoutes = map[string]goldenRoute{
	"conference_list":           {"GET", tConfs, 200, 0},
	"conference_list_empty":     {"GET", tConfs, 200, 0},
	"conference_get":            {"GET", tConf, 200, 0},
	"conference_get_slash_name": {"GET", tConf, 200, 0},
	"conference_hangup_all":     {"DELETE", tConfs, 204, 0},
	"conference_hangup":         {"DELETE", tConf, 204, 0},
	"record_start":              {"POST", tRecord, 200, 0},
	"record_start_wav":          {"POST", tRecord, 200, 0},
	"record_stop":               {"DELETE", tRecord, 204, 0},
	"member_hangup":             {"DELETE", tMember, 204, 0},
	"kick_one":                  memberAction("Kick"),
	"kick_list":                 memberAction("Kick"),
	"kick_list_spaces_repeat":   memberAction("Kick"),
	"kick_all":                  memberAction("Kick"),
	"mute":                      memberAction("Mute"),
	"mute_list":                 memberAction("Mute"),
	"mute_all":                  memberAction("Mute"),
	"unmute":                    {"DELETE", tMember + "Mute/", 204, 0},
	"deaf":                      memberAction("Deaf"),
	"deaf_list":                 memberAction("Deaf"),
	"deaf_all":                  memberAction("Deaf"),
	"undeaf":                    {"DELETE", tMember + "Deaf/", 204, 0},
	"play":                      memberAction("Play"),
	"play_list":                 memberAction("Play"),
	"play_all":                  memberAction("Play"),
	"play_stop":                 {"DELETE", tMember + "Play/", 204, 0},
	"speak":                     memberAction("Speak"),
	"speak_list":                memberAction("Speak"),
	"speak_all":                 memberAction("Speak"),
	"speak_stop":                {"DELETE", tMember + "Speak/", 204, 0},
	"recording_list":            {"GET", tRecordings, 200, 0},
	"recording_get":             {"GET", tRecording, 200, 0},
	"recording_get_call":        {"GET", tRecording, 200, 0},
	"recording_delete":          {"DELETE", tRecording, 204, 0},
	"err_route_not_found":       {"GET", "", 404, 0},
	"err_method_not_allowed":    {"PUT", tMember + "Mute/", 405, 0},
	"err_auth_failed":           {"GET", tConfs, 401, 0},
	"err_auth_id_mismatch":      {"GET", tConfs, 401, 0},
	"err_rate_limited":          {"GET", tConfs, 429, 0},
	"err_auth_limited":          {"GET", tConfs, 429, 0},
	"err_too_large":             {"POST", tMember + "Play/", 413, 0},
	"err_malformed":             {"POST", tMember + "Kick/", 400, 0},
	"err_missing_param":         {"POST", tMember + "Play/", 400, 0},
	"err_invalid_param":         {"POST", tRecord, 400, 0},
	"err_invalid_member_id":     {"POST", tMember + "Kick/", 400, 0},
	"err_conference_not_found":  {"POST", tMember + "Kick/", 404, 0},
	"err_member_not_found":      {"POST", tMember + "Mute/", 404, 0},
	"err_recording_in_progress": {"POST", tRecord, 409, 0},
	"err_recording_not_found":   {"GET", tRecording, 404, 0},
	"err_internal":              {"GET", tConfs, 500, 0},

	"call_make":             {"POST", tCalls, 201, 0},
	"call_list":             {"GET", tCalls, 200, 0},
	"call_list_filtered":    {"GET", tCalls, 200, 0},
	"call_list_queued":      {"GET", tCalls, 200, 0},
	"call_get":              {"GET", tCall, 200, 0},
	"call_get_ringing":      {"GET", tCall, 200, 0},
	"call_hangup":           {"DELETE", tCall, 204, 0},
	"request_cancel":        {"DELETE", tRequest, 204, 0},
	"call_transfer":         {"POST", tCall, 202, 0},
	"err_call_not_found":    {"GET", tCall, 404, 0},
	"err_call_not_answered": {"POST", tCall, 409, 0},
	"err_call_not_bridged":  {"POST", tCall, 400, 0},
	"err_call_bulk":         {"POST", tCalls, 400, 0},
	"err_call_rate_limited": {"POST", tCalls, 429, 0},
	"err_concurrent_limit":  {"POST", tCalls, 429, 0},
	"err_draining":          {"POST", tCalls, 503, 0},

	"cdr_list":              {"GET", tCalls, 200, 0},
	"cdr_list_empty":        {"GET", tCalls, 200, 0},
	"cdr_list_paged":        {"GET", tCalls, 200, 0},
	"cdr_list_status":       {"GET", tCalls, 200, 0},
	"cdr_get":               {"GET", tCall, 200, 0},
	"cdr_get_b_leg":         {"GET", tCall, 200, 0},
	"cdr_get_conference":    {"GET", tCall, 200, 0},
	"cdr_get_live":          {"GET", tCall, 200, 0},
	"cdr_get_ringing":       {"GET", tCall, 200, 0},
	"err_cdr_filter":        {"GET", tCalls, 400, 0},
	"err_cdr_status":        {"GET", tCalls, 400, 0},
	"err_cdr_other_account": {"GET", tCall, 404, 0},

	"stream_start":                  {"POST", tStreams, 202, 0},
	"stream_start_sdk":              {"POST", tStreams, 202, 0},
	"stream_list":                   {"GET", tStreams, 200, 0},
	"stream_list_paged":             {"GET", tStreams, 200, 0},
	"stream_list_empty":             {"GET", tStreams, 200, 0},
	"stream_get":                    {"GET", tStream, 200, 0},
	"stream_get_ended":              {"GET", tStream, 200, 0},
	"stream_stop":                   {"DELETE", tStream, 204, 0},
	"stream_stop_all":               {"DELETE", tStreams, 204, 0},
	"member_stream_start":           {"POST", tMember + "Stream/", 202, 0},
	"err_stream_not_found":          {"GET", tStream, 404, 0},
	"err_stream_stopped":            {"DELETE", tStream, 404, 0},
	"err_stream_call_not_found":     {"POST", tStreams, 404, 0},
	"err_stream_call_not_answered":  {"POST", tStreams, 409, 0},
	"err_stream_missing_url":        {"POST", tStreams, 400, 0},
	"err_stream_bad_url":            {"POST", tStreams, 400, 0},
	"err_stream_url_in_use":         {"POST", tStreams, 400, 0},
	"err_stream_method_not_allowed": {"POST", tStream, 405, 0},

	"call_play":                        {"POST", tCallPlay, 202, 0},
	"call_play_stop":                   {"DELETE", tCallPlay, 204, 0},
	"call_speak":                       {"POST", tCallSpeak, 202, 0},
	"call_speak_stop":                  {"DELETE", tCallSpeak, 204, 0},
	"call_dtmf":                        {"POST", tCallDTMF, 202, 0},
	"call_record_start":                {"POST", tCallRecord, 200, 0},
	"call_record_stop":                 {"DELETE", tCallRecord, 204, 0},
	"err_call_play_missing_urls":       {"POST", tCallPlay, 400, 0},
	"err_call_play_bad_urls":           {"POST", tCallPlay, 400, 0},
	"err_call_speak_language":          {"POST", tCallSpeak, 400, 0},
	"err_call_media_not_found":         {"POST", tCallSpeak, 404, 0},
	"err_call_media_not_answered":      {"POST", tCallPlay, 409, 0},
	"err_call_media_not_bridged":       {"POST", tCallPlay, 400, 0},
	"err_call_dtmf_not_bridged":        {"POST", tCallDTMF, 400, 0},
	"err_call_dtmf_bad_digits":         {"POST", tCallDTMF, 400, 0},
	"err_call_dtmf_method_not_allowed": {"DELETE", tCallDTMF, 405, 0},
	"err_call_record_limit":            {"POST", tCallRecord, 409, 0},

	"app_create":        {"POST", tApps, 201, 0},
	"app_list":          {"GET", tApps, 200, 0},
	"app_get":           {"GET", tApp, 200, 0},
	"app_get_disabled":  {"GET", tApp, 200, 0},
	"app_update":        {"POST", tApp, 202, 0},
	"app_delete":        {"DELETE", tApp, 204, 0},
	"err_app_not_found": {"GET", tApp, 404, 0},
	"err_app_in_use":    {"DELETE", tApp, 409, 0},

	"endpoint_create":         {"POST", tEndpoints, 201, 0},
	"endpoint_list":           {"GET", tEndpoints, 200, 0},
	"endpoint_get":            {"GET", tEndpoint, 200, 0},
	"endpoint_get_unattached": {"GET", tEndpoint, 200, 0},
	"endpoint_update":         {"POST", tEndpoint, 202, 0},
	"endpoint_delete":         {"DELETE", tEndpoint, 204, 0},
	"err_username_exists":     {"POST", tEndpoints, 409, 0},
	"err_endpoint_not_found":  {"GET", tEndpoint, 404, 0},
	"err_unknown_application": {"POST", tEndpoints, 400, 0},
}

// goldenExchange is a parsed golden file (see render in golden_test.go).
type goldenExchange struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// sampleAPIID stands in for the "<api_id>" placeholder of the golden files.
const sampleAPIID = "0b0c2f6e-1d2a-4b3c-9d4e-5f6a7b8c9d0e"

func parseGolden(t *testing.T, file string) goldenExchange {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ex goldenExchange
	ex.header = http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	var bodyLines []string
	line := 0
	for sc.Scan() {
		text := sc.Text()
		line++
		switch {
		case line == 1:
			var ok bool
			ex.method, ex.path, ok = strings.Cut(text, " ")
			if !ok {
				t.Fatalf("%s: first line %q is not METHOD PATH", file, text)
			}
		case bodyLines == nil && strings.HasPrefix(text, "> "):
		case bodyLines == nil && strings.HasPrefix(text, "< ") && ex.status == 0:
			ex.status, err = strconv.Atoi(strings.TrimPrefix(text, "< "))
			if err != nil {
				t.Fatalf("%s: status line %q", file, text)
			}
		case bodyLines == nil && strings.HasPrefix(text, "< "):
			k, v, _ := strings.Cut(strings.TrimPrefix(text, "< "), ": ")
			ex.header.Set(k, v)
		default:
			bodyLines = append(bodyLines, text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	body := strings.TrimSuffix(strings.Join(bodyLines, "\n"), "\n")
	ex.body = []byte(strings.ReplaceAll(body, "<api_id>", sampleAPIID))
	return ex
}

func newValidator(t *testing.T) *openapitest.Validator {
	t.Helper()
	v, err := openapitest.New()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenMatchesOpenAPI validates every golden response of both profiles against the
// document, after checking that the golden file is the operation the table says.
func TestGoldenMatchesOpenAPI(t *testing.T) {
	v := newValidator(t)
	seen := map[string]bool{}
	for _, profile := range []string{"classic", "current"} {
		files, err := filepath.Glob(filepath.Join("testdata", "golden", profile, "*.golden"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < len(goldenRoutes) {
			t.Errorf("%s: %d golden files, the table has %d entries", profile, len(files), len(goldenRoutes))
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".golden")
			seen[name] = true
			t.Run(profile+"/"+name, func(t *testing.T) {
				want, ok := goldenRoutes[name]
				if !ok {
					t.Fatalf("golden file %s is not in goldenRoutes: add its operation there and document it in openapi.json", file)
				}
				ex := parseGolden(t, file)
				status := want.status
				if profile == "current" && want.currentStatus != 0 {
					status = want.currentStatus
				}
				if ex.method != want.method || ex.status != status {
					t.Fatalf("golden is %s … %d, table says %s … %d", ex.method, ex.status, want.method, status)
				}
				if tpl, _ := v.Route(ex.path); tpl != want.template {
					t.Fatalf("path %s matches template %q, table says %q", ex.path, tpl, want.template)
				}
				if err := v.Validate(ex.method, ex.path, ex.status, ex.header, ex.body); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for name := range goldenRoutes {
		if !seen[name] {
			t.Errorf("goldenRoutes names %s, which has no golden file", name)
		}
	}
}

// cdrGet is an ended leg's call detail record as GET /Call/{call_uuid}/ answers it (§E.4).
const cdrGet = `{"answer_time":"2026-10-28 10:30:05+00:00","bill_duration":42,"billed_duration":42,"call_direction":"outbound","call_duration":42,"call_state":"ANSWER","call_status":"completed","call_uuid":"d3f6a9b2-4c1e-4a87-8e5d-0b2c7f9e1a34","conference_uuid":null,"end_time":"2026-10-28 10:30:47+00:00","from_number":"14155550100","hangup_cause":"NORMAL_CLEARING","hangup_cause_code":4000,"hangup_cause_name":"Normal Hangup","hangup_source":"Callee","initiation_time":"2026-10-28 10:29:58+00:00","parent_call_uuid":null,"resource_uri":"/v1/Account/MA_X/Call/d3f6a9b2-4c1e-4a87-8e5d-0b2c7f9e1a34/","source_ip":"203.0.113.7","stir_attestation":"","stir_verification":"Not Applicable","to_number":"14155550199","total_amount":"0.00000","total_rate":"0.00000","api_id":"` + sampleAPIID + `"}`

// TestOpenAPIValidatorRejects shows that the validation is strict: bodies that differ from a
// golden one in the ways a drift would (a new key, a wrong type, a null, the other profile's
// shape, an undocumented status) fail.
func TestOpenAPIValidatorRejects(t *testing.T) {
	v := newValidator(t)
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	base := "/api/v1/Account/MA_X"
	cases := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"extra key", "GET", base + "/Conference/", 200, `{"api_id":"` + sampleAPIID + `","conferences":[],"extra":1}`},
		{"missing key", "GET", base + "/Conference/", 200, `{"api_id":"` + sampleAPIID + `"}`},
		{"api_id not a uuid", "GET", base + "/Conference/", 200, `{"api_id":"x","conferences":[]}`},
		{"wrong type", "GET", base + "/Call/", 200, `{"api_id":"` + sampleAPIID + `","calls":"a"}`},
		{"classic body with current status", "POST", base + "/Conference/R/Member/1/Kick/", 202, `{"message":"kicked","member_id":"1","api_id":"` + sampleAPIID + `"}`},
		{"current body with classic status", "POST", base + "/Conference/R/Member/1/Kick/", 200, `{"message":"kicked","member_id":["1"],"api_id":"` + sampleAPIID + `"}`},
		{"null next in a page meta", "GET", base + "/Application/", 200, `{"api_id":"` + sampleAPIID + `","meta":{"limit":20,"next":null,"offset":0,"previous":null,"total_count":0},"objects":[]}`},
		{"undocumented status", "GET", base + "/Conference/", 202, `{"api_id":"` + sampleAPIID + `","conferences":[]}`},
		{"unrouted path not 404", "GET", base + "/Nope/", 200, `{}`},
		{"error body with extra key", "GET", base + "/Conference/", 404, `{"api_id":"` + sampleAPIID + `","error":"x","code":1}`},
		{"CDR duration as a string", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `"bill_duration":42`, `"bill_duration":"42"`, 1)},
		{"CDR cause code as a string", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `"hangup_cause_code":4000`, `"hangup_cause_code":"4000"`, 1)},
		{"CDR null where not nullable", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `"call_direction":"outbound"`, `"call_direction":null`, 1)},
		{"CDR time without offset", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `"end_time":"2026-10-28 10:30:47+00:00"`, `"end_time":"2026-10-28 10:30:47"`, 1)},
		{"CDR with a live-call key", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `{`, `{"direction":"outbound",`, 1)},
		{"CDR without api_id", "GET", base + "/Call/X/", 200, strings.Replace(cdrGet, `,"api_id":"`+sampleAPIID+`"`, ``, 1)},
		{"CDR list item with api_id", "GET", base + "/Call/", 200, `{"api_id":"` + sampleAPIID + `","meta":{"limit":20,"next":"","offset":0,"previous":null,"total_count":1},"objects":[` + cdrGet + `]}`},
		{"live list with a page meta", "GET", base + "/Call/", 200, `{"api_id":"` + sampleAPIID + `","calls":[],"meta":{"limit":20,"next":"","offset":0,"previous":null,"total_count":0}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := v.Validate(c.method, c.path, c.status, jsonHeader, []byte(c.body)); err == nil {
				t.Errorf("accepted %d %s", c.status, c.body)
			}
		})
	}
	// The same shapes with the documented values pass, so the failures above are about the
	// change, not the setup.
	ok := `{"api_id":"` + sampleAPIID + `","meta":{"limit":20,"next":"","offset":0,"previous":null,"total_count":0},"objects":[]}`
	if err := v.Validate("GET", base+"/Application/", 200, jsonHeader, []byte(ok)); err != nil {
		t.Errorf("valid list rejected: %v", err)
	}
	if err := v.Validate("POST", base+"/Conference/R/Member/1/Kick/", 202, jsonHeader, []byte(`{"message":"kicked","member_id":["1"],"api_id":"`+sampleAPIID+`"}`)); err != nil {
		t.Errorf("valid current body rejected: %v", err)
	}
	if err := v.Validate("GET", base+"/Call/X/", 200, jsonHeader, []byte(cdrGet)); err != nil {
		t.Errorf("valid CDR rejected: %v", err)
	}
	cdrItem := strings.Replace(cdrGet, `,"api_id":"`+sampleAPIID+`"`, ``, 1)
	if err := v.Validate("GET", base+"/Call/", 200, jsonHeader, []byte(`{"api_id":"`+sampleAPIID+`","meta":{"limit":20,"next":"","offset":0,"previous":null,"total_count":1},"objects":[`+cdrItem+`]}`)); err != nil {
		t.Errorf("valid CDR list rejected: %v", err)
	}
}

// TestOpenAPIDocsCopy keeps docs/openapi.json identical to the embedded canonical file.
func TestOpenAPIDocsCopy(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, api.OpenAPIDocument()) {
		t.Error("docs/openapi.json differs from internal/api/openapi.json: cp internal/api/openapi.json docs/openapi.json")
	}
}

// TestServeOpenAPI fetches the document without credentials at both base paths.
func TestServeOpenAPI(t *testing.T) {
	srv := httptest.NewServer(api.New(api.Options{}))
	defer srv.Close()
	for _, path := range []string{"/api/v1/openapi.json", "/v1/openapi.json"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, api.OpenAPIDocument()) {
			t.Errorf("GET %s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	resp, err := http.Post(srv.URL+"/api/v1/openapi.json", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// Other spellings are not the document: they go to the router (404, no routes here).
	resp, err = http.Get(srv.URL + "/api/v1/OpenAPI.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/OpenAPI.json: %d, want 404", resp.StatusCode)
	}
}

// TestGoldenRoutesCoverDocument makes sure every documented operation under /Account has at
// least one golden file, except the file download (binary, tested in recording_test.go).
func TestGoldenRoutesCoverDocument(t *testing.T) {
	v := newValidator(t)
	covered := map[string]bool{}
	for _, r := range goldenRoutes {
		covered[r.method+" "+r.template] = true
	}
	var missing []string
	for tpl, item := range v.Doc().Paths.Map() {
		if !strings.HasPrefix(tpl, "/Account/") || strings.HasSuffix(tpl, ".{format}") {
			continue
		}
		for method := range item.Operations() {
			if !covered[method+" "+tpl] {
				missing = append(missing, method+" "+tpl)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented operations without a golden file: %v", missing)
	}
}
