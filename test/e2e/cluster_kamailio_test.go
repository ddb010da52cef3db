package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// docBlock is the first fenced block of the Markdown file at path after the line that holds
// marker.
func docBlock(t *testing.T, path, marker string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s: no %q", path, marker)
	}
	_, after, ok = strings.Cut(after, "```\n")
	block, _, closed := strings.Cut(after, "\n```")
	if !ok || !closed {
		t.Fatalf("%s: no fenced block after %q", path, marker)
	}
	return block + "\n"
}

// nodeOf is the index of the node whose log shows the inbound call from c, waiting up to 5 s.
func nodeOf(t *testing.T, nodes []*kit.Server, c *caller) int {
	t.Helper()
	line := `msg="inbound call" `
	deadline := time.Now().Add(5 * time.Second)
	for {
		for i, n := range nodes {
			if !n.Alive() {
				continue
			}
			for _, l := range strings.Split(n.Logs(), "\n") {
				if strings.Contains(l, line) && strings.Contains(l, " from="+c.from+" ") {
					return i
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node logged the inbound call from %s", c.from)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterKamailio runs the Kamailio configuration of docs/cluster.md, as written there, in
// front of two nodes: new calls alternate between the nodes and their callers meet in one room;
// after kill -9 of one node every new call through Kamailio is answered by the other, and once
// the OPTIONS probes have taken the dead node out of the rotation no call waits for it.
func TestClusterKamailio(t *testing.T) {
	cfg := docBlock(t, "../../docs/cluster.md", "`/etc/kamailio/kamailio.cfg`:")
	w := kit.NewApp(t)
	docs := &clusterDocs{byTo: map[string]string{"15550007": roomDoc("Front"), "15550008": holdDoc}}
	w.Doc("/answer", docs.doc)
	w.OK("/hangup")
	w.OK("/conf-events")
	w.Tone("/next.wav", otherTone, 3*time.Second)
	w.File("/hold.wav", "audio/wav", kit.WAV(make([]int16, 8000), 8000))
	cl := suite.StartCluster(t, kit.ClusterOptions{Nodes: 2, App: w})
	n := cl.Nodes
	k := kit.StartKamailio(t, cfg, n)

	cs := newCallers(400, 700)
	a, b := cs[0], cs[1]
	a.from, b.from = "+14155550701", "+14155550702"
	for _, c := range cs {
		c.call = kit.NewPhone(t, "127.0.0.1").CallAnsweredURI(t, k.URI("15550007"), siptest.DialOptions{From: c.from, Send: kit.ToneSource(c.tone)})
	}
	if na, nb := nodeOf(t, n, a), nodeOf(t, n, b); na == nb {
		t.Errorf("both calls through kamailio went to node %d, want one on each (round robin)", na+1)
	}
	members(t, n[0], "Front", a, b)
	hearsOnly(t, a, b)
	hearsOnly(t, b, a)

	cl.Kill9(0)
	killed := time.Now()
	t.Log("killed node 1 (kill -9)")
	// At once: a call that Kamailio still sends to node 1 goes on to node 2 after fr_timer.
	// Once the OPTIONS probes have taken node 1 out (2 unanswered probes 2 s apart, so within
	// about 6 s), no call waits for it any more.
	for i := range 5 {
		if i == 3 {
			time.Sleep(time.Until(killed.Add(7 * time.Second)))
		}
		c := &caller{name: fmt.Sprint("after", i+1), from: fmt.Sprintf("+1415555071%d", i)}
		start := time.Now()
		c.call = kit.NewPhone(t, "127.0.0.1").CallAnsweredURI(t, k.URI("15550008"), siptest.DialOptions{From: c.from})
		took := time.Since(start)
		if got := nodeOf(t, n, c); got != 1 {
			t.Errorf("call %s answered by node %d, want node 2", c.from, got+1)
		}
		t.Logf("call %d, %v after the kill, answered in %v", i+1, start.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))
		if i >= 3 && took > time.Second {
			t.Errorf("call %d, %v after the kill, took %v: the OPTIONS probes have not taken node 1 out",
				i+1, start.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))
		}
	}
}
