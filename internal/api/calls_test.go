package api

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimalCall = `"from":"+14155550100","to":"sip:bob@pbx.example.com","answer_url":"https://example.com/answer"`

func TestMakeCallValidation(t *testing.T) {
	tests := []struct {
		name, body string
		text       string // "" means 201
	}{
		{"empty", ``, "missing required parameter: from"},
		{"no to", `{"from":"1"}`, "missing required parameter: to"},
		{"no answer_url", `{"from":"1","to":"2"}`, "missing required parameter: answer_url"},
		{"empty from counts as absent", `{"from":"","to":"2","answer_url":"https://a.test/"}`, "missing required parameter: from"},
		{"minimal", `{` + minimalCall + `}`, ""},
		{"from sip uri", `{"from":"sip:alice@example.com","to":"2","answer_url":"https://a.test/"}`, ""},
		{"from bare user", `{"from":"alice","to":"2","answer_url":"https://a.test/"}`, ""},
		{"from number as JSON number", `{"from":14155550100,"to":"2","answer_url":"https://a.test/"}`, ""},
		{"from with space", `{"from":"al ice","to":"2","answer_url":"https://a.test/"}`, "invalid value for parameter: from"},
		{"from with angle", `{"from":"<sip:a@b>","to":"2","answer_url":"https://a.test/"}`, "invalid value for parameter: from"},
		{"from boolean", `{"from":true,"to":"2","answer_url":"https://a.test/"}`, "invalid value for parameter: from"},
		{"to bulk", `{"from":"1","to":"14155550100<14155550101","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to bulk sip", `{"from":"1","to":"sip:a@b<sip:c@d","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to plus number", `{"from":"1","to":"+14155550100","answer_url":"https://a.test/"}`, ""},
		{"to sips", `{"from":"1","to":"SIPS:bob@example.com:5061;transport=tls","answer_url":"https://a.test/"}`, ""},
		{"to host only", `{"from":"1","to":"sip:10.0.0.1:5080","answer_url":"https://a.test/"}`, ""},
		{"to ipv6", `{"from":"1","to":"sip:bob@[2001:db8::1]:5060","answer_url":"https://a.test/"}`, ""},
		{"to 16 digits", `{"from":"1","to":"1234567890123456","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to bare user", `{"from":"1","to":"bob","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to tel", `{"from":"1","to":"tel:+14155550100","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to no host", `{"from":"1","to":"sip:bob@","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to no user", `{"from":"1","to":"sip:@host","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to two ats", `{"from":"1","to":"sip:a@b@c","answer_url":"https://a.test/"}`, "invalid value for parameter: to"},
		{"to before answer_url", `{"from":"1","to":"x y"}`, "invalid value for parameter: to"},
		{"answer_url relative", `{"from":"1","to":"2","answer_url":"/answer"}`, "invalid value for parameter: answer_url"},
		{"answer_url ftp", `{"from":"1","to":"2","answer_url":"ftp://a.test/"}`, "invalid value for parameter: answer_url"},
		{"answer_method", `{` + minimalCall + `,"answer_method":"PUT"}`, "invalid value for parameter: answer_method"},
		{"ring_url", `{` + minimalCall + `,"ring_url":"nope"}`, "invalid value for parameter: ring_url"},
		{"ring_method", `{` + minimalCall + `,"ring_method":"DELETE"}`, "invalid value for parameter: ring_method"},
		{"hangup_url", `{` + minimalCall + `,"hangup_url":"x"}`, "invalid value for parameter: hangup_url"},
		{"hangup_method", `{` + minimalCall + `,"hangup_method":1}`, "invalid value for parameter: hangup_method"},
		{"fallback_url", `{` + minimalCall + `,"fallback_url":"x"}`, "invalid value for parameter: fallback_url"},
		{"fallback_method", `{` + minimalCall + `,"fallback_method":"x"}`, "invalid value for parameter: fallback_method"},
		{"caller_name 50", `{` + minimalCall + `,"caller_name":"` + strings.Repeat("é", 50) + `"}`, ""},
		{"caller_name 51", `{` + minimalCall + `,"caller_name":"` + strings.Repeat("a", 51) + `"}`, "invalid value for parameter: caller_name"},
		{"send_digits", `{` + minimalCall + `,"send_digits":"123abc"}`, "invalid value for parameter: send_digits"},
		{"send_digits ok", `{` + minimalCall + `,"send_digits":"0123456789ABCD*#wW"}`, ""},
		{"send_on_preanswer", `{` + minimalCall + `,"send_on_preanswer":"yes"}`, "invalid value for parameter: send_on_preanswer"},
		{"time_limit 0", `{` + minimalCall + `,"time_limit":0}`, "invalid value for parameter: time_limit"},
		{"time_limit max", `{` + minimalCall + `,"time_limit":86400}`, ""},
		{"time_limit over", `{` + minimalCall + `,"time_limit":"86401"}`, "invalid value for parameter: time_limit"},
		{"hangup_on_ring negative", `{` + minimalCall + `,"hangup_on_ring":-1}`, "invalid value for parameter: hangup_on_ring"},
		{"hangup_on_ring float", `{` + minimalCall + `,"hangup_on_ring":1.5}`, "invalid value for parameter: hangup_on_ring"},
		{"ring_timeout 0", `{` + minimalCall + `,"ring_timeout":0}`, "invalid value for parameter: ring_timeout"},
		{"ring_timeout 601", `{` + minimalCall + `,"ring_timeout":601}`, "invalid value for parameter: ring_timeout"},
		{"sip_headers no =", `{` + minimalCall + `,"sip_headers":"a"}`, "invalid value for parameter: sip_headers"},
		{"sip_headers bad name", `{` + minimalCall + `,"sip_headers":"a_b=1"}`, "invalid value for parameter: sip_headers"},
		{"sip_headers empty item", `{` + minimalCall + `,"sip_headers":"a=1,,b=2"}`, "invalid value for parameter: sip_headers"},
		{"sip_headers control", `{` + minimalCall + `,"sip_headers":"a=1\r\nVia: x"}`, "invalid value for parameter: sip_headers"},
		{"table order: caller_name before time_limit", `{` + minimalCall + `,"time_limit":0,"caller_name":"` + strings.Repeat("a", 51) + `"}`, "invalid value for parameter: caller_name"},
		{"table order: ring before hangup", `{` + minimalCall + `,"hangup_url":"x","ring_method":"x"}`, "invalid value for parameter: ring_method"},
		{"table order: from before to", `{"from":"a b","to":"c d"}`, "invalid value for parameter: from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Call/", body: tt.body})
			if tt.text == "" {
				if w.Code != 201 {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				return
			}
			if w.Code != 400 || errorText(t, w) != tt.text {
				t.Fatalf("%d %s, want 400 %q", w.Code, w.Body, tt.text)
			}
			if len(fx.calls.made) != 0 {
				t.Fatal("call made after a validation failure")
			}
		})
	}
}

func TestMakeCallNumberNeedsGateway(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.HasSIPGateway = false })
	for _, to := range []string{"14155550100", "+14155550100"} {
		w := fx.do(t, req{method: "POST", path: base + "/Call/", body: `{"from":"1","to":"` + to + `","answer_url":"https://a.test/"}`})
		if w.Code != 400 || errorText(t, w) != "invalid value for parameter: to" {
			t.Errorf("%s without gateway: %d %s", to, w.Code, w.Body)
		}
	}
	w := fx.do(t, req{method: "POST", path: base + "/Call/", body: `{"from":"1","to":"sip:a@b.test","answer_url":"https://a.test/"}`})
	if w.Code != 201 {
		t.Errorf("SIP URI without gateway: %d %s", w.Code, w.Body)
	}
}

func TestMakeCallParams(t *testing.T) {
	fiveSec := 5 * time.Second
	zero := time.Duration(0)
	day := 86400 * time.Second
	tests := []struct {
		name, body, ctype string
		want              MakeCallParams
	}{
		{"defaults", `{` + minimalCall + `}`, "", MakeCallParams{
			From: "+14155550100", To: "sip:bob@pbx.example.com", AnswerURL: "https://example.com/answer", AnswerMethod: "POST",
			RingMethod: "POST", HangupMethod: "POST", FallbackMethod: "POST", TimeLimit: 4 * time.Hour, RingTimeout: 120 * time.Second}},
		{"all (Go client types)", `{"from":"14155550100","to":"+14155550199","answer_url":"https://a.test/a","answer_method":"get",
			"ring_url":"https://a.test/r","ring_method":"GET","hangup_url":"https://a.test/h","hangup_method":"post",
			"fallback_url":"http://a.test/f","fallback_method":"GET","caller_name":"Support","send_digits":"12w#",
			"send_on_preanswer":true,"time_limit":60,"hangup_on_ring":5,"ring_timeout":30,
			"sip_headers":"Foo=bar, X-Y = two words ,empty="}`, "", MakeCallParams{
			From: "14155550100", To: "+14155550199", ToNumber: true, AnswerURL: "https://a.test/a", AnswerMethod: "GET",
			RingURL: "https://a.test/r", RingMethod: "GET", HangupURL: "https://a.test/h", HangupMethod: "POST",
			FallbackURL: "http://a.test/f", FallbackMethod: "GET", CallerName: "Support", SendDigits: "12w#",
			SendOnPreanswer: true, TimeLimit: time.Minute, HangupOnRing: &fiveSec, RingTimeout: 30 * time.Second,
			SIPHeaders: []SIPHeader{{"X-PH-Foo", "bar"}, {"X-PH-X-Y", "two words"}, {"X-PH-empty", ""}}}},
		{"form strings", "from=alice&to=sip%3Abob%40b.test&answer_url=https%3A%2F%2Fa.test%2F&send_on_preanswer=TRUE&hangup_on_ring=0&time_limit=10",
			"application/x-www-form-urlencoded", MakeCallParams{
				From: "alice", To: "sip:bob@b.test", AnswerURL: "https://a.test/", AnswerMethod: "POST", RingMethod: "POST",
				HangupMethod: "POST", FallbackMethod: "POST", SendOnPreanswer: true, TimeLimit: 10 * time.Second,
				HangupOnRing: &zero, RingTimeout: 120 * time.Second}},
		{"huge hangup_on_ring is capped", `{` + minimalCall + `,"hangup_on_ring":"9223372036854775807"}`, "", MakeCallParams{
			From: "+14155550100", To: "sip:bob@pbx.example.com", AnswerURL: "https://example.com/answer", AnswerMethod: "POST",
			RingMethod: "POST", HangupMethod: "POST", FallbackMethod: "POST", TimeLimit: 4 * time.Hour,
			HangupOnRing: &day, RingTimeout: 120 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Call/", body: tt.body, ctype: tt.ctype})
			if w.Code != 201 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message", "request_uuid")
			if m["message"] != "call fired" || m["request_uuid"] != "d3f6a9b2-4c1e-4a87-8e5d-000000000001" {
				t.Errorf("body %s", w.Body)
			}
			tt.want.SourceIP = "192.0.2.1" // httptest's client address
			if got := fx.calls.made[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("params\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMakeCallDomainErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		text   string
		retry  string
	}{
		{fmt.Errorf("app: %w", ErrDraining), 503, "server is shutting down", ""},
		{ErrConcurrentLimit, 429, "concurrent call limit reached", "1"},
		{errBoom, 500, "internal error", ""},
	}
	for _, tt := range tests {
		fx := newFixture(t, func(o *Options) { o.CallsPerSecond = 1 })
		fx.calls.makeErr = tt.err
		w := fx.do(t, req{method: "POST", path: base + "/Call/", body: `{` + minimalCall + `}`})
		if w.Code != tt.status || errorText(t, w) != tt.text || w.Header().Get("Retry-After") != tt.retry {
			t.Errorf("%v: %d %s Retry-After %q", tt.err, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
		// A failed call gives its calls_per_second token back.
		fx.calls.makeErr = nil
		if w := fx.do(t, req{method: "POST", path: base + "/Call/", body: `{` + minimalCall + `}`}); w.Code != 201 {
			t.Errorf("%v: token not refunded: %d %s", tt.err, w.Code, w.Body)
		}
	}
	// Draining is reported after validation.
	fx := newFixture(t, nil)
	fx.calls.makeErr = ErrDraining
	if w := fx.do(t, req{method: "POST", path: base + "/Call/", body: `{}`}); w.Code != 400 {
		t.Errorf("validation while draining: %d", w.Code)
	}
}

func TestCallRateLimit(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.CallsPerSecond = 2 })
	post := func(acct, tok, body string) (int, string, string) {
		w := fx.do(t, req{method: "POST", path: "/api/v1/Account/" + acct + "/Call/", body: body, noAuth: true,
			header: http.Header{"X-Auth-Id": {acct}, "X-Auth-Token": {tok}}})
		text := ""
		if w.Code != 201 {
			text = errorText(t, w)
		}
		return w.Code, text, w.Header().Get("Retry-After")
	}
	good := `{` + minimalCall + `}`
	for i := range 2 {
		if code, text, _ := post(testAccount, testToken, good); code != 201 {
			t.Fatalf("call %d within burst: %d %s", i, code, text)
		}
	}
	if code, text, retry := post(testAccount, testToken, good); code != 429 || text != "call rate limit exceeded" || retry != "1" {
		t.Fatalf("over the call rate: %d %q Retry-After %q", code, text, retry)
	}
	// The call limit is checked before validation (§1.6 step 3), and only POST /Call/ counts.
	if code, text, _ := post(testAccount, testToken, `{}`); code != 429 || text != "call rate limit exceeded" {
		t.Fatalf("invalid call over the rate: %d %q", code, text)
	}
	if w := fx.do(t, req{method: "GET", path: base + "/Call/"}); w.Code != 200 {
		t.Fatalf("GET /Call/ limited: %d", w.Code)
	}
	if code, _, _ := post("MA_OTHER", "other-token", good); code != 201 {
		t.Fatalf("other account limited: %d", code)
	}
	*fx.clock = fx.clock.Add(500 * time.Millisecond) // one token back at 2/s
	if code, _, _ := post(testAccount, testToken, good); code != 201 {
		t.Fatalf("after 0.5 s: %d", code)
	}
	if code, _, _ := post(testAccount, testToken, good); code != 429 {
		t.Fatalf("second after 0.5 s: %d", code)
	}
	// Requests that fail validation do not use tokens up.
	*fx.clock = fx.clock.Add(time.Second)
	for range 5 {
		if code, _, _ := post(testAccount, testToken, `{"from":"1"}`); code != 400 {
			t.Fatalf("invalid call: %d", code)
		}
	}
	for i := range 2 {
		if code, text, _ := post(testAccount, testToken, good); code != 201 {
			t.Fatalf("call %d after invalid ones: %d %s", i, code, text)
		}
	}

	slow := newFixture(t, func(o *Options) { o.CallsPerSecond = 0.2 })
	slow.do(t, req{method: "POST", path: base + "/Call/", body: good})
	w := slow.do(t, req{method: "POST", path: base + "/Call/", body: good})
	if w.Code != 429 || w.Header().Get("Retry-After") != "5" {
		t.Fatalf("0.2/s: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}

	def := newFixture(t, nil) // default 100/s with a burst of 100
	for i := range 100 {
		if w := def.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 201 {
			t.Fatalf("default limit: call %d: %d", i, w.Code)
		}
	}
	if w := def.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 429 {
		t.Fatalf("default limit: call 101: %d", w.Code)
	}
	off := newFixture(t, func(o *Options) { o.CallsPerSecond = -1; o.MaxConcurrentCalls = -1 })
	for i := range 150 {
		if w := off.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 201 {
			t.Fatalf("limits off: call %d: %d", i, w.Code)
		}
	}
}

func TestConcurrentCallLimit(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.MaxConcurrentCalls = 3; o.CallsPerSecond = 1000 })
	good := `{` + minimalCall + `}`
	// MA_X has 2 live legs: one more is allowed.
	if w := fx.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 201 {
		t.Fatalf("third leg: %d %s", w.Code, w.Body)
	}
	w := fx.do(t, req{method: "POST", path: base + "/Call/", body: good})
	if w.Code != 429 || errorText(t, w) != "concurrent call limit reached" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("fourth leg: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	// Checked before validation, like every rate limit.
	w = fx.do(t, req{method: "POST", path: base + "/Call/", body: `{`})
	if w.Code != 429 {
		t.Fatalf("malformed body at the limit: %d", w.Code)
	}
	if len(fx.calls.made) != 1 {
		t.Fatalf("MakeCall called %d times", len(fx.calls.made))
	}
	// A leg ends: room for one more.
	fx.do(t, req{method: "DELETE", path: base + "/Call/" + testCallOut + "/"})
	if w := fx.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 201 {
		t.Fatalf("after a hangup: %d", w.Code)
	}
	// Refused calls do not use up call tokens.
	fx2 := newFixture(t, func(o *Options) { o.MaxConcurrentCalls = 2; o.CallsPerSecond = 1 })
	for range 3 {
		fx2.do(t, req{method: "POST", path: base + "/Call/", body: good})
	}
	fx2.calls.legs[testAccount] = nil
	if w := fx2.do(t, req{method: "POST", path: base + "/Call/", body: good}); w.Code != 201 {
		t.Fatalf("token used by refused calls: %d %s", w.Code, w.Body)
	}
}

func TestCallCheckOrder(t *testing.T) {
	big := `{"from":"` + strings.Repeat("1", 200) + `"}`
	tests := []struct {
		name       string
		path, body string
		auth       bool
		restLimit  bool
		callLimit  bool
		status     int
		text       string
	}{
		{"401 before call 429", "/Call/", big, false, false, true, 401, "authentication failed"},
		{"REST 429 before call 429", "/Call/", big, true, true, true, 429, "rate limit exceeded"},
		{"call 429 before 413", "/Call/", big, true, false, true, 429, "call rate limit exceeded"},
		{"413 before 400", "/Call/", big, true, false, false, 413, "request body too large"},
		{"400 before 404 (transfer)", "/Call/nope/", `{"legs":"x"}`, true, false, false, 400, "invalid value for parameter: legs"},
		{"404 before 409 (transfer)", "/Call/nope/", `{"aleg_url":"https://a.test/"}`, true, false, false, 404, "call not found"},
		{"409 not answered", "/Call/" + testCallOut + "/", `{"aleg_url":"https://a.test/"}`, true, false, false, 409, "call not answered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, func(o *Options) { o.MaxBodyBytes = 100; o.CallsPerSecond = 1 })
			if tt.restLimit {
				fx = newFixture(t, func(o *Options) { o.MaxBodyBytes = 100; o.CallsPerSecond = 1; o.RESTRate = 1; o.RESTBurst = 1 })
			}
			if tt.callLimit {
				fx.do(t, req{method: "POST", path: base + "/Call/", body: `{` + minimalCall + `}`})
			}
			w := fx.do(t, req{method: "POST", path: base + tt.path, body: tt.body, noAuth: !tt.auth})
			if w.Code != tt.status || errorText(t, w) != tt.text {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tt.status, tt.text)
			}
		})
	}
}

func TestListCalls(t *testing.T) {
	tests := []struct {
		query  string
		status int
		calls  []any
		text   string
		filter *CallFilter
	}{
		{"?status=live", 200, []any{testCallIn, testCallOut}, "", &CallFilter{}},
		{"?status=LIVE", 200, []any{testCallIn, testCallOut}, "", &CallFilter{}},
		{"?status=queued", 200, []any{}, "", nil},
		{"?status=queued&call_direction=sideways", 400, nil, "invalid value for parameter: call_direction", nil},
		{"?status=ended", 400, nil, "invalid value for parameter: status", nil},
		{"?status=live&call_direction=inbound", 200, []any{testCallIn}, "", &CallFilter{Direction: "inbound"}},
		{"?status=live&call_direction=Outbound&from_number=%2B14155550199", 200, []any{testCallOut}, "", &CallFilter{Direction: "outbound", FromNumber: "14155550199"}},
		{"?status=live&to_number=sip:bob@pbx.example.com:5060%3Btransport=udp", 200, []any{testCallOut}, "", &CallFilter{ToNumber: "sip:bob@pbx.example.com"}},
		{"?status=live&to_number=sip:%2B14155550199@gw.test", 200, []any{testCallIn}, "", &CallFilter{ToNumber: "14155550199"}},
		{"?status=live&from_number=nobody", 200, []any{}, "", &CallFilter{FromNumber: "nobody"}},
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		w := fx.do(t, req{method: "GET", path: base + "/Call/" + tt.query})
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
		assertKeys(t, m, "api_id", "calls")
		if !reflect.DeepEqual(m["calls"], tt.calls) {
			t.Errorf("%s: calls %v want %v", tt.query, m["calls"], tt.calls)
		}
		switch {
		case tt.filter == nil && len(fx.calls.filters) != 0:
			t.Errorf("%s: domain asked for queued calls", tt.query)
		case tt.filter != nil && (len(fx.calls.filters) != 1 || fx.calls.filters[0] != *tt.filter):
			t.Errorf("%s: filters %+v want %+v", tt.query, fx.calls.filters, *tt.filter)
		}
	}
}

func TestGetCall(t *testing.T) {
	fx := newFixture(t, nil)
	for _, path := range []string{"/Call/" + testCallIn + "/?status=live", "/Call/" + testCallIn + "?status=live", "/call/" + testCallIn + "?status=LIVE"} {
		w := fx.do(t, req{method: "GET", path: base + path})
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		m := decode(t, w)
		assertKeys(t, m, "api_id", "call_status", "call_uuid", "caller_name", "direction", "from", "request_uuid",
			"session_start", "stir_attestation", "stir_verification", "to")
		want := map[string]any{"call_status": "in-progress", "call_uuid": testCallIn, "caller_name": "Alice", "direction": "inbound",
			"from": "14155550100", "request_uuid": testCallIn, "session_start": "2026-11-06 13:49:10.253756",
			"stir_attestation": "", "stir_verification": "Not Applicable", "to": "14155550199"}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %#v want %#v", path, k, m[k], v)
			}
		}
	}
	w := fx.do(t, req{method: "GET", path: base + "/Call/" + testCallOut + "/?status=live"})
	if m := decode(t, w); m["call_status"] != "ringing" || m["caller_name"] != "" || m["session_start"] != "2026-11-06 13:49:30.000000" {
		t.Errorf("ringing call: %s", w.Body)
	}
	for _, tt := range []struct{ path, text string }{
		{"/Call/" + testCallIn + "/?status=queued", "call not found"},
		{"/Call/nope/?status=live", "call not found"},
		{"/Call/c0000000-0000-4000-8000-0000000000aa/?status=live", "call not found"}, // another account's call
		{"/Call/" + testCallIn + "/?status=ended", "invalid value for parameter: status"},
	} {
		w := fx.do(t, req{method: "GET", path: base + tt.path})
		if got := errorText(t, w); got != tt.text || (w.Code != 404) == strings.HasPrefix(tt.text, "call") {
			t.Errorf("%s: %d %s", tt.path, w.Code, w.Body)
		}
	}
}

func TestHangupCall(t *testing.T) {
	fx := newFixture(t, nil)
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: base + "/Call/" + testCallIn + "/", body: `{"not json`}))
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: "/v1/account/MA_X/request/" + testCallOut}))
	if !reflect.DeepEqual(fx.calls.hungUp, []string{testCallIn, testCallOut}) {
		t.Errorf("hung up %v", fx.calls.hungUp)
	}
	for _, path := range []string{"/Call/" + testCallIn + "/", "/Request/nope/", "/Call/c0000000-0000-4000-8000-0000000000aa/"} {
		w := fx.do(t, req{method: "DELETE", path: base + path})
		if w.Code != 404 || errorText(t, w) != "call not found" {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
}

func TestTransferCall(t *testing.T) {
	tests := []struct {
		name, call, body string
		status           int
		text             string
		want             TransferParams
	}{
		{"aleg default", testCallIn, `{"aleg_url":"https://a.test/x"}`, 202, "", TransferParams{Legs: "aleg", ALegURL: "https://a.test/x", ALegMethod: "POST"}},
		{"aleg GET, bleg url ignored", testCallIn, `{"legs":"ALEG","aleg_url":"https://a.test/x","aleg_method":"get","bleg_url":"https://a.test/y"}`, 202, "",
			TransferParams{Legs: "aleg", ALegURL: "https://a.test/x", ALegMethod: "GET"}},
		{"bleg", testCallIn, `{"legs":"bleg","bleg_url":"https://a.test/y","bleg_method":"GET"}`, 202, "", TransferParams{Legs: "bleg", BLegURL: "https://a.test/y", BLegMethod: "GET"}},
		{"both (form)", testCallIn, "legs=both&aleg_url=https://a.test/x&bleg_url=https://a.test/y", 202, "",
			TransferParams{Legs: "both", ALegURL: "https://a.test/x", ALegMethod: "POST", BLegURL: "https://a.test/y", BLegMethod: "POST"}},
		{"no params", testCallIn, ``, 400, "missing required parameter: aleg_url", TransferParams{}},
		{"bad legs", testCallIn, `{"legs":"cleg"}`, 400, "invalid value for parameter: legs", TransferParams{}},
		{"bleg needs bleg_url", testCallIn, `{"legs":"bleg","aleg_url":"https://a.test/x"}`, 400, "missing required parameter: bleg_url", TransferParams{}},
		{"both needs aleg_url first", testCallIn, `{"legs":"both"}`, 400, "missing required parameter: aleg_url", TransferParams{}},
		{"bad aleg_url", testCallIn, `{"aleg_url":"x"}`, 400, "invalid value for parameter: aleg_url", TransferParams{}},
		{"bad aleg_method", testCallIn, `{"aleg_url":"https://a.test/x","aleg_method":"PUT"}`, 400, "invalid value for parameter: aleg_method", TransferParams{}},
		{"unused url still validated", testCallIn, `{"aleg_url":"https://a.test/x","bleg_url":"nope"}`, 400, "invalid value for parameter: bleg_url", TransferParams{}},
		{"bad bleg_method", testCallIn, `{"legs":"bleg","bleg_url":"https://a.test/y","bleg_method":"x"}`, 400, "invalid value for parameter: bleg_method", TransferParams{}},
		{"not bridged", "bleg-less", `{"legs":"both","aleg_url":"https://a.test/x","bleg_url":"https://a.test/y"}`, 400, "invalid value for parameter: legs", TransferParams{}},
		{"not answered", testCallOut, `{"aleg_url":"https://a.test/x"}`, 409, "call not answered", TransferParams{}},
		{"unknown", "nope", `{"aleg_url":"https://a.test/x"}`, 404, "call not found", TransferParams{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			fx.calls.legs[testAccount] = append(fx.calls.legs[testAccount], CallView{CallUUID: "bleg-less", Answered: true})
			w := fx.do(t, req{method: "POST", path: base + "/Call/" + tt.call + "/", body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q want %q", got, tt.text)
				}
				return
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message", "call_uuid")
			if m["message"] != "call transferred" || m["call_uuid"] != tt.call {
				t.Errorf("body %s", w.Body)
			}
			if len(fx.calls.transfer) != 1 || fx.calls.transfer[0] != tt.want {
				t.Errorf("transfer %+v want %+v", fx.calls.transfer, tt.want)
			}
		})
	}
}

func TestResourcesNotServedWithoutInterface(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Calls, o.Applications, o.Endpoints = nil, nil, nil })
	for _, p := range []string{"/Call/", "/Call/x/", "/Request/x/", "/Application/", "/Application/1/", "/Endpoint/", "/Endpoint/1/"} {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			if w := fx.do(t, req{method: m, path: base + p}); w.Code != 404 || errorText(t, w) != "route not found" {
				t.Errorf("%s %s: %d", m, p, w.Code)
			}
		}
	}
}

func TestPartyHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550100": "14155550100", "14155550100": "14155550100", "sip:bob@pbx.test": "sip:bob@pbx.test",
		"SIP:bob@pbx.test:5060;transport=tcp?x=y": "sip:bob@pbx.test", "sips:+4420@gw": "4420",
		"sip:[2001:db8::1]:5060": "sip:[2001:db8::1]", "sip:alice@[::1]:5": "sip:alice@[::1]", "alice": "alice", "": "",
	} {
		if got := normalizeParty(in); got != want {
			t.Errorf("normalizeParty(%q) = %q want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		"sip:a@b": true, "sip:b": true, "sips:a@b:5061": true, "sip:a@[::1]": true, "sip:": false, "sip:@b": false,
		"sip:a@": false, "sip:a b@c": false, "sip:a@[": false, "sip:a@:5060": false, "http://a": false, "sip:a@b@c": false,
	} {
		if got := isSIPURI(in); got != want {
			t.Errorf("isSIPURI(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]bool{"1": true, "+1": true, "+": false, "": false, "123456789012345": true,
		"1234567890123456": false, "1-2": false, "++1": false} {
		if got := isNumber(in); got != want {
			t.Errorf("isNumber(%q) = %v", in, got)
		}
	}
}

// FuzzCallParsers checks that the parameter parsers never panic and that their outputs keep
// their promises.
func FuzzCallParsers(f *testing.F) {
	for _, s := range []string{"a=1,b=2", "sip:bob@[::1]:5060;x", "+14155550100", "sip:+1@gw", "X-PH=é", ",", "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if hs, ok := parseSIPHeaders(s); ok {
			for _, h := range hs {
				if !strings.HasPrefix(h.Name, "X-PH-") || len(h.Name) == 5 || strings.ContainsAny(h.Value, "\r\n") {
					t.Fatalf("parseSIPHeaders(%q): bad header %+v", s, h)
				}
			}
		}
		n := normalizeParty(s)
		if isNumber(s) && strings.HasPrefix(n, "+") {
			t.Fatalf("normalizeParty(%q) = %q keeps '+'", s, n)
		}
		if isSIPURI(s) && normalizeParty(n) != n {
			t.Fatalf("normalizeParty not idempotent on %q: %q -> %q", s, n, normalizeParty(n))
		}
		_ = validCallerID(s)
	})
}
