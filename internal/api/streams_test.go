package api

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

var streamPath = base + "/Call/" + testCallIn + "/Stream/"

const minimalStream = `"service_url":"wss://agent.example.com/ws"`

// defaultStream is what a start with only minimalStream configures.
func defaultStream() StreamParams {
	return StreamParams{ServiceURL: "wss://agent.example.com/ws", AudioTrack: "inbound", Encoding: "audio/x-l16",
		SampleRate: 8000, StreamTimeout: 86400 * time.Second, StatusCallbackMethod: "POST"}
}

func TestStartStreamValidation(t *testing.T) {
	with := func(mod func(*StreamParams)) *StreamParams {
		p := defaultStream()
		mod(&p)
		return &p
	}
	tests := []struct {
		name, body string
		text       string        // the 400 error; "" means 202
		want       *StreamParams // the params the domain got, when checked
	}{
		{"empty body", ``, "missing required parameter: service_url", nil},
		{"empty url counts as absent", `{"service_url":""}`, "missing required parameter: service_url", nil},
		{"minimal", `{` + minimalStream + `}`, "", with(func(p *StreamParams) {})},
		{"ws scheme any case, query kept", `{"service_url":"WS://127.0.0.1:8080/a?b=c&d=e"}`, "",
			with(func(p *StreamParams) { p.ServiceURL = "WS://127.0.0.1:8080/a?b=c&d=e" })},
		{"url https", `{"service_url":"https://a.test/ws"}`, "invalid value for parameter: service_url", nil},
		{"url relative", `{"service_url":"/ws"}`, "invalid value for parameter: service_url", nil},
		{"url no host", `{"service_url":"wss:///ws"}`, "invalid value for parameter: service_url", nil},
		{"url padded", `{"service_url":" wss://a.test/ws"}`, "invalid value for parameter: service_url", nil},
		{"url boolean", `{"service_url":true}`, "invalid value for parameter: service_url", nil},
		{"bidirectional string", `{` + minimalStream + `,"bidirectional":"true"}`, "", with(func(p *StreamParams) { p.Bidirectional = true })},
		{"bidirectional JSON bool", `{` + minimalStream + `,"bidirectional":true}`, "", with(func(p *StreamParams) { p.Bidirectional = true })},
		{"bidirectional Python", `{` + minimalStream + `,"bidirectional":"True"}`, "", with(func(p *StreamParams) { p.Bidirectional = true })},
		{"bidirectional false", `{` + minimalStream + `,"bidirectional":"false"}`, "", with(func(p *StreamParams) {})},
		{"bidirectional yes", `{` + minimalStream + `,"bidirectional":"yes"}`, "invalid value for parameter: bidirectional", nil},
		{"bidirectional number", `{` + minimalStream + `,"bidirectional":1}`, "invalid value for parameter: bidirectional", nil},
		{"audio_track both", `{` + minimalStream + `,"audio_track":"BOTH"}`, "", with(func(p *StreamParams) { p.AudioTrack = "both" })},
		{"audio_track outbound", `{` + minimalStream + `,"audio_track":"outbound"}`, "", with(func(p *StreamParams) { p.AudioTrack = "outbound" })},
		{"audio_track bad", `{` + minimalStream + `,"audio_track":"mixed"}`, "invalid value for parameter: audio_track", nil},
		{"bidirectional with both is one-way", `{` + minimalStream + `,"bidirectional":"true","audio_track":"both"}`, "",
			with(func(p *StreamParams) { p.AudioTrack = "both" })},
		{"bidirectional with outbound is one-way", `{` + minimalStream + `,"bidirectional":true,"audio_track":"outbound"}`, "",
			with(func(p *StreamParams) { p.AudioTrack = "outbound" })},
		{"bidirectional with inbound", `{` + minimalStream + `,"bidirectional":true,"audio_track":"inbound"}`, "",
			with(func(p *StreamParams) { p.Bidirectional = true })},
		{"content_type mulaw", `{` + minimalStream + `,"content_type":"audio/x-mulaw;rate=8000"}`, "",
			with(func(p *StreamParams) { p.Encoding = "audio/x-mulaw" })},
		{"content_type l16 16k spaced, any case", `{` + minimalStream + `,"content_type":"Audio/X-L16 ; Rate = 16000"}`, "",
			with(func(p *StreamParams) { p.SampleRate = 16000 })},
		{"content_type l16 24k", `{` + minimalStream + `,"content_type":"audio/x-l16;rate=24000"}`, "",
			with(func(p *StreamParams) { p.SampleRate = 24000 })},
		{"content_type no rate", `{` + minimalStream + `,"content_type":"audio/x-mulaw"}`, "",
			with(func(p *StreamParams) { p.Encoding = "audio/x-mulaw" })},
		{"content_type alias pcmu", `{` + minimalStream + `,"content_type":"audio/PCMU"}`, "",
			with(func(p *StreamParams) { p.Encoding = "audio/x-mulaw" })},
		{"content_type alias l16", `{` + minimalStream + `,"content_type":"audio/l16;rate=16000"}`, "",
			with(func(p *StreamParams) { p.SampleRate = 16000 })},
		{"content_type mulaw 16k", `{` + minimalStream + `,"content_type":"audio/x-mulaw;rate=16000"}`, "invalid value for parameter: content_type", nil},
		{"content_type l16 44k", `{` + minimalStream + `,"content_type":"audio/x-l16;rate=44100"}`, "invalid value for parameter: content_type", nil},
		{"content_type bad rate", `{` + minimalStream + `,"content_type":"audio/x-l16;rate=fast"}`, "invalid value for parameter: content_type", nil},
		{"content_type empty rate", `{` + minimalStream + `,"content_type":"audio/x-l16;rate"}`, "invalid value for parameter: content_type", nil},
		{"content_type opus", `{` + minimalStream + `,"content_type":"audio/opus"}`, "invalid value for parameter: content_type", nil},
		{"content_type number", `{` + minimalStream + `,"content_type":8000}`, "invalid value for parameter: content_type", nil},
		{"audio_format mulaw", `{` + minimalStream + `,"audio_format":"mulaw"}`, "", with(func(p *StreamParams) { p.Encoding = "audio/x-mulaw" })},
		{"audio_format pcm", `{` + minimalStream + `,"audio_format":"PCM"}`, "", with(func(p *StreamParams) {})},
		{"content_type wins over audio_format", `{` + minimalStream + `,"audio_format":"mulaw","content_type":"audio/x-l16;rate=16000"}`, "",
			with(func(p *StreamParams) { p.SampleRate = 16000 })},
		{"audio_format bad", `{` + minimalStream + `,"audio_format":"opus"}`, "invalid value for parameter: audio_format", nil},
		{"stream_timeout", `{` + minimalStream + `,"stream_timeout":"60"}`, "", with(func(p *StreamParams) { p.StreamTimeout = time.Minute })},
		{"stream_timeout 1", `{` + minimalStream + `,"stream_timeout":1}`, "", with(func(p *StreamParams) { p.StreamTimeout = time.Second })},
		{"stream_timeout max", `{` + minimalStream + `,"stream_timeout":2147483647}`, "",
			with(func(p *StreamParams) { p.StreamTimeout = 2147483647 * time.Second })},
		{"stream_timeout 0", `{` + minimalStream + `,"stream_timeout":0}`, "invalid value for parameter: stream_timeout", nil},
		{"stream_timeout negative", `{` + minimalStream + `,"stream_timeout":-5}`, "invalid value for parameter: stream_timeout", nil},
		{"stream_timeout over", `{` + minimalStream + `,"stream_timeout":2147483648}`, "invalid value for parameter: stream_timeout", nil},
		{"stream_timeout float", `{` + minimalStream + `,"stream_timeout":1.5}`, "invalid value for parameter: stream_timeout", nil},
		{"stream_timeout text", `{` + minimalStream + `,"stream_timeout":"1h"}`, "invalid value for parameter: stream_timeout", nil},
		{"status callback", `{` + minimalStream + `,"status_callback_url":"https://a.test/s","status_callback_method":"get"}`, "",
			with(func(p *StreamParams) { p.StatusCallbackURL, p.StatusCallbackMethod = "https://a.test/s", "GET" })},
		{"status_callback_url ws", `{` + minimalStream + `,"status_callback_url":"wss://a.test/s"}`, "invalid value for parameter: status_callback_url", nil},
		{"status_callback_method", `{` + minimalStream + `,"status_callback_method":"PUT"}`, "invalid value for parameter: status_callback_method", nil},
		{"extra_headers both separators", `{` + minimalStream + `,"extra_headers":"session_id=abc123, X-Tier : gold ,v.1:a-b,"}`, "",
			with(func(p *StreamParams) {
				p.ExtraHeaders = "session_id=abc123, X-Tier : gold ,v.1:a-b,"
				p.Headers = []StreamHeader{{Name: "session_id", Value: "abc123"}, {Name: "X-Tier", Value: "gold"}, {Name: "v.1", Value: "a-b"}}
			})},
		{"extra_headers value with separator", `{` + minimalStream + `,"extra_headers":"a=b=c"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers no separator", `{` + minimalStream + `,"extra_headers":"token"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers empty key", `{` + minimalStream + `,"extra_headers":"=v"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers empty value", `{` + minimalStream + `,"extra_headers":"k="}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers space in value", `{` + minimalStream + `,"extra_headers":"auth:Bearer xyz"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers CRLF", `{` + minimalStream + `,"extra_headers":"a=1\r\nHost: evil"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers upgrade header", `{` + minimalStream + `,"extra_headers":"Sec-WebSocket-Protocol=x"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers 512 bytes", `{` + minimalStream + `,"extra_headers":"k=` + strings.Repeat("v", 510) + `"}`, "",
			with(func(p *StreamParams) {
				p.ExtraHeaders = "k=" + strings.Repeat("v", 510)
				p.Headers = []StreamHeader{{Name: "k", Value: strings.Repeat("v", 510)}}
			})},
		{"extra_headers 513 bytes", `{` + minimalStream + `,"extra_headers":"k=` + strings.Repeat("v", 511) + `"}`, "invalid value for parameter: extra_headers", nil},
		{"extra_headers object", `{` + minimalStream + `,"extra_headers":{"a":"b"}}`, "invalid value for parameter: extra_headers", nil},
		{"noise cancellation and unknown ignored", `{` + minimalStream + `,"noise_cancellation":"maybe","noise_cancellation_level":"x","foo":1}`, "",
			with(func(p *StreamParams) {})},
		{"table order: url before bidirectional", `{"service_url":"x","bidirectional":"x"}`, "invalid value for parameter: service_url", nil},
		{"table order: bidirectional before audio_track", `{` + minimalStream + `,"audio_track":"x","bidirectional":"x"}`, "invalid value for parameter: bidirectional", nil},
		{"table order: content_type before stream_timeout", `{` + minimalStream + `,"stream_timeout":0,"content_type":"x"}`, "invalid value for parameter: content_type", nil},
		{"table order: callback before extra_headers", `{` + minimalStream + `,"extra_headers":"x","status_callback_method":"x"}`, "invalid value for parameter: status_callback_method", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: streamPath, body: tt.body})
			if tt.text != "" {
				if w.Code != 400 {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q, want %q", got, tt.text)
				}
				if len(fx.streams.started) != 0 {
					t.Fatalf("an invalid request started a stream: %+v", fx.streams.started)
				}
				return
			}
			if w.Code != http.StatusAccepted {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message", "stream_id")
			if m["message"] != "audio streaming started" || m["stream_id"] != "5e000000-0000-4000-8000-000000000001" {
				t.Fatalf("body %s", w.Body)
			}
			if len(fx.streams.started) != 1 {
				t.Fatalf("started %d streams", len(fx.streams.started))
			}
			if got := fx.streams.started[0]; tt.want != nil && !reflect.DeepEqual(got, *tt.want) {
				t.Fatalf("params\n got %+v\nwant %+v", got, *tt.want)
			}
		})
	}
}

// TestStartStreamForm checks a form-encoded start with the values as strings.
func TestStartStreamForm(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "POST", path: streamPath, ctype: "application/x-www-form-urlencoded",
		body: "service_url=wss%3A%2F%2Fa.test%2Fws%3Fk%3Dv&bidirectional=true&content_type=audio%2Fx-mulaw%3Brate%3D8000&stream_timeout=30"})
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := defaultStream()
	want.ServiceURL, want.Bidirectional, want.Encoding, want.StreamTimeout = "wss://a.test/ws?k=v", true, "audio/x-mulaw", 30*time.Second
	if got := fx.streams.started[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("params\n got %+v\nwant %+v", got, want)
	}
}

func TestStreamCallStates(t *testing.T) {
	start := `{` + minimalStream + `}`
	tests := []struct {
		name         string
		method, path string
		body         string
		setup        func(t testing.TB, fx *fixture)
		status       int
		text         string // error text of a non-2xx answer
	}{
		{"start on unknown call", "POST", base + "/Call/nope/Stream/", start, nil, 404, "call not found"},
		{"start on another account's call", "POST", "/api/v1/Account/MA_OTHER/Call/" + testCallIn + "/Stream/", start, nil, 401, "auth_id does not match credentials"},
		{"start on a ringing call", "POST", base + "/Call/" + testCallOut + "/Stream/", start, nil, 409, "call not answered"},
		{"start on an ended call", "POST", streamPath, start, func(t testing.TB, fx *fixture) {
			fx.do(t, req{method: "DELETE", path: base + "/Call/" + testCallIn + "/"})
		}, 404, "call not found"},
		{"validation before lookup", "POST", base + "/Call/nope/Stream/", `{"service_url":"http://x"}`, nil, 400, "invalid value for parameter: service_url"},
		{"second stream to another url", "POST", streamPath, `{"service_url":"wss://bot.example.com/other"}`, nil, 202, ""},
		{"same url as an active stream", "POST", streamPath, `{"service_url":"wss://bot.example.com/media"}`, nil, 400, "invalid value for parameter: service_url"},
		{"same url as an ended stream", "POST", streamPath, `{"service_url":"wss://agent.example.com/ws/secret?lang=hi&dir=outbound"}`, nil, 202, ""},
		{"list on unknown call", "GET", base + "/Call/nope/Stream/", "", nil, 404, "call not found"},
		{"list on an ended call", "GET", streamPath, "", func(t testing.TB, fx *fixture) {
			fx.do(t, req{method: "DELETE", path: base + "/Call/" + testCallIn + "/"})
		}, 404, "call not found"},
		{"list bad limit", "GET", streamPath + "?limit=0", "", nil, 400, "invalid value for parameter: limit"},
		{"list bad offset", "GET", streamPath + "?offset=-1", "", nil, 400, "invalid value for parameter: offset"},
		{"get of another call", "GET", base + "/Call/" + testCallOut + "/Stream/" + testStreamLive + "/", "", nil, 404, "stream not found"},
		{"get on unknown call", "GET", base + "/Call/nope/Stream/" + testStreamLive + "/", "", nil, 404, "call not found"},
		{"stop of another call", "DELETE", base + "/Call/" + testCallOut + "/Stream/" + testStreamLive + "/", "", nil, 404, "stream not found"},
		{"stop unknown", "DELETE", streamPath + "nope/", "", nil, 404, "stream not found"},
		{"stop ended", "DELETE", streamPath + testStreamEnded + "/", "", nil, 404, "stream not found"},
		{"stop ignores the body", "DELETE", streamPath + testStreamLive + "/", `{"a":`, nil, 204, ""},
		{"stop all on a call without streams", "DELETE", base + "/Call/" + testCallOut + "/Stream/", "", nil, 204, ""},
		{"stop all on unknown call", "DELETE", base + "/Call/nope/Stream/", "", nil, 404, "call not found"},
		{"stop path is not POST …/stop", "POST", streamPath + testStreamLive + "/stop/", "", nil, 404, "route not found"},
		{"PUT on the collection", "PUT", streamPath, "", nil, 405, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			w := fx.do(t, req{method: tt.method, path: tt.path, body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q, want %q", got, tt.text)
				}
			}
		})
	}
}

func TestStopStream(t *testing.T) {
	fx := newFixture(t, nil)
	live := streamPath + testStreamLive + "/"
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: live}))
	// Stopping is not repeatable: the second DELETE finds no running stream.
	if w := fx.do(t, req{method: "DELETE", path: live}); w.Code != 404 || errorText(t, w) != "stream not found" {
		t.Fatalf("second stop: %d %s", w.Code, w.Body)
	}
	// The stopped stream is still listed and readable, with its end time.
	m := decode(t, fx.do(t, req{method: "GET", path: live}))
	if m["status"] != "completed" || m["end_time"] != "2026-11-06T13:50:00Z" {
		t.Fatalf("after stop: %v", m)
	}
	if !reflect.DeepEqual(fx.streams.stopped, []string{testStreamLive}) {
		t.Fatalf("stopped %v", fx.streams.stopped)
	}
}

func TestStopAllStreams(t *testing.T) {
	fx := newFixture(t, nil)
	for _, u := range []string{"wss://a.test/1", "wss://a.test/2"} {
		if w := fx.do(t, req{method: "POST", path: streamPath, body: `{"service_url":"` + u + `"}`}); w.Code != 202 {
			t.Fatalf("start: %d %s", w.Code, w.Body)
		}
	}
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: strings.TrimSuffix(streamPath, "/")}))
	want := []string{testStreamLive, "5e000000-0000-4000-8000-000000000001", "5e000000-0000-4000-8000-000000000002"}
	if !reflect.DeepEqual(fx.streams.stopped, want) {
		t.Fatalf("stopped %v, want %v", fx.streams.stopped, want)
	}
	// Idempotent: nothing left to stop is still 204.
	assertNoContent(t, fx.do(t, req{method: "DELETE", path: streamPath}))
	if len(fx.streams.stopped) != 3 {
		t.Fatalf("stopped %v", fx.streams.stopped)
	}
}

// streamKeys is the exact key set of a Stream object (§5.6); a get adds api_id.
var streamKeys = []string{"account_id", "audio_track", "bill_duration", "billed_amount", "bidirectional", "call_uuid",
	"content_type", "created_at", "end_time", "extra_headers", "resource_uri", "rounded_bill_duration", "sampling_rate",
	"service_url", "start_time", "status", "status_callback_method", "status_callback_url", "stream_id", "stream_timeout"}

func TestStreamObject(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "POST", path: streamPath, body: `{"service_url":"wss://a.test/ws?q=1","bidirectional":"true",` +
		`"content_type":"audio/x-l16;rate=16000","stream_timeout":90,"status_callback_url":"https://a.test/cb","extra_headers":"k:v"}`})
	id, _ := decode(t, w)["stream_id"].(string)
	*fx.clock = fx.clock.Add(61 * time.Second)
	m := decode(t, fx.do(t, req{method: "GET", path: streamPath + id + "/"}))
	assertKeys(t, m, append([]string{"api_id"}, streamKeys...)...)
	want := map[string]any{
		"account_id": "MA_X", "audio_track": "inbound", "bill_duration": 61.0, "billed_amount": "0.00000",
		"bidirectional": true, "call_uuid": testCallIn, "content_type": "audio/x-l16;rate=16000",
		"created_at": "2026-11-06T13:50:00Z", "end_time": nil, "extra_headers": "k:v",
		"resource_uri": "/v1/Account/MA_X/Call/" + testCallIn + "/Stream/" + id + "/", "rounded_bill_duration": 120.0,
		"sampling_rate": 16000.0, "service_url": "wss://a.test/ws?q=1", "start_time": "2026-11-06T13:50:00Z",
		"status": "in-progress", "status_callback_method": "POST", "status_callback_url": "https://a.test/cb",
		"stream_id": id, "stream_timeout": 90.0,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestListStreamsPaging(t *testing.T) {
	fx := newFixture(t, nil)
	for _, u := range []string{"wss://a.test/1", "wss://a.test/2", "wss://a.test/3"} {
		fx.do(t, req{method: "POST", path: streamPath, body: `{"service_url":"` + u + `"}`})
	}
	// Five streams: the two seeded ones and three started here, oldest first.
	tests := []struct {
		query          string
		page, total    float64
		ids            []string
		next, previous any
	}{
		{"", 1, 5, []string{testStreamEnded, testStreamLive, "5e000000-0000-4000-8000-000000000001",
			"5e000000-0000-4000-8000-000000000002", "5e000000-0000-4000-8000-000000000003"}, nil, nil},
		{"?limit=2", 1, 5, []string{testStreamEnded, testStreamLive}, "/v1/Account/MA_X/Call/" + testCallIn + "/Stream/?limit=2&offset=2", nil},
		{"?limit=2&offset=2", 2, 5, []string{"5e000000-0000-4000-8000-000000000001", "5e000000-0000-4000-8000-000000000002"},
			"/v1/Account/MA_X/Call/" + testCallIn + "/Stream/?limit=2&offset=4", "/v1/Account/MA_X/Call/" + testCallIn + "/Stream/?limit=2&offset=0"},
		{"?limit=2&offset=9", 5, 5, nil, nil, "/v1/Account/MA_X/Call/" + testCallIn + "/Stream/?limit=2&offset=7"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			m := decode(t, fx.do(t, req{method: "GET", path: streamPath + tt.query}))
			assertKeys(t, m, "api_id", "meta", "page", "per_page", "total", "objects")
			meta := m["meta"].(map[string]any)
			assertKeys(t, meta, "limit", "offset", "total_count", "next", "previous")
			if m["page"] != tt.page || m["total"] != tt.total || meta["total_count"] != tt.total || m["per_page"] != meta["limit"] {
				t.Fatalf("page %v total %v meta %v", m["page"], m["total"], meta)
			}
			if meta["next"] != tt.next || meta["previous"] != tt.previous {
				t.Fatalf("next %v previous %v, want %v %v", meta["next"], meta["previous"], tt.next, tt.previous)
			}
			objs := m["objects"].([]any)
			var ids []string
			for _, o := range objs {
				obj := o.(map[string]any)
				assertKeys(t, obj, streamKeys...)
				ids = append(ids, obj["stream_id"].(string))
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Fatalf("ids %v, want %v", ids, tt.ids)
			}
		})
	}
}

func TestMemberStream(t *testing.T) {
	conf := base + "/Conference/MyConf/Member/"
	start := `{` + minimalStream + `}`
	tests := []struct {
		name, path, body string
		status           int
		text             string
	}{
		{"member 17 rides testCallIn", conf + "17/Stream/", start, 202, ""},
		{"list of members", conf + "17,10/Stream/", start, 400, "invalid value for parameter: member_id"},
		{"all", conf + "all/Stream/", start, 400, "invalid value for parameter: member_id"},
		{"bad selector before parameters", conf + "x/Stream/", `{}`, 400, "invalid value for parameter: member_id"},
		{"parameters before lookup", base + "/Conference/Nope/Member/17/Stream/", `{}`, 400, "missing required parameter: service_url"},
		{"unknown room", base + "/Conference/Nope/Member/17/Stream/", start, 404, "conference not found"},
		{"unknown member", conf + "99/Stream/", start, 404, "member not found: 99"},
		{"member whose leg is not a live call", conf + "10/Stream/", start, 404, "call not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: tt.path, body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q, want %q", got, tt.text)
				}
				return
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message", "stream_id", "call_uuid")
			if m["call_uuid"] != testCallIn {
				t.Fatalf("call_uuid %v", m["call_uuid"])
			}
			// The stream is an ordinary stream of the member's call.
			if w := fx.do(t, req{method: "GET", path: streamPath + m["stream_id"].(string) + "/"}); w.Code != 200 {
				t.Fatalf("get through the call: %d %s", w.Code, w.Body)
			}
		})
	}
}

// TestStreamsAbsent checks that a server without a Streams backend serves no stream route and
// never reaches a nil interface; with Streams but no Conferences, only the member route is
// missing.
func TestStreamsAbsent(t *testing.T) {
	paths := []struct{ method, path string }{
		{"POST", streamPath}, {"GET", streamPath}, {"DELETE", streamPath},
		{"GET", streamPath + testStreamLive + "/"}, {"DELETE", streamPath + testStreamLive + "/"},
		{"POST", base + "/Conference/MyConf/Member/17/Stream/"},
	}
	fx := newFixture(t, func(o *Options) { o.Streams = nil })
	for _, p := range paths {
		w := fx.do(t, req{method: p.method, path: p.path, body: `{` + minimalStream + `}`})
		if w.Code != 404 || errorText(t, w) != "route not found" {
			t.Errorf("%s %s without Streams: %d %s", p.method, p.path, w.Code, w.Body)
		}
	}
	fx = newFixture(t, func(o *Options) { o.Conferences = nil })
	for _, p := range paths {
		w := fx.do(t, req{method: p.method, path: p.path, body: `{` + minimalStream + `}`})
		member := strings.Contains(p.path, "/Member/")
		routed := !strings.Contains(w.Body.String(), `"route not found"`)
		if member == routed {
			t.Errorf("%s %s without Conferences: %d %s", p.method, p.path, w.Code, w.Body)
		}
	}
}

// TestStreamPathForms checks the path rules of §1.1 on the new fixed segment.
func TestStreamPathForms(t *testing.T) {
	fx := newFixture(t, nil)
	for _, p := range []string{
		"/api/v1/Account/MA_X/Call/" + testCallIn + "/Stream/" + testStreamLive + "/",
		"/api/v1/Account/MA_X/call/" + testCallIn + "/stream/" + testStreamLive,
		"/v1/Account/MA_X/CALL/" + testCallIn + "/STREAM/" + testStreamLive + "/",
	} {
		if w := fx.do(t, req{method: "GET", path: p}); w.Code != 200 {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Body)
		}
	}
}
