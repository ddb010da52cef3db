package api

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestConferenceRoutes(t *testing.T) {
	conf := base + "/Conference/MyConf"
	tests := []struct {
		name, method, path, body string
		classic, current         int // status per profile
		op                       string
		sel                      MemberSelector
		args                     []string
	}{
		{"list", "GET", base + "/Conference/", "", 200, 200, "List", MemberSelector{}, nil},
		{"hangup all", "DELETE", base + "/Conference/", "", 204, 204, "HangupAll", MemberSelector{}, nil},
		{"get", "GET", conf + "/", "", 200, 200, "Get", MemberSelector{}, nil},
		{"hangup room", "DELETE", conf + "/", "", 204, 204, "HangupRoom", MemberSelector{}, nil},
		{"start recording", "POST", conf + "/Record/", "", 200, 200, "StartRecording", MemberSelector{}, nil},
		{"stop recording", "DELETE", conf + "/Record/", "", 204, 204, "StopRecording", MemberSelector{}, nil},
		{"hangup member", "DELETE", conf + "/Member/10/", "", 204, 204, "HangupMembers", MemberSelector{IDs: []int64{10}}, nil},
		{"kick", "POST", conf + "/Member/10/Kick/", "", 200, 202, "Kick", MemberSelector{IDs: []int64{10}}, nil},
		{"mute", "POST", conf + "/Member/10/Mute/", "", 200, 202, "Mute", MemberSelector{IDs: []int64{10}}, nil},
		{"unmute", "DELETE", conf + "/Member/10/Mute/", "", 204, 204, "Unmute", MemberSelector{IDs: []int64{10}}, nil},
		{"deaf", "POST", conf + "/Member/10/Deaf/", "", 200, 202, "Deaf", MemberSelector{IDs: []int64{10}}, nil},
		{"undeaf", "DELETE", conf + "/Member/10/Deaf/", "", 204, 204, "Undeaf", MemberSelector{IDs: []int64{10}}, nil},
		{"play", "POST", conf + "/Member/10/Play/", `{"url":"https://ex.com/a.mp3"}`, 200, 202, "Play", MemberSelector{IDs: []int64{10}}, []string{"https://ex.com/a.mp3"}},
		{"stop play", "DELETE", conf + "/Member/10/Play/", "", 204, 204, "StopPlay", MemberSelector{IDs: []int64{10}}, nil},
		{"speak", "POST", conf + "/Member/10/Speak/", `{"text":"hello"}`, 200, 202, "Speak", MemberSelector{IDs: []int64{10}}, []string{"hello", "WOMAN", "en-US"}},
		{"stop speak", "DELETE", conf + "/Member/10/Speak/", "", 204, 204, "StopSpeak", MemberSelector{IDs: []int64{10}}, nil},
	}
	for _, profile := range []Profile{ProfileClassic, ProfileCurrent} {
		for _, tt := range tests {
			t.Run(string(profile)+"/"+tt.name, func(t *testing.T) {
				fx := newFixture(t, func(o *Options) { o.Profile = profile })
				w := fx.do(t, req{method: tt.method, path: tt.path, body: tt.body})
				want := tt.classic
				if profile == ProfileCurrent {
					want = tt.current
				}
				if w.Code != want {
					t.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
				}
				if want == 204 {
					assertNoContent(t, w)
				} else {
					decode(t, w)
				}
				c := fx.conf.lastCall()
				if c.Op != tt.op || c.Account != testAccount {
					t.Fatalf("call %+v, want op %s", c, tt.op)
				}
				if tt.sel.IDs != nil && !reflect.DeepEqual(c.Sel, tt.sel) {
					t.Errorf("selector %+v, want %+v", c.Sel, tt.sel)
				}
				if tt.args != nil && !reflect.DeepEqual(c.Args, tt.args) {
					t.Errorf("args %q, want %q", c.Args, tt.args)
				}
			})
		}
	}
}

