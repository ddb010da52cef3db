package api

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sdkCall mirrors calls.Call of the official Go client (vobiz-ai/Vobiz-Go-SDK): the four
// integers are int64, everything else a string. json.Unmarshal fails on a JSON string where it
// expects an int64 and on a number where it expects a string, as the client does.
type sdkCall struct {
	AnswerTime       string `json:"answer_time"`
	APIID            string `json:"api_id"`
	BillDuration     int64  `json:"bill_duration"`
	BilledDuration   int64  `json:"billed_duration"`
	CallDirection    string `json:"call_direction"`
	CallDuration     int64  `json:"call_duration"`
	CallUUID         string `json:"call_uuid"`
	ConferenceUUID   string `json:"conference_uuid"`
	EndTime          string `json:"end_time"`
	FromNumber       string `json:"from_number"`
	HangupCauseCode  int64  `json:"hangup_cause_code"`
	HangupCauseName  string `json:"hangup_cause_name"`
	HangupSource     string `json:"hangup_source"`
	InitiationTime   string `json:"initiation_time"`
	ParentCallUUID   string `json:"parent_call_uuid"`
	ResourceURI      string `json:"resource_uri"`
	ToNumber         string `json:"to_number"`
	TotalAmount      string `json:"total_amount"`
	TotalRate        string `json:"total_rate"`
	CallState        string `json:"call_state"`
	CallStatus       string `json:"call_status"`
	HangupCause      string `json:"hangup_cause"`
	SourceIP         string `json:"source_ip"`
	StirAttestation  string `json:"stir_attestation"`
	StirVerification string `json:"stir_verification"`
}

type sdkCallList struct {
	APIID string `json:"api_id"`
	Meta  struct {
		Limit      int64   `json:"limit"`
		Next       *string `json:"next"`
		Offset     int64   `json:"offset"`
		Previous   *string `json:"previous"`
		TotalCount int64   `json:"total_count"`
	} `json:"meta"`
	Objects []sdkCall `json:"objects"`
}

var cdrKeys = []string{"answer_time", "bill_duration", "billed_duration", "call_direction", "call_duration",
	"call_state", "call_status", "call_uuid", "conference_uuid", "end_time", "from_number", "hangup_cause",
	"hangup_cause_code", "hangup_cause_name", "hangup_source", "initiation_time", "parent_call_uuid",
	"resource_uri", "source_ip", "stir_attestation", "stir_verification", "to_number", "total_amount", "total_rate"}

// Every CDR body has exactly the keys of §E.4 and decodes with the Go client's types.
func TestCallRecordBodiesDecodeAsTheGoClient(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: base + "/Call/?limit=2"})
	if w.Code != 200 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	assertKeys(t, m, "api_id", "meta", "objects")
	assertKeys(t, m["meta"].(map[string]any), "limit", "next", "offset", "previous", "total_count")
	for _, o := range m["objects"].([]any) {
		assertKeys(t, o.(map[string]any), cdrKeys...)
	}
	var list sdkCallList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		t.Fatalf("the Go client cannot decode the list: %v", err)
	}
	if len(list.Objects) != 2 || list.Meta.TotalCount != 3 || list.Meta.Next == nil || *list.Meta.Next != "/v1/Account/MA_X/Call/?limit=2&offset=2" {
		t.Errorf("list %+v", list)
	}
	for _, id := range []string{testCDRDone, testCDRBLeg, testCallIn, testCallOut} {
		w := fx.do(t, req{method: "GET", path: base + "/Call/" + id + "/"})
		m := decode(t, w)
		assertKeys(t, m, append([]string{"api_id"}, cdrKeys...)...)
		var c sdkCall
		if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
			t.Fatalf("%s: the Go client cannot decode it: %v", id, err)
		}
		if c.CallUUID != id || c.ResourceURI != "/v1/Account/MA_X/Call/"+id+"/" {
			t.Errorf("%s: %+v", id, c)
		}
		// Null only where §E.4 allows it.
		for k, v := range m {
			nullable := map[string]bool{"answer_time": true, "conference_uuid": true, "end_time": true, "hangup_cause": true,
				"hangup_cause_code": true, "hangup_cause_name": true, "hangup_source": true, "parent_call_uuid": true, "source_ip": true}
			if v == nil && !nullable[k] {
				t.Errorf("%s: %s is null", id, k)
			}
		}
	}
}

