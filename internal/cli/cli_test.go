package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI answers canned bodies by "METHOD escaped-path" and records what it was sent.
type fakeAPI struct {
	mu      sync.Mutex
	answers map[string]answer
	got     []sent
}

type answer struct {
	status int
	body   string
}

type sent struct {
	method, path, query, user, pass, contentType string
	body                                         map[string]any
}

func newFakeAPI(t *testing.T, answers map[string]answer) (*fakeAPI, string) {
	f := &fakeAPI{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		s := sent{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, user: user, pass: pass,
			contentType: r.Header.Get("Content-Type")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &s.body); err != nil {
				t.Errorf("request body %q is not a JSON object: %v", b, err)
			}
		}
		f.mu.Lock()
		f.got = append(f.got, s)
		f.mu.Unlock()
		a, ok := f.answers[r.Method+" "+s.path]
		if !ok {
			a = answer{404, `{"api_id":"x","error":"route not found"}`}
		}
		if a.body != "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAPI) last(t *testing.T) sent {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		t.Fatal("no request sent")
	}
	return f.got[len(f.got)-1]
}

func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

const acct = "/api/v1/Account/MA_T"

func TestCommands(t *testing.T) {
	confBody := `{"conference_name":"a/b c","conference_run_time":"12","conference_member_count":"1","members":[{"muted":true,"member_id":"10","deaf":false,"from":"14155550100","to":"sip:x@y","caller_name":"","direction":"inbound","call_uuid":"c-10","join_time":"7"}],"api_id":"x"}`
	appList := `{"api_id":"x","meta":{"limit":1,"next":"/n","offset":1,"previous":"/p","total_count":3},"objects":[{"app_id":"271828182845904","app_name":"sales","answer_url":"https://ex.test/a","enabled":false,"default_app":true,"sip_uri":"sip:271828182845904@d","fallback_answer_url":null}]}`
	answers := map[string]answer{
		"GET " + acct + "/Conference/":                         {200, `{"api_id":"x","conferences":["r1","a/b c"]}`},
		"GET " + acct + "/Conference/a%2Fb%20c/":               {200, confBody},
		"POST " + acct + "/Conference/r1/Member/10%2C15/Kick/": {200, `{"message":"kicked","member_id":"10,15","api_id":"x"}`},
		"POST " + acct + "/Conference/r1/Member/all/Mute/":     {202, `{"message":"muted","member_id":["all"],"api_id":"x"}`},
		"DELETE " + acct + "/Conference/r1/Member/10/Mute/":    {204, ""},
		"DELETE " + acct + "/Conference/r1/":                   {204, ""},
		"DELETE " + acct + "/Conference/":                      {204, ""},
		"POST " + acct + "/Conference/r1/Member/10/Speak/":     {200, `{"message":"speak queued into conference","member_id":"10","api_id":"x"}`},
		"POST " + acct + "/Conference/r1/Record/":              {200, `{"api_id":"x","message":"conference recording started","recording_id":"rec-1","url":"http://h/r.wav"}`},
		"GET " + acct + "/Call/":                               {200, `{"api_id":"x","calls":["c-1","c-2"]}`},
		"GET " + acct + "/Call/c-1/":                           {200, `{"api_id":"x","call_status":"in-progress","call_uuid":"c-1","caller_name":"","direction":"inbound"}`},
		"POST " + acct + "/Call/":                              {201, `{"api_id":"x","message":"call fired","request_uuid":"c-9"}`},
		"GET " + acct + "/Application/":                        {200, appList},
		"POST " + acct + "/Application/271828182845904/":       {202, `{"api_id":"x","message":"changed"}`},
		"POST " + acct + "/Endpoint/500/":                      {202, ""},
		"GET " + acct + "/Recording/missing/":                  {404, `{"api_id":"x","error":"recording not found"}`},
		"GET " + acct + "/Endpoint/500/":                       {200, `{"alias":"Desk","application":"","endpoint_id":"500","sip_registered":"false","sub_account":null,"username":"desk"}`},
		"POST " + acct + "/Conference/r1/Member/10/Play/":      {500, `not json`},
	}
	f, url := newFakeAPI(t, answers)
	env := map[string]string{"PARLEY_URL": url, "PARLEY_AUTH_ID": "MA_T", "PARLEY_AUTH_TOKEN": "tok"}

	cases := []struct {
		name     string
		args     []string
		code     int
		method   string
		path     string
		query    string
		body     map[string]any
		wantOut  []string // lines (trimmed of trailing spaces) expected in stdout, in order
		wantErr  string
		exactOut string
	}{
		{name: "conf list", args: []string{"conf", "list"}, method: "GET", path: acct + "/Conference/",
			wantOut: []string{"CONFERENCE", "r1", "a/b c"}},
		{name: "conf list json", args: []string{"conf", "list", "--json"}, method: "GET", path: acct + "/Conference/",
			exactOut: `{"api_id":"x","conferences":["r1","a/b c"]}` + "\n"},
		{name: "conf get escapes the room", args: []string{"conf", "get", "a/b c"}, method: "GET", path: acct + "/Conference/a%2Fb%20c/",
			wantOut: []string{"conference a/b c: 1 members, running 12s",
				"MEMBER  FROM         TO       DIRECTION  MUTED  DEAF  JOINED  CALL UUID",
				"10      14155550100  sip:x@y  inbound    yes    no    7s      c-10"}},
		{name: "conf kick classic", args: []string{"conf", "kick", "r1", "10,15"}, method: "POST", path: acct + "/Conference/r1/Member/10%2C15/Kick/",
			body: map[string]any{}, wantOut: []string{"kicked: 10,15"}},
		{name: "conf mute current", args: []string{"conf", "mute", "r1", "all"}, method: "POST", path: acct + "/Conference/r1/Member/all/Mute/",
			body: map[string]any{}, wantOut: []string{"muted: all"}},
		{name: "conf unmute", args: []string{"conf", "unmute", "r1", "10"}, method: "DELETE", path: acct + "/Conference/r1/Member/10/Mute/",
			wantOut: []string{"unmuted: 10"}},
		{name: "conf unmute json prints nothing", args: []string{"conf", "unmute", "r1", "10", "--json"}, method: "DELETE",
			path: acct + "/Conference/r1/Member/10/Mute/", exactOut: ""},
		{name: "conf hangup room", args: []string{"conf", "hangup", "r1"}, method: "DELETE", path: acct + "/Conference/r1/",
			wantOut: []string{"hung up conference r1"}},
		{name: "conf hangup all", args: []string{"conf", "hangup", "--all"}, method: "DELETE", path: acct + "/Conference/",
			wantOut: []string{"hung up every conference"}},
		{name: "conf speak", args: []string{"conf", "speak", "r1", "10", "hello there", "--voice", "MAN"}, method: "POST",
			path: acct + "/Conference/r1/Member/10/Speak/", body: map[string]any{"text": "hello there", "voice": "MAN"},
			wantOut: []string{"speak queued into conference: 10"}},
		{name: "conf record", args: []string{"conf", "record", "r1", "--format", "wav", "--time-limit", "60"}, method: "POST",
			path: acct + "/Conference/r1/Record/", body: map[string]any{"file_format": "wav", "time_limit": float64(60)},
			wantOut: []string{"conference recording started  recording_id=rec-1  url=http://h/r.wav"}},
		{name: "call list filters", args: []string{"call", "list", "--direction", "inbound"}, method: "GET", path: acct + "/Call/",
			query: "call_direction=inbound&status=live", wantOut: []string{"CALL UUID", "c-1", "c-2"}},
		{name: "call get", args: []string{"call", "get", "c-1"}, method: "GET", path: acct + "/Call/c-1/", query: "status=live",
			wantOut: []string{"FIELD        VALUE", "call_status  in-progress", "call_uuid    c-1", "caller_name  -", "direction    inbound"}},
		{name: "call make", args: []string{"call", "make", "--from", "+1415", "--to", "sip:a@b", "--answer-url", "http://x/a", "--ring-timeout", "5"},
			method: "POST", path: acct + "/Call/", body: map[string]any{"from": "+1415", "to": "sip:a@b", "answer_url": "http://x/a", "ring_timeout": float64(5)},
			wantOut: []string{"call fired  request_uuid=c-9"}},
		{name: "app list pages", args: []string{"app", "list", "--limit", "1", "--offset", "1"}, method: "GET", path: acct + "/Application/",
			query: "limit=1&offset=1", wantOut: []string{
				"APP ID           NAME   ANSWER URL         ENABLED  DEFAULT  SIP URI",
				"271828182845904  sales  https://ex.test/a  false    true     sip:271828182845904@d",
				"(2-2 of 3; see --limit and --offset)"}},
		{name: "app update sends only given flags", args: []string{"app", "update", "271828182845904", "--enabled=false", "--name", "N"},
			method: "POST", path: acct + "/Application/271828182845904/", body: map[string]any{"enabled": false, "app_name": "N"},
			wantOut: []string{"changed"}},
		{name: "endpoint update empty answer", args: []string{"endpoint", "update", "500", "--alias", "Desk", "--app", ""},
			method: "POST", path: acct + "/Endpoint/500/", body: map[string]any{"alias": "Desk", "application": ""},
			wantOut: []string{"changed endpoint 500"}},
		{name: "endpoint get", args: []string{"endpoint", "get", "500"}, method: "GET", path: acct + "/Endpoint/500/",
			wantOut: []string{"alias           Desk", "application     -", "endpoint_id     500", "sip_registered  false", "sub_account     -", "username        desk"}},
		{name: "server error text", args: []string{"recording", "get", "missing"}, code: 1, method: "GET", path: acct + "/Recording/missing/",
			wantErr: "parley: 404 recording not found\n"},
		{name: "server error json mode", args: []string{"recording", "get", "missing", "--json"}, code: 1, method: "GET", path: acct + "/Recording/missing/",
			wantErr: "parley: 404 recording not found\n"},
		{name: "non-JSON error", args: []string{"conf", "play", "r1", "10", "https://ex.test/a.mp3"}, code: 1, method: "POST",
			path: acct + "/Conference/r1/Member/10/Play/", body: map[string]any{"url": "https://ex.test/a.mp3"}, wantErr: "parley: 500 not json\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, env, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, c.code, errOut)
			}
			s := f.last(t)
			if s.method != c.method || s.path != c.path || s.query != c.query {
				t.Errorf("sent %s %s?%s, want %s %s?%s", s.method, s.path, s.query, c.method, c.path, c.query)
			}
			if s.user != "MA_T" || s.pass != "tok" {
				t.Errorf("credentials %q/%q", s.user, s.pass)
			}
			if c.body != nil {
				if s.contentType != "application/json" || !jsonEqual(s.body, c.body) {
					t.Errorf("body %v (%s), want %v", s.body, s.contentType, c.body)
				}
			} else if s.body != nil {
				t.Errorf("unexpected body %v", s.body)
			}
			if c.wantErr != "" && errOut != c.wantErr {
				t.Errorf("stderr %q, want %q", errOut, c.wantErr)
			}
			if c.code != 0 && out != "" {
				t.Errorf("stdout on failure: %q", out)
			}
			if c.wantOut == nil && c.wantErr == "" && out != c.exactOut {
				t.Errorf("stdout %q, want %q", out, c.exactOut)
			}
			lines := strings.Split(out, "\n")
			i := 0
			for _, want := range c.wantOut {
				for i < len(lines) && strings.TrimRight(lines[i], " ") != want {
					i++
				}
				if i == len(lines) {
					t.Errorf("stdout lacks %q (in order):\n%s", want, out)
					break
				}
			}
		})
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	f, url := newFakeAPI(t, map[string]answer{"GET /api/v1/Account/MA_F/Call/": {200, `{"api_id":"x","calls":[]}`}})
	env := map[string]string{"PARLEY_URL": "http://127.0.0.1:1", "PARLEY_AUTH_ID": "MA_E", "PARLEY_AUTH_TOKEN": "env"}
	code, out, errOut := run(t, env, "call", "list", "--url", url, "--auth-id", "MA_F", "--auth-token", "flag")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if s := f.last(t); s.user != "MA_F" || s.pass != "flag" {
		t.Errorf("credentials %q/%q, want the flags'", s.user, s.pass)
	}
	if strings.TrimSpace(out) != "CALL UUID" {
		t.Errorf("empty list printed %q", out)
	}
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{"PARLEY_AUTH_ID": "a", "PARLEY_AUTH_TOKEN": "b", "PARLEY_URL": "http://127.0.0.1:1"}
	for _, args := range [][]string{
		{"conf", "get"},
		{"conf", "kick", "r1"},
		{"conf", "hangup", "r1", "--all"},
		{"conf", "play", "--stop", "r1", "1", "url"},
		{"call", "make", "--from", "1"},
		{"app", "create", "--name", "x"},
		{"recording", "list", "--nope"},
	} {
		if code, _, errOut := run(t, env, args...); code != ExitUsage || !strings.HasPrefix(errOut, "parley: ") {
			t.Errorf("%v: exit %d, stderr %q; want %d", args, code, errOut, ExitUsage)
		}
	}
	if code, _, errOut := run(t, map[string]string{}, "conf", "list"); code != ExitUsage || !strings.Contains(errOut, "no credentials") {
		t.Errorf("no credentials: exit %d, %q", code, errOut)
	}
	// No server: the request fails (1), not the usage.
	if code, _, _ := run(t, env, "conf", "list"); code != ExitFailed {
		t.Errorf("unreachable server: exit %d, want %d", code, ExitFailed)
	}
}

// TestIsCommand: main hands exactly the commands of the root to Run.
func TestIsCommand(t *testing.T) {
	cmds := newRoot(&state{}).Commands()
	if len(cmds) != 5 {
		t.Errorf("root has %d commands, want 5", len(cmds))
	}
	for _, c := range cmds {
		if !IsCommand(c.Name()) {
			t.Errorf("IsCommand(%q) = false", c.Name())
		}
	}
	for _, name := range []string{"serve", "version", "help", "completion", ""} {
		if IsCommand(name) {
			t.Errorf("IsCommand(%q) = true", name)
		}
	}
}