func TestConferenceBodies(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: base + "/Conference/"})
	m := decode(t, w)
	assertKeys(t, m, "api_id", "conferences")
	if got := m["conferences"]; !reflect.DeepEqual(got, []any{"MyConf", "a/b c+d", "Team Meeting"}) {
		t.Errorf("conferences %v", got)
	}

	w = fx.do(t, req{method: "GET", path: "/api/v1/Account/MA_OTHER/Conference/", header: http.Header{"X-Auth-Id": {"MA_OTHER"}, "X-Auth-Token": {"other-token"}}})
	if m := decode(t, w); !reflect.DeepEqual(m["conferences"], []any{"Theirs"}) {
		t.Errorf("other account sees %v", m["conferences"])
	}

	empty := newFixture(t, nil)
	empty.conf.rooms = map[string][]ConferenceView{}
	w = empty.do(t, req{method: "GET", path: base + "/Conference/"})
	if w.Body.String() == "" || !reflect.DeepEqual(decode(t, w)["conferences"], []any{}) {
		t.Errorf("empty list body %s", w.Body)
	}

	w = fx.do(t, req{method: "GET", path: base + "/Conference/MyConf/"})
	m = decode(t, w)
	assertKeys(t, m, "conference_name", "conference_run_time", "conference_member_count", "members", "api_id")
	if m["conference_run_time"] != "590" || m["conference_member_count"] != "4" {
		t.Errorf("counters %v %v", m["conference_run_time"], m["conference_member_count"])
	}
	members := m["members"].([]any)
	var ids []string
	for _, x := range members {
		mm := x.(map[string]any)
		assertKeys(t, mm, "muted", "member_id", "deaf", "from", "to", "caller_name", "direction", "call_uuid", "join_time")
		ids = append(ids, mm["member_id"].(string))
	}
	if !reflect.DeepEqual(ids, []string{"10", "15", "17", "18"}) {
		t.Errorf("member order %v", ids)
	}

	w = fx.do(t, req{method: "GET", path: base + "/Conference/Nope/"})
	if w.Code != 404 || errorText(t, w) != "conference not found" {
		t.Errorf("missing room: %d %s", w.Code, w.Body)
	}
	// Another account's room is not visible.
	w = fx.do(t, req{method: "GET", path: base + "/Conference/Theirs/"})
	if w.Code != 404 {
		t.Errorf("other account's room: %d", w.Code)
	}
}

func TestMemberSelectorsAndProfiles(t *testing.T) {
	tests := []struct {
		mid     string // as sent in the path
		status  int    // classic status; current is 202 where classic is 200
		classic any
		current []any
		sel     MemberSelector
		errText string
	}{
		{"10", 200, "10", []any{"10"}, MemberSelector{IDs: []int64{10}}, ""},
		{"10,15", 200, "10,15", []any{"10", "15"}, MemberSelector{IDs: []int64{10, 15}}, ""},
		{"10,%2015", 200, "10, 15", []any{"10", "15"}, MemberSelector{IDs: []int64{10, 15}}, ""},
		{"15,10,15", 200, "15,10,15", []any{"15", "10", "15"}, MemberSelector{IDs: []int64{15, 10}}, ""},
		{"all", 200, "all", []any{"all"}, MemberSelector{All: true}, ""},
		{"ALL", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"all,10", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"10,,15", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"10,", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"abc", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"-1", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"0", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"99999999999999999999", 400, nil, nil, MemberSelector{}, "invalid value for parameter: member_id"},
		{"10,99,15,98", 404, nil, nil, MemberSelector{}, "member not found: 99,98"},
	}
	actions := []struct{ path, message, body string }{
		{"Kick", "kicked", ""}, {"Mute", "muted", ""}, {"Deaf", "deaf", ""},
		{"Play", "play queued into conference", `{"url":"http://x.test/a.wav"}`},
		{"Speak", "speak queued into conference", `{"text":"hi"}`},
	}
	for _, profile := range []Profile{ProfileClassic, ProfileCurrent} {
		fx := newFixture(t, func(o *Options) { o.Profile = profile })
		for _, a := range actions {
			for _, tt := range tests {
				name := string(profile) + "/" + a.path + "/" + tt.mid
				w := fx.do(t, req{method: "POST", path: base + "/Conference/MyConf/Member/" + tt.mid + "/" + a.path + "/", body: a.body})
				want := tt.status
				if want == 200 && profile == ProfileCurrent {
					want = 202
				}
				if w.Code != want {
					t.Errorf("%s: status %d want %d (%s)", name, w.Code, want, w.Body)
					continue
				}
				m := decode(t, w)
				if tt.errText != "" {
					if m["error"] != tt.errText {
						t.Errorf("%s: error %v want %q", name, m["error"], tt.errText)
					}
					continue
				}
				assertKeys(t, m, "message", "member_id", "api_id")
				var wantEcho any = tt.classic
				if profile == ProfileCurrent {
					wantEcho = tt.current
				}
				if m["message"] != a.message || !reflect.DeepEqual(m["member_id"], wantEcho) {
					t.Errorf("%s: body %s", name, w.Body)
				}
				if got := fx.conf.lastCall().Sel; !reflect.DeepEqual(got, tt.sel) {
					t.Errorf("%s: selector %+v want %+v", name, got, tt.sel)
				}
			}
		}
		// DELETE member routes: 204 in both profiles, same selector rules.
		for _, sub := range []string{"", "Mute/", "Deaf/", "Play/", "Speak/"} {
			w := fx.do(t, req{method: "DELETE", path: base + "/Conference/MyConf/Member/10,15/" + sub})
			assertNoContent(t, w)
			w = fx.do(t, req{method: "DELETE", path: base + "/Conference/MyConf/Member/x/" + sub})
			if w.Code != 400 {
				t.Errorf("DELETE %s bad selector: %d", sub, w.Code)
			}
			w = fx.do(t, req{method: "DELETE", path: base + "/Conference/MyConf/Member/10,77/" + sub})
			if w.Code != 404 || errorText(t, w) != "member not found: 77" {
				t.Errorf("DELETE %s missing member: %d %s", sub, w.Code, w.Body)
			}
			w = fx.do(t, req{method: "DELETE", path: base + "/Conference/Nope/Member/all/" + sub})
			if w.Code != 404 || errorText(t, w) != "conference not found" {
				t.Errorf("DELETE %s all on missing room: %d %s", sub, w.Code, w.Body)
			}
		}
	}
}

