package e2e

// Issue 12: a 204 to a REST hang-up means the calls have ended. Each hang-up (member, room,
// every room, call) is followed at once by reads of the live calls and rooms, 50 times in a
// row, over one reused keep-alive connection and over a new connection per request; a call
// still reported after its 204 is a ghost.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// ghostRuns is how many hang-ups of each kind are checked.
const ghostRuns = 50

// restConn is a REST client of one Parley. With keepAlive it reuses one connection for
// consecutive requests, as SDK clients do; without it opens a new connection per request.
type restConn struct {
	t              *testing.T
	p              *kit.Server
	hc             *http.Client
	reused, opened atomic.Int32
}

func newRestConn(t *testing.T, p *kit.Server, keepAlive bool) *restConn {
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &restConn{t: t, p: p, hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// do sends a request under the account path and returns the status and JSON body (nil when
// empty). The body is read to the end so that the connection can be reused.
func (c *restConn) do(method, path string) (int, map[string]any) {
	c.t.Helper()
	return c.send(method, path, nil)
}

// send is do with form parameters.
func (c *restConn) send(method, path string, form url.Values) (int, map[string]any) {
	c.t.Helper()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				c.reused.Add(1)
			} else {
				c.opened.Add(1)
			}
		},
	})
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.p.HTTP+kit.AccountPath(path), body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Auth-ID", kit.AuthID)
	req.Header.Set("X-Auth-Token", kit.AuthToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, data, err)
	}
	return resp.StatusCode, m
}

// hangup sends a DELETE that must answer 204.
func (c *restConn) hangup(path string) {
	c.t.Helper()
	if st, body := c.do("DELETE", path); st != 204 {
		c.t.Fatalf("DELETE %s: %d %v, want 204", path, st, body)
	}
}

// liveCalls is GET /Call/?status=live.
func (c *restConn) liveCalls() []string {
	c.t.Helper()
	st, body := c.do("GET", "/Call/?status=live")
	if st != 200 {
		c.t.Fatalf("list live calls: %d %v", st, body)
	}
	var out []string
	for _, id := range body["calls"].([]any) {
		out = append(out, id.(string))
	}
	return out
}

// roomCalls is the call_uuid of each member of room by member id; empty when the room is gone.
func (c *restConn) roomCalls(room string) map[string]string {
	c.t.Helper()
	st, body := c.do("GET", "/Conference/"+room+"/")
	if st == 404 {
		return nil
	}
	if st != 200 {
		c.t.Fatalf("GET conference %s: %d %v", room, st, body)
	}
	out := map[string]string{}
	for _, raw := range body["members"].([]any) {
		m := raw.(map[string]any)
		out[fmt.Sprint(m["member_id"])] = fmt.Sprint(m["call_uuid"])
	}
	return out
}

// ghost reads the live calls, each hung-up call with GET, and the rooms named, right after a
// hang-up; it describes what still reports a hung-up call, "" when nothing does.
func (c *restConn) ghost(gone []string, rooms ...string) string {
	c.t.Helper()
	var seen []string
	live := c.liveCalls()
	for _, id := range gone {
		if slices.Contains(live, id) {
			seen = append(seen, id+" listed live")
		}
		if st, _ := c.do("GET", "/Call/"+id+"/?status=live"); st != 404 {
			seen = append(seen, fmt.Sprintf("%s: GET answered %d", id, st))
		}
	}
	for _, room := range rooms {
		for mid, id := range c.roomCalls(room) {
			if slices.Contains(gone, id) {
				seen = append(seen, fmt.Sprintf("%s still member %s of %s", id, mid, room))
			}
		}
	}
	return strings.Join(seen, ", ")
}

// ghosts collects the hang-ups after which a call was still reported.
type ghosts []string

func (g *ghosts) add(what string) {
	if what != "" {
		*g = append(*g, what)
	}
}

// ghostPhones places the test calls: each call has its own user agent, closed once the call
// has been checked so that sockets do not pile up.
type ghostPhones struct {
	t *testing.T
	p *kit.Server
	c *siptest.Client
}

