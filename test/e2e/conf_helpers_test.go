package e2e

// Helpers of the conference acceptance tests (conf_*_test.go): callers that send tones, member
// lookups, waits on webhooks, and measurements of what each caller received.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

const (
	// heardDBFS: a member's tone that reaches another caller measures above this.
	heardDBFS = -30.0
	// dropDB: "not heard" means at least this far below the level heard when it was audible.
	dropDB = 20.0
	// settle lets a state change reach the caller before its last measureWindow is analysed.
	settle        = 1200 * time.Millisecond
	measureWindow = time.Second
	// otherTone is the tone of documents played outside the room (next element, action, waitSound).
	otherTone = 1300.0
)

// caller is one test call in a conference.
type caller struct {
	name string
	from string // as dialled, with +
	tone float64
	call *siptest.Call
	id   string // member id
}

// number is the caller's From as Parley reports it (no +).
func (c *caller) number() string { return strings.TrimPrefix(c.from, "+") }

// newCallers names callers a, b, c... with From +1415555010N and the given tones (0 = silent).
func newCallers(tones ...float64) []*caller {
	out := make([]*caller, len(tones))
	for i, f := range tones {
		out[i] = &caller{name: string(rune('a' + i)), from: fmt.Sprintf("+1415555010%d", i+1), tone: f}
	}
	return out
}

// join dials c into p from 127.0.0.1.
func (c *caller) join(t *testing.T, p *kit.Server) {
	t.Helper()
	c.call = kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: c.from, Send: kit.ToneSource(c.tone)})
}

// confGet is GET Conference/{room} as account (authID, token).
func confGet(t *testing.T, p *kit.Server, authID, token, room string) (int, map[string]any) {
	t.Helper()
	return p.RESTAs(t, authID, token, "GET", "/api/v1/Account/"+authID+"/Conference/"+room+"/", nil)
}