func TestPlaySpeakParameters(t *testing.T) {
	path := base + "/Conference/MyConf/Member/10/"
	tests := []struct {
		name, action, body, ctype string
		status                    int
		text                      string // error text or "" on success
		args                      []string
	}{
		{"play missing url", "Play", "", "", 400, "missing required parameter: url", nil},
		{"play empty json", "Play", "{}", "application/json", 400, "missing required parameter: url", nil},
		{"play null url", "Play", `{"url":null}`, "", 400, "missing required parameter: url", nil},
		{"play relative url", "Play", `{"url":"/a.mp3"}`, "", 400, "invalid value for parameter: url", nil},
		{"play ftp url", "Play", `{"url":"ftp://h/a.mp3"}`, "", 400, "invalid value for parameter: url", nil},
		{"play number url", "Play", `{"url":12}`, "", 400, "invalid value for parameter: url", nil},
		{"play form", "Play", "url=http%3A%2F%2Fh.test%2Fa.mp3", "application/x-www-form-urlencoded", 200, "", []string{"http://h.test/a.mp3"}},
		{"speak missing text", "Speak", `{"voice":"MAN"}`, "", 400, "missing required parameter: text", nil},
		{"speak text before voice", "Speak", `{"voice":"ROBOT"}`, "", 400, "missing required parameter: text", nil},
		{"speak bad voice", "Speak", `{"text":"x","voice":"ROBOT"}`, "", 400, "invalid value for parameter: voice", nil},
		{"speak voice before language", "Speak", `{"text":"x","voice":"ROBOT","language":"xx"}`, "", 400, "invalid value for parameter: voice", nil},
		{"speak bad language", "Speak", `{"text":"x","language":"xx-XX"}`, "", 400, "invalid value for parameter: language", nil},
		{"speak too long", "Speak", `{"text":"` + string(make([]byte, 0)) + longText(1001) + `"}`, "", 400, "invalid value for parameter: text", nil},
		{"speak 1000 chars", "Speak", `{"text":"` + longText(1000) + `"}`, "", 200, "", []string{longText(1000), "WOMAN", "en-US"}},
		{"speak any case", "Speak", `{"text":"hi","voice":"man","language":"EN-gb"}`, "", 200, "", []string{"hi", "MAN", "en-GB"}},
		{"speak query merged, body wins", "Speak?text=query&voice=MAN", `{"text":"body"}`, "", 200, "", []string{"body", "MAN", "en-US"}},
		{"speak unknown ignored", "Speak", `{"text":"hi","foo":[1,2],"bar":{"x":1}}`, "", 200, "", []string{"hi", "WOMAN", "en-US"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: path + tt.action, body: tt.body, ctype: tt.ctype})
			if w.Code != tt.status {
				t.Fatalf("status %d want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q want %q", got, tt.text)
				}
				if c := fx.conf.lastCall(); c.Op != "" {
					t.Fatalf("domain called on a 400: %+v", c)
				}
				return
			}
			if got := fx.conf.lastCall().Args; !reflect.DeepEqual(got, tt.args) {
				t.Errorf("args %q want %q", got, tt.args)
			}
		})
	}
}

func longText(n int) string {
	b := make([]rune, n)
	for i := range b {
		b[i] = 'é'
	}
	return string(b)
}

