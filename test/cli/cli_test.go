package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

const room = "Ops Room"

// conference is the document of every inbound test call: one room, then the end of the call.
const conference = `<Response><Conference beep="false" stayAlone="true">` + room + `</Conference></Response>`

// has fails the test unless out contains every want.
func has(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// memberIDs returns the room's member id and call_uuid by caller number (no '+').
func memberIDs(t *testing.T, s *server, n int) (ids, uuids map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.cli(t, "conf", "get", room, "--json")
		ids, uuids = map[string]string{}, map[string]string{}
		if r.code == 0 {
			m := decode(t, r.stdout)
			members, _ := m["members"].([]any)
			for _, x := range members {
				mm := x.(map[string]any)
				ids[mm["from"].(string)] = mm["member_id"].(string)
				uuids[mm["from"].(string)] = mm["call_uuid"].(string)
			}
		}
		if len(ids) == n {
			return ids, uuids
		}
		if time.Now().After(deadline) {
			t.Fatalf("room has %d members, want %d (exit %d %s)", len(ids), n, r.code, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConferenceAndCallCommands runs every conf, call and recording subcommand in both output
// modes against live calls.
func TestConferenceAndCallCommands(t *testing.T) {
	app := newApp(t)
	s := startServer(t, app)

	// conf list and get: a room of three callers.
	a, b, c := dial(t, s, "+14155550101"), dial(t, s, "+14155550102"), dial(t, s, "+14155550103")
	ids, uuids := memberIDs(t, s, 3)
	has(t, "conf list", s.ok(t, "conf", "list"), "CONFERENCE\n", room+"\n")
	if got := s.okJSON(t, "conf", "list")["conferences"]; len(got.([]any)) != 1 || got.([]any)[0] != room {
		t.Errorf("conf list --json: conferences %v", got)
	}
	out := s.ok(t, "conf", "get", room)
	has(t, "conf get", out, "conference "+room+": 3 members", "MEMBER", "CALL UUID", ids["14155550101"], uuids["14155550102"], "14155550103")

	// Member flags, table then JSON, checked in the room's state.
	ma, mb := ids["14155550101"], ids["14155550102"]
	has(t, "conf mute", s.ok(t, "conf", "mute", room, ma), "muted: "+ma)
	if m := s.okJSON(t, "conf", "mute", room, mb); m["message"] != "muted" || m["member_id"] != mb {
		t.Errorf("conf mute --json: %v", m)
	}
	has(t, "conf deaf", s.ok(t, "conf", "deaf", room, ma+","+mb), "deaf: "+ma+","+mb)
	if m := s.okJSON(t, "conf", "deaf", room, "all"); m["message"] != "deaf" || m["member_id"] != "all" {
		t.Errorf("conf deaf --json: %v", m)
	}
	out = s.ok(t, "conf", "get", room)
	for _, id := range []string{ma, mb} {
		if !lineHas(out, id+" ", "yes    yes") {
			t.Errorf("member %s not shown muted and deaf:\n%s", id, out)
		}
	}
	has(t, "conf unmute", s.ok(t, "conf", "unmute", room, ma), "unmuted: "+ma)
	s.okEmpty(t, "conf", "unmute", room, mb)
	has(t, "conf undeaf", s.ok(t, "conf", "undeaf", room, ma), "undeafened: "+ma)
	s.okEmpty(t, "conf", "undeaf", room, "all")
	room2 := s.okJSON(t, "conf", "get", room)
	for _, x := range room2["members"].([]any) {
		if m := x.(map[string]any); m["muted"] != false || m["deaf"] != false {
			t.Errorf("after unmute/undeaf: %v", m)
		}
	}

	// Play and Speak, and their stops.
	has(t, "conf play", s.ok(t, "conf", "play", room, ma, app.URL("/tone.wav")), "play queued into conference: "+ma)
	if m := s.okJSON(t, "conf", "play", room, "all", app.URL("/tone.wav")); m["message"] != "play queued into conference" {
		t.Errorf("conf play --json: %v", m)
	}
	has(t, "conf play --stop", s.ok(t, "conf", "play", "--stop", room, ma), "play stopped: "+ma)
	s.okEmpty(t, "conf", "play", "--stop", room, "all")
	has(t, "conf speak", s.ok(t, "conf", "speak", room, mb, "Hello there", "--voice", "MAN", "--language", "en-GB"), "speak queued into conference: "+mb)
	if m := s.okJSON(t, "conf", "speak", room, mb, "Hello again"); m["message"] != "speak queued into conference" {
		t.Errorf("conf speak --json: %v", m)
	}
	has(t, "conf speak --stop", s.ok(t, "conf", "speak", "--stop", room, mb), "speak stopped: "+mb)
	s.okEmpty(t, "conf", "speak", "--stop", room, mb)

	// Record twice (table, then JSON), then the recording commands.
	out = s.ok(t, "conf", "record", room)
	has(t, "conf record", out, "conference recording started", "recording_id=")
	rec1 := strings.Fields(strings.SplitAfter(out, "recording_id=")[1])[0]
	time.Sleep(300 * time.Millisecond)
	has(t, "conf record --stop", s.ok(t, "conf", "record", "--stop", room), "recording stopped: "+room)
	m := s.okJSON(t, "conf", "record", room, "--format", "wav")
	rec2, _ := m["recording_id"].(string)
	if rec2 == "" || !strings.HasSuffix(m["url"].(string), ".wav") {
		t.Fatalf("conf record --json: %v", m)
	}
	time.Sleep(300 * time.Millisecond)
	s.okEmpty(t, "conf", "record", "--stop", room)
	out = s.ok(t, "recording", "list")
	has(t, "recording list", out, "RECORDING ID", rec1, rec2, "conference", "wav", "mp3")
	if m := s.okJSON(t, "recording", "list", "--type", "conference"); len(m["objects"].([]any)) != 2 {
		t.Errorf("recording list --json: %v", m)
	}
	has(t, "recording get", s.ok(t, "recording", "get", rec1), "recording_id", rec1, "conference_name", room)
	if m := s.okJSON(t, "recording", "get", rec2); m["recording_format"] != "wav" {
		t.Errorf("recording get --json: %v", m)
	}
	has(t, "recording delete", s.ok(t, "recording", "delete", rec1), "deleted recording "+rec1)
	s.okEmpty(t, "recording", "delete", rec2)
	if r := s.cli(t, "recording", "get", rec1); r.code != 1 || r.stderr != "parley: 404 recording not found\n" {
		t.Errorf("recording get after delete: exit %d, stderr %q", r.code, r.stderr)
	}

	// Calls: list and get the members' calls.
	has(t, "call list", s.ok(t, "call", "list"), "CALL UUID", uuids["14155550101"], uuids["14155550102"], uuids["14155550103"])
	if m := s.okJSON(t, "call", "list", "--direction", "outbound"); len(m["calls"].([]any)) != 0 {
		t.Errorf("call list --direction outbound --json: %v", m)
	}
	has(t, "call get", s.ok(t, "call", "get", uuids["14155550101"]), "call_status", "in-progress", "from", "14155550101")
	if m := s.okJSON(t, "call", "get", uuids["14155550102"]); m["call_uuid"] != uuids["14155550102"] || m["direction"] != "inbound" {
		t.Errorf("call get --json: %v", m)
	}

	// Transfer c to the same document: it leaves and joins the room again.
	has(t, "call transfer", s.ok(t, "call", "transfer", uuids["14155550103"], "--aleg-url", app.URL("/answer")), "call transferred", "call_uuid="+uuids["14155550103"])
	if m := s.okJSON(t, "call", "transfer", uuids["14155550103"], "--aleg-url", app.URL("/answer"), "--aleg-method", "GET"); m["message"] != "call transferred" {
		t.Errorf("call transfer --json: %v", m)
	}
	ids, _ = memberIDs(t, s, 3)

	// Outbound calls to a phone that never answers, cancelled with call hangup.
	contact := kit.NewPhone(t, "127.0.0.1").Listen(t, siptest.ListenOptions{NeverAnswer: true})
	out = s.ok(t, "call", "make", "--from", "+14155550100", "--to", contact, "--answer-url", app.URL("/answer"), "--ring-timeout", "30")
	has(t, "call make", out, "call fired", "request_uuid=")
	out1 := strings.Fields(strings.SplitAfter(out, "request_uuid=")[1])[0]
	m = s.okJSON(t, "call", "make", "--from", "+14155550100", "--to", contact, "--answer-url", app.URL("/answer"))
	out2, _ := m["request_uuid"].(string)
	if m["message"] != "call fired" || out2 == "" {
		t.Fatalf("call make --json: %v", m)
	}
	has(t, "call hangup", s.ok(t, "call", "hangup", out1), "hung up "+out1)
	s.okEmpty(t, "call", "hangup", out2)
	if r := s.cli(t, "call", "get", out1); r.code != 1 || !strings.Contains(r.stderr, "404 call not found") {
		t.Errorf("call get after hangup: exit %d, stderr %q", r.code, r.stderr)
	}

	// Kick a (table) and b (JSON): their documents end, so Parley hangs up.
	has(t, "conf kick", s.ok(t, "conf", "kick", room, ids["14155550101"]), "kicked: "+ids["14155550101"])
	if m := s.okJSON(t, "conf", "kick", room, ids["14155550102"]); m["message"] != "kicked" {
		t.Errorf("conf kick --json: %v", m)
	}
	waitEnded(t, a)
	waitEnded(t, b)

	// Hang up: one member (table, JSON), a room (table, JSON), every room (table, JSON).
	d := dial(t, s, "+14155550104")
	ids, _ = memberIDs(t, s, 2)
	has(t, "conf hangup member", s.ok(t, "conf", "hangup", room, ids["14155550103"]), "hung up: "+ids["14155550103"])
	waitEnded(t, c)
	s.okEmpty(t, "conf", "hangup", room, ids["14155550104"])
	waitEnded(t, d)
	for i, mode := range []string{"table", "json"} {
		e := dial(t, s, "+1415555020"+string(rune('1'+i)))
		memberIDs(t, s, 1)
		if mode == "table" {
			has(t, "conf hangup room", s.ok(t, "conf", "hangup", room), "hung up conference "+room)
		} else {
			s.okEmpty(t, "conf", "hangup", room)
		}
		waitEnded(t, e)
	}
	for i, mode := range []string{"table", "json"} {
		f := dial(t, s, "+1415555030"+string(rune('1'+i)))
		memberIDs(t, s, 1)
		if mode == "table" {
			has(t, "conf hangup --all", s.ok(t, "conf", "hangup", "--all"), "hung up every conference")
		} else {
			s.okEmpty(t, "conf", "hangup", "--all")
		}
		waitEnded(t, f)
	}

	// Errors: the server's text on stderr, exit 1, nothing on stdout, in both modes.
	for _, args := range [][]string{{"conf", "get", "Nope"}, {"conf", "get", "Nope", "--json"}} {
		if r := s.cli(t, args...); r.code != 1 || r.stderr != "parley: 404 conference not found\n" || r.stdout != "" {
			t.Errorf("parley %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := s.cli(t, "conf", "list", "--auth-token", "wrong"); r.code != 1 || r.stderr != "parley: 401 authentication failed\n" {
		t.Errorf("wrong token: exit %d, stderr %q", r.code, r.stderr)
	}
}

// lineHas reports whether a line of out contains every part.
func lineHas(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestApplicationAndEndpointCommands runs every app and endpoint subcommand in both modes.
func TestApplicationAndEndpointCommands(t *testing.T) {
	app := newApp(t)
	s := startServer(t, app)

	out := s.ok(t, "app", "create", "--name", "Support", "--answer-url", "https://example.com/answer", "--answer-method", "GET")
	has(t, "app create", out, "created", "app_id=")
	app1 := strings.Fields(strings.SplitAfter(out, "app_id=")[1])[0]
	m := s.okJSON(t, "app", "create", "--name", "Sales", "--answer-url", "https://example.com/sales", "--enabled=false")
	app2, _ := m["app_id"].(string)
	if m["message"] != "created" || app2 == "" {
		t.Fatalf("app create --json: %v", m)
	}
	out = s.ok(t, "app", "list")
	has(t, "app list", out, "APP ID", app1, "Support", "https://example.com/answer", app2, "Sales")
	if !lineHas(out, app2, "false") {
		t.Errorf("app list: Sales not shown disabled:\n%s", out)
	}
	if m := s.okJSON(t, "app", "list", "--name", "Sales"); len(m["objects"].([]any)) != 1 {
		t.Errorf("app list --name --json: %v", m)
	}
	out = s.ok(t, "app", "list", "--limit", "1")
	// The server made a default application from PARLEY_ANSWER_URL, so there are three.
	has(t, "app list --limit 1", out, "(1-1 of 3; see --limit and --offset)")
	has(t, "app get", s.ok(t, "app", "get", app1), "answer_method", "GET", "app_name", "Support")
	has(t, "app update", s.ok(t, "app", "update", app1, "--name", "Support 2"), "changed")
	if m := s.okJSON(t, "app", "update", app2, "--enabled"); m["message"] != "changed" {
		t.Errorf("app update --json: %v", m)
	}
	if m := s.okJSON(t, "app", "get", app1); m["app_name"] != "Support 2" || m["answer_method"] != "GET" {
		t.Errorf("after update (only the name changes): %v", m)
	}
	if m := s.okJSON(t, "app", "get", app2); m["enabled"] != true {
		t.Errorf("after update --enabled: %v", m)
	}

	out = s.ok(t, "endpoint", "create", "--username", "alice", "--password", "s3cret-pass", "--app", app1)
	has(t, "endpoint create", out, "endpoint_id", "username", "alice")
	ep1 := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "endpoint_id" {
			ep1 = f[1]
		}
	}
	m = s.okJSON(t, "endpoint", "create", "--username", "bob", "--password", "s3cret-pass", "--alias", "Bob")
	ep2, _ := m["endpoint_id"].(string)
	if ep1 == "" || ep2 == "" || m["alias"] != "Bob" {
		t.Fatalf("endpoint create: %q, --json %v", ep1, m)
	}
	has(t, "endpoint list", s.ok(t, "endpoint", "list"), "ENDPOINT ID", ep1, "alice", ep2, "Bob")
	if m := s.okJSON(t, "endpoint", "list", "--app", app1); len(m["objects"].([]any)) != 1 {
		t.Errorf("endpoint list --app --json: %v", m)
	}
	has(t, "endpoint get", s.ok(t, "endpoint", "get", ep1), "application", "/Application/"+app1+"/", "sip_registered", "false")
	if m := s.okJSON(t, "endpoint", "get", ep2); m["username"] != "bob" {
		t.Errorf("endpoint get --json: %v", m)
	}
	has(t, "endpoint update", s.ok(t, "endpoint", "update", ep1, "--alias", "Desk", "--app", ""), "changed endpoint "+ep1)
	s.okEmpty(t, "endpoint", "update", ep2, "--app", app2)
	if m := s.okJSON(t, "endpoint", "get", ep1); m["alias"] != "Desk" || m["application"] != "" {
		t.Errorf("after endpoint update: %v", m)
	}
	if m := s.okJSON(t, "endpoint", "get", ep2); !strings.Contains(m["application"].(string), app2) {
		t.Errorf("after endpoint update --app: %v", m)
	}
	has(t, "endpoint delete", s.ok(t, "endpoint", "delete", ep1), "deleted endpoint "+ep1)
	s.okEmpty(t, "endpoint", "delete", ep2)

	has(t, "app delete", s.ok(t, "app", "delete", app1), "deleted application "+app1)
	s.okEmpty(t, "app", "delete", app2, "--cascade")
	if r := s.cli(t, "app", "get", app1, "--json"); r.code != 1 || r.stderr != "parley: 404 application not found\n" {
		t.Errorf("app get after delete: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := s.cli(t, "endpoint", "create", "--username", "x"); r.code != 2 {
		t.Errorf("endpoint create without --password: exit %d, want 2", r.code)
	}
}

// TestServeAndVersionUnchanged: the commands that existed before the CLI answer as they did.
func TestServeAndVersionUnchanged(t *testing.T) {
	bin, err := suite.Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{bin: bin}
	if out := s.ok(t, "version"); !strings.HasPrefix(out, "parley ") || strings.Count(out, "\n") != 1 {
		t.Errorf("parley version: %q", out)
	}
	if out := s.ok(t, "help"); !strings.Contains(out, "parley [serve] [flags]") || !strings.Contains(out, "parley conf|call|app|endpoint|recording") {
		t.Errorf("parley help: %q", out)
	}
	if r := s.cli(t, "bogus"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "bogus"`) {
		t.Errorf("parley bogus: exit %d, %q", r.code, r.stderr)
	}
}