// dialAll calls each user (one call per entry) at once and waits until every call is
// answered; a call the test client fails to place before any response is placed once more.
func (g *ghostPhones) dialAll(users ...string) []*siptest.Call {
	g.t.Helper()
	calls := make([]*siptest.Call, len(users))
	dial := func(i int) {
		cl, err := g.c.Dial(kit.Context(g.t, 10*time.Second), g.p.URI(users[i]), siptest.DialOptions{From: kit.CallerNumber})
		if err != nil {
			g.t.Fatalf("dial %s: %v", users[i], err)
		}
		calls[i] = cl
	}
	for i := range users {
		dial(i)
	}
	deadline := time.After(15 * time.Second)
	for i := range calls {
		for retried := false; ; {
			select {
			case <-calls[i].Answered():
			case <-calls[i].Ended():
				if calls[i].FinalStatus() == 0 && !retried {
					g.t.Logf("test client failed to place a call to %s: %v; retrying", users[i], calls[i].Err())
					retried = true
					dial(i)
					continue
				}
				g.t.Fatalf("call to %s ended unanswered (status %d: %v)", users[i], calls[i].FinalStatus(), calls[i].Err())
			case <-deadline:
				g.t.Fatalf("call to %s not answered", users[i])
			}
			break
		}
	}
	return calls
}

// members waits until room has n members and returns their call_uuid by member id.
func (g *ghostPhones) members(c *restConn, room string, n int) map[string]string {
	g.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ms := c.roomCalls(room)
		if len(ms) == n {
			return ms
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("room %s has %d members, want %d", room, len(ms), n)
		}
	}
}

// liveTo waits until n calls to user are live and returns their CallUUIDs.
func (g *ghostPhones) liveTo(c *restConn, user string, n int) []string {
	g.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, body := c.do("GET", "/Call/?status=live&to_number="+user)
		ids, _ := body["calls"].([]any)
		if st == 200 && len(ids) == n {
			out := make([]string, n)
			for i, id := range ids {
				out[i] = id.(string)
			}
			return out
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d live calls to %s, want %d (%d %v)", len(ids), user, n, st, body)
		}
	}
}

func closeAll(calls []*siptest.Call) {
	for _, cl := range calls {
		go cl.Close()
	}
}

