//go:build load

package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// The cluster benchmark (issue 13): what a conference member costs when its call lives on
// another node than its room (relayed through an internal leg) against a member whose call
// lives on the room's home, and what a REST request costs when it reaches a node that forwards
// it to the home (or to the node of the call).

// Numbers and rooms of the cluster benchmark.
const (
	clusterRoomNumber = "7000" // the measured room
	clusterRESTNumber = "7001" // the small room of the REST part
	clusterRoom       = "clusterbench"
	clusterRESTRoom   = "clusterrest"
)

// clusterBenchDoc is the document of every caller of the benchmark: the room of the number.
func clusterBenchDoc(to string) string {
	room := clusterRoom
	if to == clusterRESTNumber {
		room = clusterRESTRoom
	}
	return `<Response><Conference beep="false">` + room + `</Conference></Response>`
}

// clusterWindow is one measured window of the CPU part.
type clusterWindow struct {
	Name          string
	Local, Remote int // members in the room whose calls live on node 1 (its home) / node 2
	Wall          time.Duration
	Node          [2]time.Duration // CPU of node 1 and node 2
	NATS, Self    time.Duration    // CPU of the nats-server and of this test process
	Machine, IRQ  time.Duration
	Load0, Load1  string
	LateSends     int64   // client frames sent 40 ms or more after the previous one
	RxLocal       rxStats // packets per second received by the local members' phones
	RxRemote      rxStats
	SoundLocal    soundStats // the sound check of a sample of local members
	SoundRemote   soundStats
	Logs          [2]logSummary
	RSS           [2]string
	Threads       [2]string
	from, to      time.Time
	local, remote []*benchPhone // the phones in the room, for the sound check at the end
}

// nodes is the CPU of both nodes.
func (w clusterWindow) nodes() time.Duration { return w.Node[0] + w.Node[1] }

// rxStats is the received packet rate of a group of phones in a window.
type rxStats struct {
	N         int
	Min, Mean float64
	SeqGaps   int
}

// soundStats is the sound check of a sample of members in a window.
type soundStats struct {
	Members, Windows, Clean, GlitchFrames int
	MinSINAD, WorstDev, MaxOwn            float64
}

// benchPhone is one caller of the CPU part.
type benchPhone struct {
	freq  int
	call  *siptest.Call
	meter *sendMeter
}