// membersAs polls GET Conference until the room has n members and returns member id by From.
func membersAs(t *testing.T, p *kit.Server, authID, token, room string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := confGet(t, p, authID, token, room)
		ms, _ := body["members"].([]any)
		if st == 200 && len(ms) == n {
			out := map[string]string{}
			for _, raw := range ms {
				m, _ := raw.(map[string]any)
				out[fmt.Sprint(m["from"])] = fmt.Sprint(m["member_id"])
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s never had %d members (last: %d %v)", room, n, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// members waits for exactly the callers cs in room (default account) and fills their ids.
func members(t *testing.T, p *kit.Server, room string, cs ...*caller) {
	t.Helper()
	ids := membersAs(t, p, kit.AuthID, kit.AuthToken, room, len(cs))
	for _, c := range cs {
		if c.id = ids[c.number()]; c.id == "" {
			t.Fatalf("caller %s (%s) is not a member of %s: %v", c.name, c.from, room, ids)
		}
	}
}

// memberFlags returns the muted and deaf flags of member id from GET Conference.
func memberFlags(t *testing.T, p *kit.Server, room, id string) (muted, deaf bool) {
	t.Helper()
	st, body := p.REST(t, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
	if st != 200 {
		t.Fatalf("GET conference %s: %d %v", room, st, body)
	}
	for _, raw := range body["members"].([]any) {
		m := raw.(map[string]any)
		if m["member_id"] == id {
			return m["muted"] == true, m["deaf"] == true
		}
	}
	t.Fatalf("member %s not in %s", id, room)
	return
}

// waitNoRoom polls until GET Conference answers 404 conference not found.
func waitNoRoom(t *testing.T, p *kit.Server, authID, token, room string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := confGet(t, p, authID, token, room)
		if st == 404 {
			assertError(t, "GET gone room", st, body, 404, "conference not found")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s still exists: %d %v", room, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertError checks an error answer exactly: status, the keys api_id and error, the text.
func assertError(t *testing.T, what string, st int, body map[string]any, wantSt int, wantErr string) {
	t.Helper()
	if st != wantSt {
		t.Errorf("%s: status %d (%v), want %d", what, st, body, wantSt)
		return
	}
	assertKeys(t, what, body, "api_id", "error")
	if body["error"] != wantErr {
		t.Errorf("%s: error %q, want %q", what, body["error"], wantErr)
	}
	if !uuidRE.MatchString(fmt.Sprint(body["api_id"])) {
		t.Errorf("%s: api_id %v is not a UUID v4", what, body["api_id"])
	}
}

// assertAction checks a POST member action body exactly, for either profile.
func assertAction(t *testing.T, what string, st int, body map[string]any, profile, message, mid string) {
	t.Helper()
	wantSt := 200
	var wantMID any = mid
	if profile == "current" {
		wantSt = 202
		var ids []any
		for _, s := range strings.Split(mid, ",") {
			ids = append(ids, strings.TrimSpace(s))
		}
		wantMID = ids
	}
	if st != wantSt {
		t.Errorf("%s: status %d (%v), want %d", what, st, body, wantSt)
		return
	}
	assertKeys(t, what, body, "message", "member_id", "api_id")
	if body["message"] != message {
		t.Errorf("%s: message %q, want %q", what, body["message"], message)
	}
	if fmt.Sprintf("%#v", body["member_id"]) != fmt.Sprintf("%#v", wantMID) {
		t.Errorf("%s: member_id %#v, want %#v", what, body["member_id"], wantMID)
	}
	if !uuidRE.MatchString(fmt.Sprint(body["api_id"])) {
		t.Errorf("%s: api_id %v is not a UUID v4", what, body["api_id"])
	}
}

// member204 sends method to a member route and expects 204 with an empty body.
func member204(t *testing.T, p *kit.Server, method, path string) {
	t.Helper()
	if st, body := p.REST(t, method, kit.AccountPath(path), nil); st != 204 || body != nil {
		t.Fatalf("%s %s: %d %v, want 204 and no body", method, path, st, body)
	}
}

// hear measures the tones c received during the last measureWindow, after settle.
func hear(c *caller, freqs ...float64) map[float64]float64 {
	time.Sleep(settle)
	return kit.ToneLevels(c.call, measureWindow, freqs...)
}

// hangupOf waits for the hangup webhook of caller c.
func hangupOf(t *testing.T, w *kit.App, c *caller) kit.Request {
	t.Helper()
	return w.WaitReq(t, "/hangup", 10*time.Second, "hangup webhook of "+c.name, func(r kit.Request) bool {
		return r.Form.Get("From") == c.number()
	})
}

// endedByServer waits for the server's BYE to c.
func endedByServer(t *testing.T, c *caller, timeout time.Duration) {
	t.Helper()
	byRemote, err := c.call.WaitEnd(kit.Context(t, timeout))
	if err != nil {
		t.Fatalf("%s: call did not end: %v", c.name, err)
	}
	if !byRemote {
		t.Fatalf("%s: call ended, but not by Parley's BYE", c.name)
	}
}

// stillUp fails if c's call has ended.
func stillUp(t *testing.T, c *caller) {
	t.Helper()
	select {
	case <-c.call.Ended():
		t.Errorf("%s: call ended, want it still up", c.name)
	default:
	}
}

// writeConfig writes a YAML configuration file into a temporary directory and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceAll replaces each old string of the pairs with its new string, in one pass.
func replaceAll(s string, oldnew ...string) string { return strings.NewReplacer(oldnew...).Replace(s) }

// Account B of the two-account configuration.
const (
	authIDB    = "MA_E2ETEST2"
	authTokenB = "e2e-second-token-9876543210"
)

// twoAccounts writes a configuration with account A (the test account, gateway 127.0.0.1) and
// account B (gateway 127.0.0.2), each with its default application on w (/answer, /answerB),
// and returns the env that starts Parley with it.
func twoAccounts(t *testing.T, w *kit.App) map[string]string {
	t.Helper()
	path := writeConfig(t, fmt.Sprintf(`accounts:
  - auth_id: %s
    auth_token: %s
    trusted_gateways: [127.0.0.1/32]
    default_app:
      name: app A
      answer_url: %s
      hangup_url: %s
  - auth_id: %s
    auth_token: %s
    trusted_gateways: [127.0.0.2/32]
    default_app:
      name: app B
      answer_url: %s
      hangup_url: %s
`, kit.AuthID, kit.AuthToken, w.URL("/answer"), w.URL("/hangup"), authIDB, authTokenB, w.URL("/answerB"), w.URL("/hangup")))
	return map[string]string{"PARLEY_CONFIG": path}
}