func TestRestHangupsLeaveNoGhost(t *testing.T) {
	w := kit.NewApp(t)
	// Users 1xxx join the room named after them (To is the user); 2000 hears a quiet tone
	// outside any room.
	w.File("/quiet.wav", "audio/wav", kit.ToneWAV(440, 8000, time.Second, -40))
	w.HandleFunc("/answer", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/xml")
		to := r.Form.Get("To")
		if to == "2000" {
			_, _ = io.WriteString(rw, `<Response><Play loop="0">`+w.URL("/quiet.wav")+`</Play></Response>`)
			return
		}
		_, _ = io.WriteString(rw, `<Response><Conference beep="false" stayAlone="true" callbackUrl="`+
			w.URL("/events")+`">`+to+`</Conference></Response>`)
	})
	w.OK("/hangup")
	w.OK("/events")
	p := suite.Start(t, kit.Options{App: w})
	sc, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	g := &ghostPhones{t: t, p: p, c: sc}
	var members []string // calls hung up while in a room, for the webhook order check

	for _, mode := range []struct {
		name      string
		keepAlive bool
	}{{"KeepAlive", true}, {"NewConnection", false}} {
		c := newRestConn(t, p, mode.keepAlive)
		report := func(kind string, seen ghosts) {
			t.Helper()
			t.Logf("%s, %s: ghosts after %d of %d hang-ups", mode.name, kind, len(seen), ghostRuns)
			if len(seen) > 0 {
				t.Errorf("%s, %s: calls still reported after the 204: %v", mode.name, kind, seen)
			}
		}

		// Member hang-up: rooms of 10, members hung up one by one.
		var seen ghosts
		for batch := range ghostRuns / 10 {
			room := fmt.Sprintf("1%03d", batch)
			calls := g.dialAll(slices.Repeat([]string{room}, 10)...)
			ms := g.members(c, room, 10)
			for mid, id := range ms {
				c.hangup("/Conference/" + room + "/Member/" + mid + "/")
				seen.add(c.ghost([]string{id}, room))
				members = append(members, id)
			}
			closeAll(calls)
		}
		report("member hang-up", seen)

		// Room hang-up: ten rooms of one or two members at a time.
		seen = nil
		for batch := range ghostRuns / 10 {
			var users []string
			for i := range 10 {
				room := fmt.Sprintf("1%d%02d", 1+batch, i)
				users = append(users, slices.Repeat([]string{room}, 1+i%2)...)
			}
			calls := g.dialAll(users...)
			for i := range 10 {
				room := fmt.Sprintf("1%d%02d", 1+batch, i)
				ids := mapValues(g.members(c, room, 1+i%2))
				c.hangup("/Conference/" + room + "/")
				seen.add(c.ghost(ids, room))
				members = append(members, ids...)
			}
			closeAll(calls)
		}
		report("room hang-up", seen)

		// Hang-up of every room: two rooms each time.
		seen = nil
		for range ghostRuns {
			calls := g.dialAll("1900", "1901")
			ids := append(mapValues(g.members(c, "1900", 1)), mapValues(g.members(c, "1901", 1))...)
			c.hangup("/Conference/")
			what := c.ghost(ids, "1900", "1901")
			if st, body := c.do("GET", "/Conference/"); st != 200 || len(body["conferences"].([]any)) != 0 {
				what = strings.TrimPrefix(fmt.Sprintf("%s, rooms still listed: %d %v", what, st, body), ", ")
			}
			seen.add(what)
			members = append(members, ids...)
			closeAll(calls)
		}
		report("hang-up of every room", seen)

		// Call hang-up: calls in batches of ten, in a room or outside any.
		seen = nil
		for batch := range ghostRuns / 10 {
			var ids, rooms []string
			var calls []*siptest.Call
			if batch%2 == 0 {
				calls = g.dialAll(slices.Repeat([]string{"1950"}, 10)...)
				ids, rooms = mapValues(g.members(c, "1950", 10)), []string{"1950"}
				members = append(members, ids...)
			} else {
				calls = g.dialAll(slices.Repeat([]string{"2000"}, 10)...)
				ids = g.liveTo(c, "2000", 10)
			}
			for _, id := range ids {
				c.hangup("/Call/" + id + "/")
				seen.add(c.ghost([]string{id}, rooms...))
			}
			closeAll(calls)
		}
		report("call hang-up", seen)

		reused, opened := c.reused.Load(), c.opened.Load()
		t.Logf("%s: %d requests on reused connections, %d connections opened", mode.name, reused, opened)
		if mode.keepAlive && opened > 3 {
			t.Errorf("keep-alive client opened %d connections for %d requests: it did not reuse its connection", opened, reused+opened)
		}
		if !mode.keepAlive && reused > 0 {
			t.Errorf("client without keep-alive reused a connection %d times", reused)
		}
	}

	// §9.4: the ConferenceExit of each call is queued before its hangup webhook.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if missing := withoutHangup(w, members); missing == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d hung-up members have no hangup webhook", missing)
		}
	}
	exitAt, hangupAt := map[string]int{}, map[string]int{}
	for i, r := range w.All() {
		switch {
		case r.Path == "/events" && r.Form.Get("Event") == "ConferenceExit":
			exitAt[r.Form.Get("CallUUID")] = i
		case r.Path == "/hangup":
			hangupAt[r.Form.Get("CallUUID")] = i
		}
	}
	for _, id := range members {
		if e, ok := exitAt[id]; !ok || e > hangupAt[id] {
			t.Errorf("call %s: ConferenceExit (seen %v) not before its hangup webhook", id, ok)
		}
	}
}