func TestStartRecording(t *testing.T) {
	path := base + "/Conference/MyConf/Record/"
	tests := []struct {
		name, body string
		status     int
		text       string
		want       RecordParams
		url        string
	}{
		{"defaults", "", 200, "", RecordParams{FileFormat: "mp3", CallbackMethod: "POST"}, ".mp3"},
		{"go client", `{"file_format":"wav","callback_url":"https://cb.test/r","callback_method":"get","time_limit":60,"transcription_type":"auto","transcription_url":"x"}`, 200, "",
			RecordParams{FileFormat: "wav", CallbackURL: "https://cb.test/r", CallbackMethod: "GET", TimeLimit: time.Minute}, ".wav"},
		{"string integer", `{"time_limit":"86400"}`, 200, "", RecordParams{FileFormat: "mp3", CallbackMethod: "POST", TimeLimit: 86400 * time.Second}, ".mp3"},
		{"aliases", `{"recording_callback_url":"http://cb.test/","recording_callback_method":"GET"}`, 200, "", RecordParams{FileFormat: "mp3", CallbackURL: "http://cb.test/", CallbackMethod: "GET"}, ".mp3"},
		{"bad format", `{"file_format":"ogg","time_limit":0}`, 400, "invalid value for parameter: file_format", RecordParams{}, ""},
		{"order: callback_url before time_limit", `{"callback_url":"nope","time_limit":0}`, 400, "invalid value for parameter: callback_url", RecordParams{}, ""},
		{"bad method", `{"callback_method":"PUT"}`, 400, "invalid value for parameter: callback_method", RecordParams{}, ""},
		{"time limit zero", `{"time_limit":0}`, 400, "invalid value for parameter: time_limit", RecordParams{}, ""},
		{"time limit over", `{"time_limit":86401}`, 400, "invalid value for parameter: time_limit", RecordParams{}, ""},
		{"time limit float", `{"time_limit":1.5}`, 400, "invalid value for parameter: time_limit", RecordParams{}, ""},
		{"time limit bool", `{"time_limit":true}`, 400, "invalid value for parameter: time_limit", RecordParams{}, ""},
		{"time limit text", `{"time_limit":"ten"}`, 400, "invalid value for parameter: time_limit", RecordParams{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: path, body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("status %d want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.text != "" {
				if got := errorText(t, w); got != tt.text {
					t.Fatalf("error %q want %q", got, tt.text)
				}
				return
			}
			m := decode(t, w)
			assertKeys(t, m, "api_id", "message", "recording_id", "url")
			got := fx.conf.lastCall().Record
			if got.APIID != m["api_id"] {
				t.Errorf("callback api_id %q, response %q", got.APIID, m["api_id"])
			}
			got.APIID = ""
			if got != tt.want {
				t.Errorf("params %+v want %+v", got, tt.want)
			}
			wantURL := "https://parley.example.com/api/v1/Account/MA_X/Recording/7d9e0a2c-61f4-4b8a-9c3e-5a1b2c3d4e5f" + tt.url
			if m["url"] != wantURL {
				t.Errorf("url %v want %s", m["url"], wantURL)
			}
		})
	}
	fx := newFixture(t, nil)
	fx.do(t, req{method: "POST", path: path})
	w := fx.do(t, req{method: "POST", path: path})
	if w.Code != 409 || errorText(t, w) != "conference recording already in progress" {
		t.Errorf("second start: %d %s", w.Code, w.Body)
	}
	w = fx.do(t, req{method: "POST", path: base + "/Conference/Nope/Record/"})
	if w.Code != 404 || errorText(t, w) != "conference not found" {
		t.Errorf("missing room: %d %s", w.Code, w.Body)
	}
}

func TestDomainErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		text   string
	}{
		{ErrConferenceNotFound, 404, "conference not found"},
		{&MemberNotFoundError{IDs: []int64{3, 1}}, 404, "member not found: 3,1"},
		{ErrRecordingInProgress, 409, "conference recording already in progress"},
		{errBoom, 500, "internal error"},
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		fx.conf.failWith = tt.err
		w := fx.do(t, req{method: "POST", path: base + "/Conference/MyConf/Member/1/Kick"})
		if w.Code != tt.status || errorText(t, w) != tt.text {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
}

// TestUnconfiguredResources: a resource whose interface is nil is not served at all.
func TestUnconfiguredResources(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Conferences = nil; o.Recordings = nil; o.Profile = "bogus" })
	for _, p := range []string{"/Conference/", "/Conference/MyConf/", "/Recording/"} {
		w := fx.do(t, req{method: "GET", path: base + p})
		if w.Code != 404 || errorText(t, w) != "route not found" {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	// An unknown profile falls back to classic.
	fx = newFixture(t, func(o *Options) { o.Profile = "bogus" })
	if w := fx.do(t, req{method: "POST", path: base + "/Conference/MyConf/Member/10/Kick/"}); w.Code != 200 {
		t.Errorf("bogus profile: %d", w.Code)
	}
}
