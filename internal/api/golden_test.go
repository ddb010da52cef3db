package api

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var apiIDPattern = regexp.MustCompile(`"api_id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`)

type goldenCase struct {
	name   string
	method string
	path   string
	body   string
	header http.Header
	noAuth bool
	// noAPIID marks the bodies without api_id (§5.2 endpoint create/get, empty bodies).
	noAPIID bool
	// profileSpecific marks the POST member actions, the only bodies that differ by profile.
	profileSpecific bool
	setup           func(t testing.TB, fx *fixture)
}

func goldenCases() []goldenCase {
	conf := base + "/Conference/MyConf"
	rec := testRecording(1).ID
	return []goldenCase{
		{name: "conference_list", method: "GET", path: base + "/Conference/"},
		{name: "conference_list_empty", method: "GET", path: base + "/Conference/", setup: func(t testing.TB, fx *fixture) { fx.conf.rooms = nil }},
		{name: "conference_get", method: "GET", path: conf + "/"},
		{name: "conference_get_slash_name", method: "GET", path: base + "/Conference/a%2Fb%20c+d/"},
		{name: "conference_hangup_all", method: "DELETE", path: base + "/Conference/"},
		{name: "conference_hangup", method: "DELETE", path: conf + "/"},
		{name: "record_start", method: "POST", path: conf + "/Record/", body: `{"file_format":"mp3","callback_url":"https://cb.test/r"}`},
		{name: "record_start_wav", method: "POST", path: conf + "/Record/", body: `{"file_format":"wav"}`},
		{name: "record_stop", method: "DELETE", path: conf + "/Record/"},
		{name: "member_hangup", method: "DELETE", path: conf + "/Member/10/"},
		{name: "kick_one", method: "POST", path: conf + "/Member/10/Kick/", body: "{}", profileSpecific: true},
		{name: "kick_list", method: "POST", path: conf + "/Member/10,15/Kick/", profileSpecific: true},
		{name: "kick_list_spaces_repeat", method: "POST", path: conf + "/Member/10,%2015,10/Kick/", profileSpecific: true},
		{name: "kick_all", method: "POST", path: conf + "/Member/all/Kick/", profileSpecific: true},
		{name: "mute", method: "POST", path: conf + "/Member/10/Mute/", profileSpecific: true},
		{name: "mute_list", method: "POST", path: conf + "/Member/10,15/Mute/", profileSpecific: true},
		{name: "mute_all", method: "POST", path: conf + "/Member/all/Mute/", profileSpecific: true},
		{name: "unmute", method: "DELETE", path: conf + "/Member/10/Mute/"},
		{name: "deaf", method: "POST", path: conf + "/Member/10/Deaf/", profileSpecific: true},
		{name: "deaf_list", method: "POST", path: conf + "/Member/10,15/Deaf/", profileSpecific: true},
		{name: "deaf_all", method: "POST", path: conf + "/Member/all/Deaf/", profileSpecific: true},
		{name: "undeaf", method: "DELETE", path: conf + "/Member/10/Deaf/"},
		{name: "play", method: "POST", path: conf + "/Member/10/Play/", body: `{"url":"https://ex.test/a.mp3"}`, profileSpecific: true},
		{name: "play_list", method: "POST", path: conf + "/Member/10,15/Play/", body: `{"url":"https://ex.test/a.mp3"}`, profileSpecific: true},
		{name: "play_all", method: "POST", path: conf + "/Member/all/Play/", body: `{"url":"https://ex.test/a.mp3"}`, profileSpecific: true},
		{name: "play_stop", method: "DELETE", path: conf + "/Member/10/Play/"},
		{name: "speak", method: "POST", path: conf + "/Member/10/Speak/", body: `{"text":"hello","voice":"MAN","language":"en-GB"}`, profileSpecific: true},
		{name: "speak_list", method: "POST", path: conf + "/Member/10,15/Speak/", body: `{"text":"hello"}`, profileSpecific: true},
		{name: "speak_all", method: "POST", path: conf + "/Member/all/Speak/", body: `{"text":"hello"}`, profileSpecific: true},
		{name: "speak_stop", method: "DELETE", path: conf + "/Member/10/Speak/"},
		{name: "recording_list", method: "GET", path: base + "/Recording/?limit=2&offset=1"},
		{name: "recording_get", method: "GET", path: base + "/Recording/" + rec + "/"},
		{name: "recording_get_call", method: "GET", path: base + "/Recording/" + testRecording(4).ID + "/"},
		{name: "recording_delete", method: "DELETE", path: base + "/Recording/" + rec + "/"},
		{name: "err_route_not_found", method: "GET", path: base + "/Conference/MyConf/Play/"},
		{name: "err_method_not_allowed", method: "PUT", path: conf + "/Member/10/Mute/"},
		{name: "err_auth_failed", method: "GET", path: base + "/Conference/", noAuth: true},
		{name: "err_auth_id_mismatch", method: "GET", path: "/api/v1/Account/MA_OTHER/Conference/"},
		{name: "err_rate_limited", method: "GET", path: base + "/Conference/", setup: func(t testing.TB, fx *fixture) {
			fx.h = New(Options{Accounts: fakeAccounts{testAccount: testToken}, Conferences: fx.conf, RESTRate: 0.25, RESTBurst: 1, Clock: func() time.Time { return testNow }, Logger: discardLogger()})
			fx.do(t, req{method: "GET", path: base + "/Conference/"})
		}},
		{name: "err_too_large", method: "POST", path: conf + "/Member/10/Play/", body: `{"url":"https://ex.test/` + string(bytes.Repeat([]byte("a"), DefaultMaxBodyBytes)) + `"}`},
		{name: "err_malformed", method: "POST", path: conf + "/Member/10/Kick/", body: `{"a":`},
		{name: "err_missing_param", method: "POST", path: conf + "/Member/10/Play/"},
		{name: "err_invalid_param", method: "POST", path: conf + "/Record/", body: `{"time_limit":"0"}`},
		{name: "err_invalid_member_id", method: "POST", path: conf + "/Member/ALL/Kick/"},
		{name: "err_conference_not_found", method: "POST", path: base + "/Conference/Nope/Member/all/Kick/"},
		{name: "err_member_not_found", method: "POST", path: conf + "/Member/10,99,15,98/Mute/"},
		{name: "err_recording_in_progress", method: "POST", path: conf + "/Record/", setup: func(t testing.TB, fx *fixture) { fx.conf.recording["MA_X/MyConf"] = true }},
		{name: "err_recording_not_found", method: "GET", path: base + "/Recording/nope/"},
		{name: "err_internal", method: "GET", path: base + "/Conference/", setup: func(t testing.TB, fx *fixture) { fx.conf.failWith = fmt.Errorf("db: %w", errBoom) }},

		{name: "call_make", method: "POST", path: base + "/Call/", body: `{"from":"+14155550100","to":"sip:bob@pbx.example.com","answer_url":"https://example.com/answer","answer_method":"GET"}`},
		{name: "call_list", method: "GET", path: base + "/Call/?status=live"},
		{name: "call_list_filtered", method: "GET", path: base + "/Call/?status=live&call_direction=inbound&from_number=%2B14155550100"},
		{name: "call_list_queued", method: "GET", path: base + "/Call/?status=queued"},
		{name: "call_get", method: "GET", path: base + "/Call/" + testCallIn + "/?status=live"},
		{name: "call_get_ringing", method: "GET", path: base + "/Call/" + testCallOut + "/?status=Live"},
		{name: "call_hangup", method: "DELETE", path: base + "/Call/" + testCallIn + "/"},
		{name: "request_cancel", method: "DELETE", path: base + "/Request/" + testCallOut + "/"},
		{name: "call_transfer", method: "POST", path: base + "/Call/" + testCallIn + "/", body: `{"legs":"both","aleg_url":"https://example.com/a","bleg_url":"https://example.com/b"}`},
		{name: "err_call_not_found", method: "GET", path: base + "/Call/nope/"},
		{name: "cdr_list", method: "GET", path: base + "/Call/"},
		{name: "cdr_list_paged", method: "GET", path: base + "/Call/?call_direction=outbound&limit=1&subaccount=SA_1&offset=1&end_time__gte=2026-10-28"},
		{name: "cdr_list_status", method: "GET", path: base + "/Call/?status=no-answer&parent_call_uuid=" + testCDRDone},
		{name: "cdr_list_empty", method: "GET", path: base + "/Call/?status=cancelled"},
		{name: "cdr_get", method: "GET", path: base + "/Call/" + testCDRDone + "/"},
		{name: "cdr_get_b_leg", method: "GET", path: base + "/Call/" + testCDRBLeg + "/"},
		{name: "cdr_get_conference", method: "GET", path: "/v1/Account/MA_X/call/" + testCDRInConf},
		{name: "cdr_get_live", method: "GET", path: base + "/Call/" + testCallIn + "/"},
		{name: "cdr_get_ringing", method: "GET", path: base + "/Call/" + testCallOut + "/"},
		{name: "err_cdr_status", method: "GET", path: base + "/Call/?status=ended"},
		{name: "err_cdr_filter", method: "GET", path: base + "/Call/?bill_duration__gt=-1"},
		{name: "err_cdr_other_account", method: "GET", path: base + "/Call/c0000000-0000-4000-8000-0000000000bb/"},
		{name: "err_call_not_answered", method: "POST", path: base + "/Call/" + testCallOut + "/", body: `{"aleg_url":"https://example.com/a"}`},
		{name: "err_call_not_bridged", method: "POST", path: base + "/Call/" + testCallOut + "/", body: `{"legs":"bleg","bleg_url":"https://example.com/b"}`,
			setup: func(t testing.TB, fx *fixture) { fx.calls.legs[testAccount][1].Answered = true }},
		{name: "err_call_bulk", method: "POST", path: base + "/Call/", body: `{"from":"1","to":"14155550100<14155550101","answer_url":"https://example.com/answer"}`},
		{name: "err_call_rate_limited", method: "POST", path: base + "/Call/", body: `{}`, setup: func(t testing.TB, fx *fixture) {
			fx.h = New(Options{Accounts: fakeAccounts{testAccount: testToken}, Calls: fx.calls, CallsPerSecond: 0.5, Clock: func() time.Time { return testNow }, Logger: discardLogger()})
			fx.do(t, req{method: "POST", path: base + "/Call/", body: `{"from":"1","to":"sip:a@b","answer_url":"https://example.com/answer"}`})
		}},
		{name: "err_concurrent_limit", method: "POST", path: base + "/Call/", body: `{}`, setup: func(t testing.TB, fx *fixture) {
			fx.h = New(Options{Accounts: fakeAccounts{testAccount: testToken}, Calls: fx.calls, MaxConcurrentCalls: 2, Logger: discardLogger()})
		}},
		{name: "err_draining", method: "POST", path: base + "/Call/", body: `{"from":"1","to":"sip:a@b","answer_url":"https://example.com/answer"}`,
			setup: func(t testing.TB, fx *fixture) { fx.calls.makeErr = ErrDraining }},

		{name: "stream_start", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/", body: `{"service_url":"wss://agent.example.com/ws?x=1&y=2","bidirectional":"true","audio_track":"inbound","content_type":"audio/x-l16;rate=16000","stream_timeout":120,"status_callback_url":"https://app.example.com/s","status_callback_method":"GET","extra_headers":"session_id:abc123"}`},
		{name: "stream_start_sdk", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/", body: `{"service_url":"wss://agent.example.com/sdk","bidirectional":true,"audio_track":"both","audio_format":"mulaw"}`},
		{name: "stream_list", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/"},
		{name: "stream_list_paged", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/?limit=1&offset=1"},
		{name: "stream_list_empty", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/", setup: func(t testing.TB, fx *fixture) { fx.streams.streams = map[string][]StreamInfo{} }},
		{name: "stream_get", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/" + testStreamLive + "/"},
		{name: "stream_get_ended", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/" + testStreamEnded + "/"},
		{name: "stream_stop", method: "DELETE", path: base + "/Call/" + testCallIn + "/Stream/" + testStreamLive + "/"},
		{name: "stream_stop_all", method: "DELETE", path: base + "/Call/" + testCallIn + "/Stream/"},
		{name: "member_stream_start", method: "POST", path: conf + "/Member/17/Stream/", body: `{"service_url":"wss://agent.example.com/member","audio_track":"outbound"}`},
		{name: "err_stream_not_found", method: "GET", path: base + "/Call/" + testCallIn + "/Stream/nope/"},
		{name: "err_stream_stopped", method: "DELETE", path: base + "/Call/" + testCallIn + "/Stream/" + testStreamEnded + "/"},
		{name: "err_stream_call_not_found", method: "POST", path: base + "/Call/nope/Stream/", body: `{"service_url":"wss://agent.example.com/ws"}`},
		{name: "err_stream_call_not_answered", method: "POST", path: base + "/Call/" + testCallOut + "/Stream/", body: `{"service_url":"wss://agent.example.com/ws"}`},
		{name: "err_stream_missing_url", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/", body: `{"bidirectional":"true"}`},
		{name: "err_stream_bad_url", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/", body: `{"service_url":"https://agent.example.com/ws"}`},
		{name: "err_stream_url_in_use", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/", body: `{"service_url":"wss://bot.example.com/media"}`},
		{name: "err_stream_method_not_allowed", method: "POST", path: base + "/Call/" + testCallIn + "/Stream/" + testStreamLive + "/"},

		{name: "call_play", method: "POST", path: base + "/Call/" + testCallIn + "/Play/", body: `{"urls":["https://ex.test/a.mp3","https://ex.test/b.wav"],"length":"10","legs":"both","loop":true,"mix":false}`},
		{name: "call_play_stop", method: "DELETE", path: base + "/Call/" + testCallIn + "/Play/"},
		{name: "call_speak", method: "POST", path: base + "/Call/" + testCallIn + "/Speak/", body: `{"text":"Please hold","voice":"MAN","language":"hi-IN","legs":"bleg"}`},
		{name: "call_speak_stop", method: "DELETE", path: base + "/Call/" + testCallIn + "/Speak/"},
		{name: "call_dtmf", method: "POST", path: base + "/Call/" + testCallIn + "/DTMF/", body: `{"digits":"12w3#","leg":"aleg"}`},
		{name: "call_record_start", method: "POST", path: base + "/Call/" + testCallIn + "/Record/", body: `{"time_limit":30,"file_format":"mp3","callback_url":"https://app.example.com/rec","record_channel_type":"stereo","transcription_type":"auto"}`},
		{name: "call_record_stop", method: "DELETE", path: base + "/Call/" + testCallIn + "/Record/", body: `{"URL":"https://parley.example.com/api/v1/Account/MA_X/Recording/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d.mp3"}`},
		{name: "err_call_play_missing_urls", method: "POST", path: base + "/Call/" + testCallIn + "/Play/", body: `{"legs":"aleg"}`},
		{name: "err_call_play_bad_urls", method: "POST", path: base + "/Call/" + testCallIn + "/Play/", body: `{"urls":"https://ex.test/a.mp3,ftp://ex.test/b.mp3"}`},
		{name: "err_call_speak_language", method: "POST", path: base + "/Call/" + testCallIn + "/Speak/", body: `{"text":"hi","language":"xx-XX"}`},
		{name: "err_call_media_not_found", method: "POST", path: base + "/Call/nope/Speak/", body: `{"text":"hi"}`},
		{name: "err_call_media_not_answered", method: "POST", path: base + "/Call/" + testCallOut + "/Play/", body: `{"urls":"https://ex.test/a.mp3"}`},
		{name: "err_call_media_not_bridged", method: "POST", path: base + "/Call/" + testCallOut + "/Play/", body: `{"urls":"https://ex.test/a.mp3","legs":"bleg"}`,
			setup: func(t testing.TB, fx *fixture) { fx.calls.legs[testAccount][1].Answered = true }},
		{name: "err_call_dtmf_not_bridged", method: "POST", path: base + "/Call/" + testCallOut + "/DTMF/", body: `{"digits":"1","legs":"bleg"}`,
			setup: func(t testing.TB, fx *fixture) { fx.calls.legs[testAccount][1].Answered = true }},
		{name: "err_call_dtmf_bad_digits", method: "POST", path: base + "/Call/" + testCallIn + "/DTMF/", body: `{"digits":"12x"}`},
		{name: "err_call_dtmf_method_not_allowed", method: "DELETE", path: base + "/Call/" + testCallIn + "/DTMF/"},
		{name: "err_call_record_limit", method: "POST", path: base + "/Call/" + testCallIn + "/Record/", body: `{}`,
			setup: func(t testing.TB, fx *fixture) { fx.media.limit = true }},

		{name: "app_create", method: "POST", path: base + "/Application/", body: `{"app_name":"Support Line","answer_url":"https://example.com/answer","answer_method":"GET"}`},
		{name: "app_list", method: "GET", path: base + "/Application/?limit=1&offset=1"},
		{name: "app_get", method: "GET", path: base + "/Application/" + testAppID + "/"},
		{name: "app_get_disabled", method: "GET", path: base + "/Application/" + testApp2ID + "/"},
		{name: "app_update", method: "POST", path: base + "/Application/" + testAppID + "/", body: `{"app_name":"Renamed","default_number_app":true}`},
		{name: "app_delete", method: "DELETE", path: base + "/Application/" + testAppID + "/", body: `{"cascade":true}`},
		{name: "err_app_not_found", method: "GET", path: base + "/Application/999999999999999/"},
		{name: "err_app_in_use", method: "DELETE", path: base + "/Application/" + testApp2ID + "/"},

		{name: "endpoint_create", method: "POST", path: base + "/Endpoint/", body: `{"username":"alice","password":"s3cret-pass","alias":"Alice","application":193962768711692}`, noAPIID: true},
		{name: "endpoint_list", method: "GET", path: base + "/Endpoint/?username__contains=o"},
		{name: "endpoint_get", method: "GET", path: base + "/Endpoint/" + testEpID + "/", noAPIID: true},
		{name: "endpoint_get_unattached", method: "GET", path: base + "/Endpoint/" + testEp2ID + "/", noAPIID: true},
		{name: "endpoint_update", method: "POST", path: base + "/Endpoint/" + testEpID + "/", body: `{"alias":"Desk","password":"new-password","app_id":""}`, noAPIID: true},
		{name: "endpoint_delete", method: "DELETE", path: base + "/Endpoint/" + testEpID + "/"},
		{name: "err_username_exists", method: "POST", path: base + "/Endpoint/", body: `{"username":"frontdesk","password":"12345678"}`},
		{name: "err_endpoint_not_found", method: "GET", path: base + "/Endpoint/999999999999999/"},
		{name: "err_unknown_application", method: "POST", path: base + "/Endpoint/", body: `{"username":"zed","password":"12345678","application":"999999999999999"}`},
	}
}

// render is the golden form of one exchange; the random api_id becomes a placeholder.
func render(c goldenCase, status int, h http.Header, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", c.method, c.path)
	if len(c.body) < 200 && c.body != "" {
		fmt.Fprintf(&b, "> %s\n", c.body)
	}
	fmt.Fprintf(&b, "< %d\n", status)
	for _, k := range []string{"Content-Type", "Allow", "Retry-After", "WWW-Authenticate"} {
		if v := h.Get(k); v != "" {
			fmt.Fprintf(&b, "< %s: %s\n", k, v)
		}
	}
	b.Write(apiIDPattern.ReplaceAll(body, []byte(`"api_id":"<api_id>"`)))
	b.WriteByte('\n')
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	outputs := map[Profile]map[string][]byte{}
	for _, profile := range []Profile{ProfileClassic, ProfileCurrent} {
		outputs[profile] = map[string][]byte{}
		for _, c := range goldenCases() {
			t.Run(string(profile)+"/"+c.name, func(t *testing.T) {
				fx := newFixture(t, func(o *Options) { o.Profile = profile })
				if c.setup != nil {
					c.setup(t, fx)
				}
				w := fx.do(t, req{method: c.method, path: c.path, body: c.body, header: c.header, noAuth: c.noAuth})
				if w.Code != http.StatusNoContent && !c.noAPIID {
					decode(t, w) // every body carries a fresh v4 api_id
				}
				got := render(c, w.Code, w.Header(), w.Body.Bytes())
				outputs[profile][c.name] = got
				file := filepath.Join("testdata", "golden", string(profile), c.name+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs:\n got: %s\nwant: %s", file, got, want)
				}
			})
		}
	}
	// Only the POST member actions differ between the profiles (§1.5).
	for _, c := range goldenCases() {
		same := bytes.Equal(outputs[ProfileClassic][c.name], outputs[ProfileCurrent][c.name])
		if same == c.profileSpecific {
			t.Errorf("%s: identical in both profiles = %v, want %v", c.name, same, !c.profileSpecific)
		}
	}
}
