package e2e

// The acceptance of issue 13 (docs/cluster.md): three Parley nodes on one PostgreSQL database
// and one nats-server, a room whose members' calls live on different nodes, REST through a node
// that holds neither the room nor the call, and the death (kill -9) of a room's home. One
// cluster serves the whole test so that the last step can count every webhook of the run.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// rejoinBudget is how soon after the kill of a room's home its other members hear each other
// again (issue 13).
const rejoinBudget = 5 * time.Second

// clusterDocs serves at /answer the document registered for the dialled number (To), so that
// each step of the test runs its own document on the one application of the cluster.
type clusterDocs struct {
	mu   sync.Mutex
	byTo map[string]string
}

func (d *clusterDocs) set(to, doc string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byTo[to] = doc
}

func (d *clusterDocs) doc(r *http.Request) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if doc, ok := d.byTo[strings.TrimPrefix(r.Form.Get("To"), "+")]; ok {
		return doc
	}
	return `<Response><Hangup/></Response>`
}

// roomDoc is a conference in room with exit callbacks, followed by the next element heard
// after leaving it: the otherTone file.
func roomDoc(room string) string {
	return `<Response>
  <Conference beep="false" stayAlone="true" callbackUrl="/conf-events">` + room + `</Conference>
  <Play>/next.wav</Play>
</Response>`
}

// holdDoc answers a call and keeps it up without a room (<Wait> alone would not answer).
const holdDoc = `<Response><Play loop="0">/hold.wav</Play></Response>`

// dialNode dials c from its own phone into node p, calling number to.
func (c *caller) dialNode(t *testing.T, p *kit.Server, to string) {
	t.Helper()
	c.call = kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, to, siptest.DialOptions{From: c.from, Send: kit.ToneSource(c.tone)})
}