// The durations and states of §E.4: a live leg counts to now, an ended one to its end.
func TestCallRecordDurationsAndStates(t *testing.T) {
	fx := newFixture(t, nil)
	get := func(id string) map[string]any {
		t.Helper()
		return decode(t, fx.do(t, req{method: "GET", path: base + "/Call/" + id + "/"}))
	}
	live := get(testCallIn) // answered at 13:49:15.253756, now 13:50:00
	if live["call_duration"] != 44.0 || live["call_state"] != "ANSWER" || live["call_status"] != "in-progress" || live["end_time"] != nil || live["hangup_cause_code"] != nil {
		t.Errorf("live answered leg %v", live)
	}
	*fx.clock = fx.clock.Add(time.Minute)
	if live := get(testCallIn); live["call_duration"] != 104.0 || live["bill_duration"] != 104.0 {
		t.Errorf("a minute later: %v", live["call_duration"])
	}
	if r := get(testCallOut); r["call_state"] != "RINGING" || r["call_status"] != "ringing" || r["call_duration"] != 0.0 {
		t.Errorf("live ringing leg %v", r)
	}
	if r := get(testCDRBLeg); r["call_state"] != "HANGUP" || r["call_status"] != "no-answer" || r["hangup_cause_code"] != 6010.0 || r["answer_time"] != nil {
		t.Errorf("unanswered B leg %v", r)
	}
	if r := get(testCDRDone); r["call_state"] != "ANSWER" || r["call_duration"] != 42.0 || r["billed_duration"] != 42.0 || r["end_time"] != "2026-10-28 10:30:47+00:00" {
		t.Errorf("ended answered leg %v", r)
	}
}