// TestClusterBench starts a two-node cluster (PostgreSQL, nats-server, two parley processes on
// 127.0.0.1) and measures, in four windows of the same length: both nodes idle (W0); N callers
// of node 1 in a room homed on node 1 (W1, local members); N more callers of node 2 in the same
// room (W2, each relayed by node 2 through an internal leg to node 1); the callers of node 1
// hung up, the N remote members alone (W3). Each node's CPU comes from /proc/<pid>/stat. A local
// member costs (W1−W0)/N, a remote one (W3−W0)/N, both nodes summed; W2 gives the same two
// figures a second way ((W2−W3)/N and (W2−W1)/N). Then the REST part: GET Conference/{name}/ and
// GET Call/{uuid}/ sent alternately to node 1 (the home, the call's node) and to node 2 (which
// forwards them over NATS), first on a room of two members, then on the big room of N remote
// members. Every caller sends a tone of its own; a sample of members gets the sound check of
// the conference benchmark. Settings (environment):
//
//	PARLEY_CLUSTER_MEMBERS  N, callers per node, 2-200 (default 100)
//	PARLEY_LOAD_SECONDS     measured seconds per window (default 20)
//	PARLEY_LOAD_DIAL_RATE   new calls per second while filling the room (default 25)
//	PARLEY_CLUSTER_REST     requests of each kind to each node (default 500)
//	PARLEY_CLUSTER_CHECKED  members of each side that get the sound check (default 5)
//	PARLEY_LOAD_PERF        1: `perf record -g` of both nodes in W1 and W3
//	PARLEY_LOAD_DIR, PARLEY_LOAD_BIN, PARLEY_LOAD_LOG_LEVEL as for TestConferenceLoad
//
// Node 1 uses RTP ports 40000-43999 and node 2 44000-47999. It asserts no figure: it fails only
// when the run itself breaks (calls not answered, the room not filled, a node gone).
func TestClusterBench(t *testing.T) {
	n := envInt(t, "PARLEY_CLUSTER_MEMBERS", 100, 2, 200)
	seconds := envInt(t, "PARLEY_LOAD_SECONDS", 20, 2, 600)
	dialRate := envInt(t, "PARLEY_LOAD_DIAL_RATE", 25, 1, 500)
	restCount := envInt(t, "PARLEY_CLUSTER_REST", 500, 1, 5000)
	checked := envInt(t, "PARLEY_CLUSTER_CHECKED", 5, 0, 200)
	perf := env("PARLEY_LOAD_PERF", "") == "1"

	// The phones keep every packet they receive (see TestConferenceLoad).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(envInt(t, "PARLEY_LOAD_CLIENT_MEM_MB", 4096, 256, 65536)) << 20))

	work := workDir(t, "cluster")
	app := startConfApp(t, clusterBenchDoc, nil)
	rtp := [2]string{"40000-43999", "44000-47999"}
	cl := suite.StartCluster(t, kit.ClusterOptions{Nodes: 2, App: app.App, Node: func(i int, o *kit.Options) {
		o.Env["PARLEY_LOG_LEVEL"] = env("PARLEY_LOAD_LOG_LEVEL", "info")
		o.Env["PARLEY_SHUTDOWN_GRACE"] = "2s"
		o.Env["PARLEY_WEBHOOK_TIMEOUT"] = "" // the binary's own
		o.RTPPorts = rtp[i]
		o.LogFile = filepath.Join(work, fmt.Sprintf("node%d.log", i+1))
		o.NoAPIValidation = true
		o.StopGrace = 10 * time.Second
	}})
	home, other := cl.Nodes[0], cl.Nodes[1]
	logs := [2]*logCounter{{path: home.LogPath()}, {path: other.LogPath()}}
	fmt.Printf("date:    %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs (%s), load average %s at start\n", runtime.NumCPU(), cpuModel(), loadAvg())
	fmt.Printf("build:   parley built from the working tree at %s; test %s\n", gitRev(), runtime.Version())
	fmt.Printf("nodes:   node1 pid %d sip %s http %s; node2 pid %d sip %s http %s; nats-server pid %d %s\n",
		home.PID(), home.SIP, home.HTTP, other.PID(), other.SIP, other.HTTP, cl.NATSPID(), cl.NATSURL)
	fmt.Printf("members: %d per node, each sending its own tone; %d s measured per window; logs in %s\n\n", n, seconds, work)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	freqs, level := roomTones(2 * n)
	var measuring atomic.Bool
	newClient := func() *siptest.Client {
		c, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	dial := func(client *siptest.Client, node *kit.Server, first int) []*benchPhone {
		phones := make([]*benchPhone, 0, n)
		err := dialPaced(ctx, n, dialRate, func(i int) error {
			p := &benchPhone{freq: freqs[first+i]}
			p.meter = &sendMeter{src: media.Tone(float64(p.freq), time.Hour, level), measuring: &measuring}
			c, err := client.Dial(ctx, "sip:"+clusterRoomNumber+"@"+node.SIP, siptest.DialOptions{
				From: fmt.Sprintf("+1415700%04d", first+i), Send: p.meter})
			if err != nil {
				return fmt.Errorf("dialling caller %d: %w", first+i, err)
			}
			p.call = c
			phones = append(phones, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		calls := make([]*siptest.Call, len(phones))
		for i, p := range phones {
			calls[i] = p.call
		}
		if missing := waitAnswered(calls, 60*time.Second); missing > 0 {
			t.Fatalf("%d of %d calls to %s not answered\nnode 1:\n%s\nnode 2:\n%s", missing, len(calls), node.SIP, home.Tail(3000), other.Tail(3000))
		}
		return phones
	}
	waitRoom := func(want int) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			ms, err := roomMembers(ctx, home, clusterRoom)
			if err == nil && len(ms) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("room %s on node 1 has %d members, want %d (%v); nodes expelled as dead: node1 %d, node2 %d\nnode 1:\n%s\nnode 2:\n%s",
					clusterRoom, len(ms), want, err, countLines(home.LogPath(), "was taken for dead"), countLines(other.LogPath(), "was taken for dead"),
					home.Tail(3000), other.Tail(3000))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var windows []clusterWindow
	measure := func(name string, local, remote []*benchPhone) clusterWindow {
		time.Sleep(3 * time.Second) // jitter queues primed, entry work done
		for i := range logs {
			_ = logs[i].next()
		}
		w := clusterWindow{Name: name, Local: len(local), Remote: len(remote)}
		pids := []int{home.PID(), other.PID(), cl.NATSPID()}
		cpu0 := make([]time.Duration, len(pids))
		for i, pid := range pids {
			var err error
			if cpu0[i], err = procCPU(pid); err != nil {
				t.Fatal(err)
			}
		}
		mach0, irq0, err := machineCPU()
		if err != nil {
			t.Fatal(err)
		}
		self0 := selfCPU()
		w.Load0 = loadAvg()
		var stops []func()
		if perf && (local == nil) != (remote == nil) {
			for i, node := range []*kit.Server{home, other} {
				stops = append(stops, startPerf(t, node.PID(), filepath.Join(work, fmt.Sprintf("perf-%s-node%d.data", name, i+1))))
			}
		}
		late0 := lateSends(local, remote)
		measuring.Store(true)
		w.from = time.Now()
		time.Sleep(time.Duration(seconds) * time.Second)
		w.to = time.Now()
		measuring.Store(false)
		w.LateSends = lateSends(local, remote) - late0
		cpu1 := make([]time.Duration, len(pids))
		for i, pid := range pids {
			if cpu1[i], err = procCPU(pid); err != nil {
				t.Fatalf("node gone? %v", err)
			}
		}
		mach1, irq1, err := machineCPU()
		if err != nil {
			t.Fatal(err)
		}
		w.Self = selfCPU() - self0
		for _, stop := range stops {
			stop()
		}
		w.Wall = w.to.Sub(w.from)
		w.Node = [2]time.Duration{cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]}
		w.NATS = cpu1[2] - cpu0[2]
		w.Machine, w.IRQ = mach1-mach0, irq1-irq0
		w.Load1 = loadAvg()
		for i, node := range []*kit.Server{home, other} {
			w.Logs[i] = logs[i].next()
			w.RSS[i], w.Threads[i] = procStatus(node.PID(), "VmRSS"), procStatus(node.PID(), "Threads")
		}
		w.RxLocal, w.RxRemote = rxOf(local, w.from, w.to), rxOf(remote, w.from, w.to)
		w.local, w.remote = local, remote
		fmt.Println(clusterWindowLine(w))
		windows = append(windows, w)
		return w
	}

	// W0: both nodes idle.
	measure("W0 idle", nil, nil)
	// W1: N callers of node 1; the first makes node 1 the room's home.
	localClient := newClient()
	local := dial(localClient, home, 0)
	waitRoom(n)
	measure("W1 local", local, nil)
	// W2: N callers of node 2 join the room on node 1 through internal legs.
	remoteClient := newClient()
	remote := dial(remoteClient, other, n)
	waitRoom(2 * n)
	if got := countLines(other.LogPath(), `msg="joined the room on its home"`, "home=node1"); got < n {
		t.Fatalf("node 2 logged %d joins of the room on node 1, want %d", got, n)
	}
	measure("W2 local+remote", local, remote)
	// W3: the callers of node 1 hang up; the room stays on node 1 with the remote members.
	localClient.Close()
	waitRoom(n)
	measure("W3 remote", nil, remote)

	// REST: on the big room (N remote members, under their load), then on a room of two.
	var rest []restResult
	ms, err := roomMembers(ctx, home, clusterRoom)
	if err != nil {
		t.Fatal(err)
	}
	bigCall := ""
	for cu := range ms {
		bigCall = cu // a call on node 2: node 2 holds it, node 1 forwards
		break
	}
	rest = append(rest, restPair(ctx, t, home, other, "GET Conference/{name}/", fmt.Sprintf("%d members", n),
		kit.AccountPath("/Conference/"+clusterRoom+"/"), restCount))
	rest = append(rest, restPair(ctx, t, other, home, "GET Call/{uuid}/?status=live", fmt.Sprintf("a member of the %d-member room", n),
		kit.AccountPath("/Call/"+bigCall+"/?status=live"), restCount))
	remoteClient.Close()
	waitCallsGone(ctx, home, other)

	restClient := newClient()
	var small [2]*siptest.Call
	for i, node := range []*kit.Server{home, other} {
		c, err := restClient.Dial(ctx, "sip:"+clusterRESTNumber+"@"+node.SIP, siptest.DialOptions{
			From: fmt.Sprintf("+141570099%02d", i+1), Send: media.Tone(float64(600+400*i), time.Hour, -20)})
		if err != nil {
			t.Fatal(err)
		}
		small[i] = c
		if missing := waitAnswered([]*siptest.Call{c}, 20*time.Second); missing > 0 {
			t.Fatalf("REST room caller %d not answered", i+1)
		}
		if i == 0 {
			waitMembers(ctx, t, home, clusterRESTRoom, 1)
		}
	}
	sm := waitMembers(ctx, t, home, clusterRESTRoom, 2)
	homeCall := ""
	for cu, from := range sm {
		if strings.HasSuffix(from, "9901") {
			homeCall = cu
		}
	}
	if homeCall == "" {
		t.Fatalf("no member of %s from node 1's caller: %v", clusterRESTRoom, sm)
	}
	fmt.Printf("\nREST requests, load average %s\n\n", loadAvg())
	rest = append(rest, restPair(ctx, t, home, other, "GET Conference/{name}/", "2 members",
		kit.AccountPath("/Conference/"+clusterRESTRoom+"/"), restCount))
	rest = append(rest, restPair(ctx, t, home, other, "GET Call/{uuid}/?status=live", "a member of the 2-member room",
		kit.AccountPath("/Call/"+homeCall+"/?status=live"), restCount))
	fmt.Print(restTable(rest))
	restClient.Close()
	waitCallsGone(ctx, home, other)

	// The sound check last, with every call hung up: it keeps the test process busy on both
	// cores for seconds, which in a window would starve the nodes (and their heartbeats).
	for i := range windows {
		w := &windows[i]
		room := append(append([]*benchPhone(nil), w.local...), w.remote...)
		w.SoundLocal = soundOf(w.local, room, checked, w.from, w.to, level)
		w.SoundRemote = soundOf(w.remote, room, checked, w.from, w.to, level)
	}
	fmt.Println()
	fmt.Print(clusterCPUTable(windows, n))
	fmt.Printf("\nload average at the end: %s\n", loadAvg())
	if !home.Alive() || !other.Alive() {
		t.Fatalf("a node exited")
	}
}

// lateSends is how many frames the phones sent late so far (counted while measuring).
func lateSends(groups ...[]*benchPhone) int64 {
	var n int64
	for _, g := range groups {
		for _, p := range g {
			n += p.meter.late.Load()
		}
	}
	return n
}

// rxOf is the received packet rate of phones in [from, to).
func rxOf(phones []*benchPhone, from, to time.Time) rxStats {
	s := rxStats{N: len(phones), Min: math.Inf(1)}
	if len(phones) == 0 {
		return rxStats{}
	}
	for _, p := range phones {
		var k int
		var prev uint16
		for _, f := range p.call.Received() {
			if f.At.Before(from) || !f.At.Before(to) {
				continue
			}
			if k > 0 && f.Seq != prev+1 {
				s.SeqGaps++
			}
			prev = f.Seq
			k++
		}
		r := float64(k) / to.Sub(from).Seconds()
		s.Min = min(s.Min, r)
		s.Mean += r / float64(len(phones))
	}
	return s
}

// soundOf runs the sound check of the conference benchmark on the first k of phones, each of
// which should hear every other phone of room and not itself.
func soundOf(phones, room []*benchPhone, k int, from, to time.Time, level float64) soundStats {
	s := soundStats{MinSINAD: math.Inf(1), MaxOwn: math.Inf(-1)}
	for _, p := range phones[:min(k, len(phones))] {
		others := make([]int, 0, len(room))
		for _, o := range room {
			if o != p {
				others = append(others, o.freq)
			}
		}
		a := analyseMember(kit.Frames(p.call), from, to, others, p.freq, level)
		s.Members++
		s.Windows += a.Windows
		s.Clean += a.Clean
		s.GlitchFrames += a.GlitchFrames
		s.MinSINAD = min(s.MinSINAD, a.MinSINAD)
		s.WorstDev = max(s.WorstDev, a.WorstDev)
		s.MaxOwn = max(s.MaxOwn, a.WorstOwn)
	}
	return s
}

// countLines counts the lines of the file at path that hold every one of subs.
func countLines(path string, subs ...string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// waitMembers waits until room (on its home node) has want members and returns them as
// CallUUID → From.
func waitMembers(ctx context.Context, t *testing.T, node *kit.Server, room string, want int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body, err := node.Request(ctx, kit.AuthID, kit.AuthToken, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
		out := map[string]string{}
		if err == nil && st == http.StatusOK {
			ms, _ := body["members"].([]any)
			for _, raw := range ms {
				m, _ := raw.(map[string]any)
				cu, _ := m["call_uuid"].(string)
				from, _ := m["from"].(string)
				out[cu] = from
			}
			if len(out) == want {
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s: %d members (status %d, %v), want %d", room, len(out), st, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCallsGone waits up to a minute until no node has a live call.
func waitCallsGone(ctx context.Context, nodes ...*kit.Server) {
	deadline := time.Now().Add(60 * time.Second)
	for _, node := range nodes {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if m, err := metricsSnapshot(node); err == nil && liveCalls(m) == 0 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// liveCalls is parley_calls_live from a metrics snapshot, with or without the node_id label.
func liveCalls(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if k == "parley_calls_live" || strings.HasPrefix(k, "parley_calls_live{") {
			n += v
		}
	}
	return n
}

// restResult is one REST comparison: the same request sent to the node that serves it and to
// a node that forwards it there.
type restResult struct {
	Request, Subject  string
	Direct, Forwarded []float64 // ms
	Errors            int
	SameBody, Pairs   int // pairs whose two bodies were byte-identical but for api_id
	DirectBytes       int
	FirstDiff         string // where the bodies of the first differing pair part
}

// apiID matches the api_id field of a REST answer.
var apiID = regexp.MustCompile(`"api_id":"[^"]*"`)

// restPair sends count requests for path to direct and count to forwarding, alternating in a
// random order, one at a time on kept-alive connections, and times each from the request to the
// last byte of the body.
func restPair(ctx context.Context, t *testing.T, direct, forwarding *kit.Server, request, subject, path string, count int) restResult {
	t.Helper()
	r := restResult{Request: request, Subject: subject + ", served by " + nodeName(direct)}
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(node *kit.Server) ([]byte, float64, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", node.HTTP+path, nil)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("X-Auth-ID", kit.AuthID)
		req.Header.Set("X-Auth-Token", kit.AuthToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := float64(time.Since(t0)) / 1e6
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return body, d, err
	}
	// Warm both connections (and the forwarding node's NATS subscription) first.
	for _, node := range []*kit.Server{direct, forwarding} {
		if _, _, err := get(node); err != nil {
			t.Fatalf("%s %s through %s: %v", request, path, node.HTTP, err)
		}
	}
	for range count {
		var bodies [2][]byte
		order := []int{0, 1}
		if rand.N(2) == 1 {
			order = []int{1, 0}
		}
		for _, which := range order {
			node := direct
			if which == 1 {
				node = forwarding
			}
			body, ms, err := get(node)
			if err != nil {
				r.Errors++
				continue
			}
			bodies[which] = body
			if which == 0 {
				r.Direct = append(r.Direct, ms)
				r.DirectBytes = len(body)
			} else {
				r.Forwarded = append(r.Forwarded, ms)
			}
		}
		r.Pairs++
		// api_id is new in every answer; the rest should be the bytes the serving node wrote.
		bodies[0], bodies[1] = apiID.ReplaceAll(bodies[0], nil), apiID.ReplaceAll(bodies[1], nil)
		if bodies[0] != nil && string(bodies[0]) == string(bodies[1]) {
			r.SameBody++
		} else if r.FirstDiff == "" && bodies[0] != nil && bodies[1] != nil {
			r.FirstDiff = firstDiff(bodies[0], bodies[1])
		}
	}
	return r
}

// firstDiff shows where a and b part: a few bytes of each from 20 bytes before.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-20)
	cut := func(x []byte) string { return string(x[min(from, len(x)):min(i+30, len(x))]) }
	return fmt.Sprintf("byte %d: %q vs %q", i, cut(a), cut(b))
}

// nodeName is "node1" or "node2", from the name of the node's log file.
func nodeName(s *kit.Server) string {
	return strings.TrimSuffix(filepath.Base(s.LogPath()), ".log")
}

// clusterWindowLine is the progress line of one window.
func clusterWindowLine(w clusterWindow) string {
	sec := w.Wall.Seconds()
	return fmt.Sprintf("  %s: %d local + %d remote members: node1 %.3f cores, node2 %.3f cores, nats %.3f, test process %.2f, machine %.2f; rx pkt/s local %.1f/%.1f remote %.1f/%.1f; load %s→%s",
		w.Name, w.Local, w.Remote, w.Node[0].Seconds()/sec, w.Node[1].Seconds()/sec, w.NATS.Seconds()/sec, w.Self.Seconds()/sec,
		w.Machine.Seconds()/sec, w.RxLocal.Min, w.RxLocal.Mean, w.RxRemote.Min, w.RxRemote.Mean, w.Load0, w.Load1)
}

// clusterCPUTable renders the windows and the per-member figures as markdown.
func clusterCPUTable(ws []clusterWindow, n int) string {
	var b strings.Builder
	b.WriteString("Windows (CPU in cores = CPU seconds ÷ wall seconds of the window):\n\n")
	b.WriteString("| window | local + remote members | node1 | node2 | both nodes | nats-server | test process | machine busy (irq) | node RSS 1 / 2 | rx pkt/s local min/mean | rx pkt/s remote min/mean | RTP seq gaps | client sends ≥ 40 ms apart | sound check clean s (local / remote) | WARN/ERROR 1, 2 | load avg |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range ws {
		sec := w.Wall.Seconds()
		fmt.Fprintf(&b, "| %s | %d + %d | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f (%.2f) | %s / %s | %.1f / %.1f | %.1f / %.1f | %d | %d | %s / %s | %d/%d, %d/%d | %s→%s |\n",
			w.Name, w.Local, w.Remote, w.Node[0].Seconds()/sec, w.Node[1].Seconds()/sec, w.nodes().Seconds()/sec,
			w.NATS.Seconds()/sec, w.Self.Seconds()/sec, w.Machine.Seconds()/sec, w.IRQ.Seconds()/sec, w.RSS[0], w.RSS[1],
			w.RxLocal.Min, w.RxLocal.Mean, w.RxRemote.Min, w.RxRemote.Mean, w.RxLocal.SeqGaps+w.RxRemote.SeqGaps, w.LateSends,
			soundCell(w.SoundLocal), soundCell(w.SoundRemote), w.Logs[0].Warn, w.Logs[0].Error, w.Logs[1].Warn, w.Logs[1].Error, w.Load0, w.Load1)
	}
	if len(ws) < 4 {
		return b.String()
	}
	// CPU rate of one member in ms per second, from two windows: (a − b) ÷ N, per node.
	per := func(a, c clusterWindow) (n1, n2 float64) {
		f := func(x, y time.Duration, wx, wy time.Duration) float64 {
			return 1000 * (x.Seconds()/wx.Seconds() - y.Seconds()/wy.Seconds()) / float64(n)
		}
		return f(a.Node[0], c.Node[0], a.Wall, c.Wall), f(a.Node[1], c.Node[1], a.Wall, c.Wall)
	}
	w0, w1, w2, w3 := ws[0], ws[1], ws[2], ws[3]
	l1, l2 := per(w1, w0)
	r1, r2 := per(w3, w0)
	li1, li2 := per(w2, w3)
	ri1, ri2 := per(w2, w1)
	b.WriteString("\nCPU per member (ms of CPU per second of call; µs per 20 ms frame = ms/s × 20):\n\n")
	b.WriteString("| member | from | node1 ms/s | node2 ms/s | both nodes ms/s | µs per 20 ms | ratio to local |\n|---|---|---|---|---|---|---|\n")
	row := func(name, from string, a, c, base float64) {
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %.3f | %.1f | %.2f |\n", name, from, a, c, a+c, 20*(a+c), (a+c)/base)
	}
	row("local (call on the home)", "(W1 − W0) ÷ N", l1, l2, l1+l2)
	row("remote (call on node 2, room on node 1)", "(W3 − W0) ÷ N", r1, r2, l1+l2)
	row("local, second way", "(W2 − W3) ÷ N", li1, li2, li1+li2)
	row("remote, second way", "(W2 − W1) ÷ N", ri1, ri2, li1+li2)
	fmt.Fprintf(&b, "\nRatio remote ÷ local, both nodes summed: %.2f (W1, W3 against W0), %.2f (from W2).\n",
		(r1+r2)/(l1+l2), (ri1+ri2)/(li1+li2))
	return b.String()
}

func soundCell(s soundStats) string {
	if s.Members == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", s.Clean, s.Windows)
}

// restTable renders the REST comparisons as markdown.
func restTable(rs []restResult) string {
	var b strings.Builder
	b.WriteString("| request | room / call | sent to | n | p50 ms | p90 ms | p99 ms | max ms | added p50 / p99 ms | body bytes | identical bodies (but api_id) | errors |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		for i, xs := range [][]float64{r.Direct, r.Forwarded} {
			to, added := "the node that serves it", "–"
			if i == 1 {
				to = "the other node (forwards)"
				added = fmt.Sprintf("%.2f / %.2f", percentile(xs, 50)-percentile(r.Direct, 50), percentile(xs, 99)-percentile(r.Direct, 99))
			}
			mx := math.NaN()
			if len(xs) > 0 {
				mx = slices.Max(xs)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %d | %d/%d | %d |\n",
				r.Request, r.Subject, to, len(xs), percentile(xs, 50), percentile(xs, 90), percentile(xs, 99), mx, added,
				r.DirectBytes, r.SameBody, r.Pairs, r.Errors)
		}
	}
	for _, r := range rs {
		if r.FirstDiff != "" {
			fmt.Fprintf(&b, "\n- %s (%s): direct and forwarded bodies differ at %s", r.Request, r.Subject, r.FirstDiff)
		}
	}
	b.WriteString("\n")
	return b.String()
}