// withoutHangup counts the calls that have had no hangup webhook yet.
func withoutHangup(w *kit.App, ids []string) int {
	seen := map[string]bool{}
	for _, r := range w.Requests("/hangup") {
		seen[r.Form.Get("CallUUID")] = true
	}
	n := 0
	for _, id := range ids {
		if !seen[id] {
			n++
		}
	}
	return n
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestRestStateChangesSeenByNextRead: after the answer to a member action (mute, deaf, kick),
// a recording stop or a transfer, the next read on the same keep-alive connection sees the
// change.
func TestRestStateChangesSeenByNextRead(t *testing.T) {
	const runs = 10
	w := kit.NewApp(t)
	w.File("/quiet.wav", "audio/wav", kit.ToneWAV(440, 8000, time.Second, -40))
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true">1970</Conference>`+
		`<Play loop="0">`+w.URL("/quiet.wav")+`</Play></Response>`)
	w.XML("/transferred", `<Response><Play loop="0">`+w.URL("/quiet.wav")+`</Play></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	sc, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	g := &ghostPhones{t: t, p: p, c: sc}
	c := newRestConn(t, p, true)
	flags := func(mid string) (muted, deaf, ok bool) {
		t.Helper()
		st, body := c.do("GET", "/Conference/1970/")
		if st != 200 {
			return false, false, false
		}
		for _, raw := range body["members"].([]any) {
			m := raw.(map[string]any)
			if m["member_id"] == mid {
				return m["muted"] == true, m["deaf"] == true, true
			}
		}
		return false, false, false
	}
	action := func(method, path string) {
		t.Helper()
		if st, body := c.do(method, path); st/100 != 2 {
			t.Fatalf("%s %s: %d %v", method, path, st, body)
		}
	}

	// Kick and transfer take a member out of the room each time; the calls go on.
	calls := g.dialAll(slices.Repeat([]string{"1970"}, 2*runs+1)...)
	defer closeAll(calls)
	ms := g.members(c, "1970", 2*runs+1)
	mids := slices.Sorted(func(yield func(string) bool) {
		for mid := range ms {
			if !yield(mid) {
				return
			}
		}
	})
	stay := mids[0]
	var stale []string
	for i, mid := range mids[1:] {
		m := "/Conference/1970/Member/" + stay + "/"
		action("POST", m+"Mute/")
		if muted, _, _ := flags(stay); !muted {
			stale = append(stale, "mute")
		}
		action("DELETE", m+"Mute/")
		if muted, _, _ := flags(stay); muted {
			stale = append(stale, "unmute")
		}
		action("POST", m+"Deaf/")
		if _, deaf, _ := flags(stay); !deaf {
			stale = append(stale, "deaf")
		}
		action("DELETE", m+"Deaf/")
		if _, deaf, _ := flags(stay); deaf {
			stale = append(stale, "undeaf")
		}
		if i%2 == 0 {
			action("POST", "/Conference/1970/Member/"+mid+"/Kick/")
			if _, _, in := flags(mid); in {
				stale = append(stale, "kick of member "+mid)
			}
		} else {
			id := ms[mid]
			if st, body := c.send("POST", "/Call/"+id+"/", url.Values{"aleg_url": {w.URL("/transferred")}}); st != 202 {
				t.Fatalf("transfer %s: %d %v", id, st, body)
			}
			if _, _, in := flags(mid); in {
				stale = append(stale, "transfer of member "+mid)
			}
			if st, _ := c.do("GET", "/Call/"+id+"/?status=live"); st != 200 {
				t.Errorf("transferred call %s: GET answered %d, want it live", id, st)
			}
		}
	}

	// A recording stop answers once the recording is stored.
	for range runs {
		st, body := c.send("POST", "/Conference/1970/Record/", url.Values{"file_format": {"wav"}})
		if st != 200 {
			t.Fatalf("start recording: %d %v", st, body)
		}
		id, _ := body["recording_id"].(string)
		action("DELETE", "/Conference/1970/Record/")
		if st, _ := c.do("GET", "/Recording/"+id+"/"); st != 200 {
			stale = append(stale, fmt.Sprintf("recording %s: GET answered %d after the stop", id, st))
		}
	}
	t.Logf("reads not seeing the change: %d (%d mute/deaf rounds, %d kicks and transfers, %d recording stops)",
		len(stale), 2*runs, 2*runs, runs)
	if len(stale) > 0 {
		t.Errorf("reads after the answer did not see the change: %v", stale)
	}
}