func TestListCallRecordsFilters(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	tm := func(s string) *time.Time { return at(s) }
	code := func(v int) *int { return &v }
	page := Page{Limit: 20}
	tests := []struct {
		query string
		want  CallRecordFilter
		err   string
	}{
		{"", CallRecordFilter{Page: page}, ""},
		{"?status=completed", CallRecordFilter{Page: page, CallStatus: "completed"}, ""},
		{"?status=No-Answer", CallRecordFilter{Page: page, CallStatus: "no-answer"}, ""},
		{"?status=canceled", CallRecordFilter{Page: page, CallStatus: "cancel"}, ""},
		{"?status=cancelled", CallRecordFilter{Page: page, CallStatus: "cancel"}, ""},
		{"?status=in-progress", CallRecordFilter{}, "invalid value for parameter: status"},
		{"?call_direction=Inbound&from_number=%2B1415&to_number=sip:bob@pbx.example.com:5060", CallRecordFilter{Page: page, Direction: "inbound", FromPrefix: "1415", ToPrefix: "sip:bob@pbx.example.com"}, ""},
		{"?to_number=sip:%2B4930@gw.test", CallRecordFilter{Page: page, ToPrefix: "4930"}, ""},
		{"?parent_call_uuid=" + testCDRDone, CallRecordFilter{Page: page, ParentCallUUID: testCDRDone}, ""},
		{"?bill_duration=42", CallRecordFilter{Page: page, BillDurationMin: i64(42), BillDurationMax: i64(42)}, ""},
		{"?bill_duration__gt=10&bill_duration__lt=60", CallRecordFilter{Page: page, BillDurationMin: i64(11), BillDurationMax: i64(59)}, ""},
		{"?bill_duration__gte=10&bill_duration__lte=60&bill_duration__gt=20", CallRecordFilter{Page: page, BillDurationMin: i64(21), BillDurationMax: i64(60)}, ""},
		{"?bill_duration__lt=0", CallRecordFilter{Page: page, BillDurationMax: i64(-1)}, ""},
		{"?bill_duration=x", CallRecordFilter{}, "invalid value for parameter: bill_duration"},
		{"?end_time=2026-10-28", CallRecordFilter{Page: page, EndFrom: tm("2026-10-28 00:00:00"), EndBefore: tm("2026-10-29 00:00:00")}, ""},
		{"?end_time=2026-10-28+10:30", CallRecordFilter{Page: page, EndFrom: tm("2026-10-28 10:30:00"), EndBefore: tm("2026-10-28 10:31:00")}, ""},
		{"?end_time=2026-10-28%2010:30:47", CallRecordFilter{Page: page, EndFrom: tm("2026-10-28 10:30:47"), EndBefore: tm("2026-10-28 10:30:48")}, ""},
		{"?end_time=2026-10-28+10:30:47.500000", CallRecordFilter{Page: page, EndFrom: tm("2026-10-28 10:30:47.5"), EndBefore: tm("2026-10-28 10:30:47.500001")}, ""},
		{"?end_time__gt=2026-10-28&end_time__lte=2026-10-30+12:00", CallRecordFilter{Page: page, EndFrom: tm("2026-10-29 00:00:00"), EndBefore: tm("2026-10-30 12:01:00")}, ""},
		{"?end_time__gte=2026-10-28+10:30&end_time__lt=2026-10-28+11:00&end_time__gt=2026-10-28+10:40", CallRecordFilter{Page: page, EndFrom: tm("2026-10-28 10:41:00"), EndBefore: tm("2026-10-28 11:00:00")}, ""},
		{"?end_time=2026-10-28T10:30:00Z", CallRecordFilter{}, "invalid value for parameter: end_time"},
		{"?end_time__lt=2026-13-01", CallRecordFilter{}, "invalid value for parameter: end_time__lt"},
		{"?end_time=2026-10-28.5", CallRecordFilter{}, "invalid value for parameter: end_time"},
		{"?end_time=2026-10-28+10:30:47.", CallRecordFilter{}, "invalid value for parameter: end_time"},
		{"?hangup_cause_code=4000&hangup_source=api+request", CallRecordFilter{Page: page, HangupCauseCode: code(4000), HangupSource: "API Request"}, ""},
		{"?hangup_source=Somebody", CallRecordFilter{}, "invalid value for parameter: hangup_source"},
		{"?hangup_cause_code=-1", CallRecordFilter{}, "invalid value for parameter: hangup_cause_code"},
		{"?limit=100&offset=7&subaccount=SA_1&stir_verification=Verified", CallRecordFilter{Page: Page{Limit: 100, Offset: 7}}, ""},
		{"?limit=101", CallRecordFilter{}, "invalid value for parameter: limit"},
		{"?offset=-1", CallRecordFilter{}, "invalid value for parameter: offset"},
		// Parameters are checked in the order of the §E.3 table.
		{"?limit=0&hangup_source=x&call_direction=up", CallRecordFilter{}, "invalid value for parameter: call_direction"},
		{"?status=x&call_direction=up", CallRecordFilter{}, "invalid value for parameter: status"},
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		w := fx.do(t, req{method: "GET", path: base + "/Call/" + tt.query})
		if tt.err != "" {
			if w.Code != 400 || errorText(t, w) != tt.err {
				t.Errorf("%s: %d %s, want 400 %q", tt.query, w.Code, w.Body, tt.err)
			}
			if len(fx.cdrs.filters) != 0 {
				t.Errorf("%s: the domain was asked", tt.query)
			}
			continue
		}
		if w.Code != 200 {
			t.Errorf("%s: %d %s", tt.query, w.Code, w.Body)
			continue
		}
		if len(fx.cdrs.filters) != 1 || !reflect.DeepEqual(fx.cdrs.filters[0], tt.want) {
			t.Errorf("%s: filter\n got %s\nwant %s", tt.query, dumpFilter(fx.cdrs.filters), dumpFilter([]CallRecordFilter{tt.want}))
		}
		if len(fx.calls.filters) != 0 {
			t.Errorf("%s: live calls were listed", tt.query)
		}
	}
}

func dumpFilter(fs []CallRecordFilter) string {
	b, _ := json.Marshal(fs)
	return string(b)
}