// confMembers is GET Conference/{room}/ through p: the members as "from/member_id/call_uuid",
// sorted, or nil when the room is not found.
func confMembers(t *testing.T, p *kit.Server, room string) (int, []string) {
	t.Helper()
	st, body := p.REST(t, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
	var out []string
	ms, _ := body["members"].([]any)
	for _, raw := range ms {
		m, _ := raw.(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v/%v", m["from"], m["member_id"], m["call_uuid"]))
	}
	sort.Strings(out)
	return st, out
}

// callUUIDOf is the CallUUID of the caller from's call, from its answer_url request.
func callUUIDOf(t *testing.T, w *kit.App, from string) string {
	t.Helper()
	r := w.WaitReq(t, "/answer", 5*time.Second, "answer request from "+from, func(r kit.Request) bool {
		return r.Form.Get("From") == strings.TrimPrefix(from, "+")
	})
	return r.Form.Get("CallUUID")
}

// liveCalls is GET Call/?status=live through p.
func liveCalls(t *testing.T, p *kit.Server) []string {
	t.Helper()
	st, body := p.REST(t, "GET", kit.AccountPath("/Call/?status=live"), nil)
	if st != 200 {
		t.Fatalf("live calls through %s: %d %v", p.HTTP, st, body)
	}
	var out []string
	calls, _ := body["calls"].([]any)
	for _, c := range calls {
		out = append(out, fmt.Sprint(c))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinedOn fails t unless node p logs, within 5 s, that a call of its own joined room on the
// home node: the proof that the room lives where a step of the test needs it.
func joinedOn(t *testing.T, p *kit.Server, room, home string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range strings.Split(p.Logs(), "\n") {
			if strings.Contains(l, `msg="joined the room on its home"`) && strings.Contains(l, " conference="+room+" ") &&
				strings.Contains(l, " home="+home) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no call joined room %s on its home %s (log line \"joined the room on its home\")", p.HTTP, room, home)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hearsOnly checks that c hears each of others above heardDBFS and its own tone at least
// dropDB below each of them.
func hearsOnly(t *testing.T, c *caller, others ...*caller) {
	t.Helper()
	freqs := []float64{c.tone}
	for _, o := range others {
		freqs = append(freqs, o.tone)
	}
	lv := hear(c, freqs...)
	for _, o := range others {
		if lv[o.tone] < heardDBFS {
			t.Errorf("%s hears %s's %v Hz at %.1f dBFS, want above %v", c.name, o.name, o.tone, lv[o.tone], heardDBFS)
		}
		if lv[o.tone]-lv[c.tone] < dropDB {
			t.Errorf("%s hears itself: own tone at %.1f dBFS, not %v dB below %s's %.1f", c.name, lv[c.tone], dropDB, o.name, lv[o.tone])
		}
	}
}

// TestCluster runs every acceptance point of issue 13 against one three-node cluster.
func TestCluster(t *testing.T) {
	w := kit.NewApp(t)
	docs := &clusterDocs{byTo: map[string]string{}}
	w.Doc("/answer", docs.doc)
	w.OK("/hangup")
	w.OK("/conf-events")
	w.OK("/out-hangup")
	w.Tone("/next.wav", otherTone, 3*time.Second)
	w.File("/hold.wav", "audio/wav", kit.WAV(make([]int16, 8000), 8000))
	w.XML("/out-answer", `<Response><Play>/next.wav</Play></Response>`)
	cl := suite.StartCluster(t, kit.ClusterOptions{Nodes: 3, App: w})
	n := cl.Nodes
	t.Logf("cluster: nodes %v at %s, %s, %s; nats %s", cl.NodeIDs, n[0].HTTP, n[1].HTTP, n[2].HTTP, cl.NATSURL)

	// Three callers on three nodes in one room; a, on node 1, makes node 1 the room's home.
	t.Run("Room", func(t *testing.T) {
		docs.set("15550001", roomDoc("Triad"))
		cs := newCallers(400, 700, 1600)
		for i, c := range cs {
			c.dialNode(t, n[i], "15550001")
			if i == 0 {
				members(t, n[0], "Triad", c)
			}
		}
		var want []string
		for i, p := range n {
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, got := confMembers(t, p, "Triad")
				if st == 200 && len(got) == 3 {
					if i == 0 {
						want = got
					} else if strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("node %d lists %v, node 1 %v", i+1, got, want)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET Conference/Triad/ through node %d: %d %v, want the three members", i+1, st, got)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// The members are the real calls: their From and CallUUID, wherever their call lives.
		for _, c := range cs {
			id, found := callUUIDOf(t, w, c.from), false
			for _, m := range want {
				found = found || strings.HasPrefix(m, c.number()+"/") && strings.HasSuffix(m, "/"+id)
			}
			if !found {
				t.Errorf("caller %s (From %s, CallUUID %s) not among the members %v", c.name, c.number(), id, want)
			}
		}
		joinedOn(t, n[1], "Triad", cl.NodeIDs[0])
		joinedOn(t, n[2], "Triad", cl.NodeIDs[0])
		for _, c := range cs {
			var others []*caller
			for _, o := range cs {
				if o != c {
					others = append(others, o)
				}
			}
			hearsOnly(t, c, others...)
		}
	})

	// Kick through node 3, which holds neither the room (home node 1) nor the member (node 2).
	t.Run("Kick", func(t *testing.T) {
		docs.set("15550002", roomDoc("Kicked"))
		cs := newCallers(400, 700)
		a, b := cs[0], cs[1]
		a.from, b.from = "+14155550201", "+14155550202"
		a.dialNode(t, n[0], "15550002")
		members(t, n[0], "Kicked", a)
		b.dialNode(t, n[1], "15550002")
		members(t, n[2], "Kicked", a, b)
		joinedOn(t, n[1], "Kicked", cl.NodeIDs[0])
		hearsOnly(t, a, b)

		st, body := n[2].REST(t, "POST", kit.AccountPath("/Conference/Kicked/Member/"+b.id+"/Kick/"), map[string]any{})
		assertAction(t, "kick through node 3", st, body, "classic", "kicked", b.id)
		kicked := time.Now()
		endedByServer(t, b, 15*time.Second)
		if got := kit.ToneFramesSince(b.call, otherTone, kicked); got < 50 {
			t.Errorf("kicked b heard %d frames of its next element (%v Hz) after the kick, want at least 50", got, otherTone)
		}
		members(t, n[2], "Kicked", a)
		stillUp(t, a)

		isExit := func(r kit.Request) bool {
			return r.Form.Get("Event") == "ConferenceExit" && r.Form.Get("ConferenceMemberID") == b.id
		}
		exit := w.WaitReq(t, "/conf-events", 10*time.Second, "ConferenceExit of b", isExit)
		kit.AssertParams(t, "ConferenceExit", exit.Form, map[string]string{"ConferenceAction": "exit",
			"ConferenceName": "Kicked", "ConferenceUUID": "*", "CallUUID": callUUIDOf(t, w, b.from),
			"ConferenceCurrentSize": "1", "ConferenceLastMember": "false"})
		time.Sleep(2 * time.Second) // a second callback would come from another node by now
		got := 0
		for _, r := range w.Requests("/conf-events") {
			if isExit(r) {
				got++
			}
		}
		if got != 1 {
			t.Errorf("%d ConferenceExit callbacks for the kicked member, want 1", got)
		}
	})

	// Live calls listed and hung up through any node.
	t.Run("LiveCalls", func(t *testing.T) {
		docs.set("15550003", holdDoc)
		cs := newCallers(0, 0)
		cs[0].from, cs[1].from = "+14155550301", "+14155550302"
		cs[0].dialNode(t, n[0], "15550003")
		cs[1].dialNode(t, n[1], "15550003")
		ids := []string{callUUIDOf(t, w, cs[0].from), callUUIDOf(t, w, cs[1].from)}
		for i, p := range n {
			live := liveCalls(t, p)
			for j, id := range ids {
				if !contains(live, id) {
					t.Errorf("live calls through node %d: %v lack the call on node %d (%s)", i+1, live, j+1, id)
				}
			}
			for j, id := range ids {
				st, body := p.REST(t, "GET", kit.AccountPath("/Call/"+id+"/?status=live"), nil)
				if st != 200 || body["call_uuid"] != id {
					t.Errorf("GET live call of node %d through node %d: %d %v", j+1, i+1, st, body)
				}
			}
		}
		// The call on node 1 hung up through node 3, the call on node 2 through node 1.
		for _, hu := range []struct{ call, via int }{{0, 2}, {1, 0}} {
			st, body := n[hu.via].REST(t, "DELETE", kit.AccountPath("/Call/"+ids[hu.call]+"/"), nil)
			if st != 204 || body != nil {
				t.Errorf("DELETE the call of node %d through node %d: %d %v, want 204 and no body", hu.call+1, hu.via+1, st, body)
				continue
			}
			endedByServer(t, cs[hu.call], 10*time.Second)
			h := hangupOf(t, w, cs[hu.call])
			kit.AssertParams(t, "hangup by REST", h.Form, map[string]string{"CallUUID": ids[hu.call], "HangupCauseCode": "4000"})
		}
		for i, p := range n {
			if live := liveCalls(t, p); contains(live, ids[0]) || contains(live, ids[1]) {
				t.Errorf("live calls through node %d still list a hung-up call: %v", i+1, live)
			}
		}
	})

	// A call made through each node reaches the callee and reports to its hangup_url.
	t.Run("MakeCall", func(t *testing.T) {
		for i, p := range n {
			ph := kit.NewPhone(t, "127.0.0.1")
			contact := ph.Listen(t, siptest.ListenOptions{Username: fmt.Sprintf("callee%d", i+1), AnswerAfter: 200 * time.Millisecond})
			st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), map[string]any{
				"from": "+14155550400", "to": contact, "answer_url": w.URL("/out-answer"), "hangup_url": w.URL("/out-hangup"),
			})
			if st != 201 {
				t.Errorf("POST Call/ through node %d: %d %v", i+1, st, body)
				continue
			}
			uuid, _ := body["request_uuid"].(string)
			callee := ph.Incoming(t)
			for j, q := range n {
				if st, live := q.REST(t, "GET", kit.AccountPath("/Call/"+uuid+"/?status=live"), nil); st != 200 || live["call_uuid"] != uuid {
					t.Errorf("the call made through node %d, read through node %d: %d %v", i+1, j+1, st, live)
				}
			}
			kit.WaitEnd(t, callee, 15*time.Second)
			if got := kit.ToneFramesSince(callee, otherTone, time.Time{}); got < 50 {
				t.Errorf("callee of node %d heard %d frames of the answer document's tone, want at least 50", i+1, got)
			}
			w.WaitReq(t, "/out-hangup", 10*time.Second, "hangup of the call made through node "+fmt.Sprint(i+1), func(r kit.Request) bool {
				return r.Form.Get("CallUUID") == uuid
			})
		}
	})

	// kill -9 of a room's home (node 1): the members on nodes 2 and 3 hear each other again
	// within rejoinBudget; every call of node 1 gets one hangup webhook from a survivor; node 1
	// restarted rejoins the cluster and the room.
	t.Run("HomeDeath", func(t *testing.T) {
		docs.set("15550005", roomDoc("Survive"))
		docs.set("15550006", holdDoc)
		cs := newCallers(400, 700, 1600, 0, 2200)
		a, b, c, d, e := cs[0], cs[1], cs[2], cs[3], cs[4]
		for i, x := range cs {
			x.from = fmt.Sprintf("+1415555050%d", i+1)
		}
		a.dialNode(t, n[0], "15550005")
		members(t, n[0], "Survive", a)
		b.dialNode(t, n[1], "15550005")
		c.dialNode(t, n[2], "15550005")
		d.dialNode(t, n[0], "15550006") // a call of node 1 outside the room
		members(t, n[1], "Survive", a, b, c)
		joinedOn(t, n[1], "Survive", cl.NodeIDs[0])
		joinedOn(t, n[2], "Survive", cl.NodeIDs[0])
		hearsOnly(t, b, a, c)
		deadCalls := map[string]*caller{callUUIDOf(t, w, a.from): a, callUUIDOf(t, w, d.from): d}
		time.Sleep(time.Second) // let the webhooks so far be delivered and marked

		cl.Kill9(0)
		killed := time.Now()
		t.Log("killed node 1 (kill -9)")
		// Poll from the first window that starts well after the kill (what reached b and c
		// until then may still be the dead home's mix), until both hear each other.
		time.Sleep(time.Second)
		var back time.Duration
		for {
			lb := kit.ToneLevels(b.call, 400*time.Millisecond, c.tone)
			lc := kit.ToneLevels(c.call, 400*time.Millisecond, b.tone)
			if lb[c.tone] > heardDBFS && lc[b.tone] > heardDBFS {
				back = time.Since(killed)
				break
			}
			if time.Since(killed) > 3*rejoinBudget {
				t.Fatalf("b and c still do not hear each other %v after the kill of the room's home (b hears c at %.1f, c hears b at %.1f dBFS)",
					time.Since(killed).Round(time.Millisecond), lb[c.tone], lc[b.tone])
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("b and c hear each other again %v after the kill", back.Round(time.Millisecond))
		if back > rejoinBudget {
			t.Errorf("b and c heard each other again only %v after the kill, want within %v", back.Round(time.Millisecond), rejoinBudget)
		}
		hearsOnly(t, b, c)
		hearsOnly(t, c, b)
		if lv := hear(b, a.tone); lv[a.tone] > heardDBFS {
			t.Errorf("b still hears a, whose node is dead (%.1f dBFS)", lv[a.tone])
		}

		// Each call of the dead node: one hangup webhook, cause 5030 Node Failure.
		for id, x := range deadCalls {
			h := w.WaitReq(t, "/hangup", 20*time.Second, "hangup webhook of "+x.name+" (a call of the dead node)", func(r kit.Request) bool {
				return r.Form.Get("CallUUID") == id
			})
			kit.AssertParams(t, "hangup of a dead node's call", h.Form, map[string]string{"HangupCauseCode": "5030",
				"HangupCauseName": "Node Failure", "CallStatus": "completed"})
		}
		for _, p := range n[1:] {
			st, got := confMembers(t, p, "Survive")
			if st != 200 || len(got) != 2 {
				t.Errorf("GET Conference/Survive/ through %s after the kill: %d %v, want b and c", p.HTTP, st, got)
			}
		}

		// Node 1 restarted rejoins: a new caller on it enters the room, now homed elsewhere.
		cl.Restart(t, 0)
		e.dialNode(t, n[0], "15550005")
		members(t, n[0], "Survive", b, c, e)
		hearsOnly(t, e, b, c)
		hearsOnly(t, b, c, e)
	})

	// No webhook lost or duplicated over the whole run: every call that fetched a document has
	// exactly one hangup webhook, and no delivery id arrived twice.
	t.Run("Webhooks", func(t *testing.T) {
		calls := map[string]bool{}
		for _, path := range []string{"/answer", "/out-answer"} {
			for _, r := range w.Requests(path) {
				calls[r.Form.Get("CallUUID")] = true
			}
		}
		hangups := func() map[string]int {
			got := map[string]int{}
			for _, path := range []string{"/hangup", "/out-hangup"} {
				for _, r := range w.Requests(path) {
					got[r.Form.Get("CallUUID")]++
				}
			}
			return got
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, missing := hangups(), 0
			for id := range calls {
				if got[id] == 0 {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				for id := range calls {
					if got[id] == 0 {
						t.Errorf("call %s never got its hangup webhook", id)
					}
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // room for a late duplicate
		for id, k := range hangups() {
			if k != 1 {
				t.Errorf("call %s got %d hangup webhooks, want 1", id, k)
			}
			if !calls[id] {
				t.Errorf("hangup webhook of call %s, which never fetched a document", id)
			}
		}
		seen := map[string]string{}
		notifications := 0
		for _, r := range w.All() {
			id := r.Header.Get("X-Parley-Delivery-ID")
			if r.Path == "/hangup" || r.Path == "/out-hangup" || r.Path == "/conf-events" {
				notifications++
				if id == "" {
					t.Errorf("%s %v without X-Parley-Delivery-ID", r.Path, r.Form)
				}
			}
			if id == "" {
				continue
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("delivery %s received twice: %s and %s %v", id, prev, r.Path, r.Form)
			}
			seen[id] = r.Path
		}
		t.Logf("%d calls, %d notifications, %d delivery ids over the run", len(calls), notifications, len(seen))
	})
}