// The filters really select: an end_time at minute precision finds the call that ended in it.
func TestListCallRecordsSelects(t *testing.T) {
	fx := newFixture(t, nil)
	for query, want := range map[string][]string{
		"?end_time=2026-10-28+10:30":                                   {testCDRDone, testCDRBLeg},
		"?end_time=2026-10-28+10:30:47":                                {testCDRDone},
		"?end_time__gt=2026-10-28":                                     {testCDRInConf},
		"?bill_duration__gt=0&call_direction=outbound":                 {testCDRDone},
		"?bill_duration=0":                                             {testCDRBLeg},
		"?from_number=sip:alice@pbx.example.com:5080&status=completed": {testCDRInConf},
		"?to_number=%2B1415555":                                        {testCDRInConf, testCDRDone},
		"?hangup_cause_code=6010":                                      {testCDRBLeg},
	} {
		m := decode(t, fx.do(t, req{method: "GET", path: base + "/Call/" + query}))
		var got []string
		for _, o := range m["objects"].([]any) {
			got = append(got, o.(map[string]any)["call_uuid"].(string))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
}

func TestKeptQueryLink(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                     "/v1/Account/MA_X/Call/?limit=20&offset=40",
		"limit=5&offset=10":                    "/v1/Account/MA_X/Call/?limit=20&offset=40",
		"b=2&limit=5&a=1&offset=3&c=%2B1":      "/v1/Account/MA_X/Call/?b=2&a=1&c=%2B1&limit=20&offset=40",
		"end_time=2026-10-28+10:30&&%6Cimit=3": "/v1/Account/MA_X/Call/?end_time=2026-10-28+10:30&limit=20&offset=40",
		"status=completed&status=busy&offset=": "/v1/Account/MA_X/Call/?status=completed&status=busy&limit=20&offset=40",
	} {
		if got := keptQueryLink("/v1/Account/MA_X/Call/", raw, 20)(40); got != want {
			t.Errorf("%q: %s, want %s", raw, got, want)
		}
	}
}

// Without status the reads are CDRs; status=live keeps the live shapes of §4.3 and §4.4.
func TestCallReadsByStatus(t *testing.T) {
	fx := newFixture(t, nil)
	assertKeys(t, decode(t, fx.do(t, req{method: "GET", path: base + "/Call/"})), "api_id", "meta", "objects")
	assertKeys(t, decode(t, fx.do(t, req{method: "GET", path: base + "/Call/?status=live"})), "api_id", "calls")
	assertKeys(t, decode(t, fx.do(t, req{method: "GET", path: base + "/Call/" + testCallIn + "/"})), append([]string{"api_id"}, cdrKeys...)...)
	assertKeys(t, decode(t, fx.do(t, req{method: "GET", path: base + "/Call/" + testCallIn + "/?status=live"})), "api_id", "call_status",
		"call_uuid", "caller_name", "direction", "from", "request_uuid", "session_start", "stir_attestation", "stir_verification", "to")
	// An ended call is a CDR but not live.
	if w := fx.do(t, req{method: "GET", path: base + "/Call/" + testCDRDone + "/?status=live"}); w.Code != 404 {
		t.Errorf("ended call read as live: %d", w.Code)
	}
	// Without a CallRecords implementation the CDR reads are not served; the live ones are.
	fx = newFixture(t, func(o *Options) { o.CallRecords = nil })
	for _, p := range []string{"/Call/", "/Call/?status=completed", "/Call/" + testCallIn + "/"} {
		if w := fx.do(t, req{method: "GET", path: base + p}); w.Code != 404 || errorText(t, w) != "route not found" {
			t.Errorf("%s without CallRecords: %d %s", p, w.Code, w.Body)
		}
	}
	if w := fx.do(t, req{method: "GET", path: base + "/Call/?status=live"}); w.Code != 200 {
		t.Errorf("live list without CallRecords: %d", w.Code)
	}
}

func TestClientIP(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:1234": "192.0.2.1", "[2001:db8::7]:443": "2001:db8::7", "[::ffff:127.0.0.1]:80": "127.0.0.1", "odd": "odd",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := clientIP(r); got != want {
			t.Errorf("clientIP(%q) = %q, want %q", remote, got, want)
		}
	}
}
