package e2e

// Hostile traffic against the binary (issue 9): injected and sprayed RTP, digest brute force
// and replay, an INVITE flood and idle SIP-TCP and HTTP connections. Everything runs on 127.0.0.0/8 and
// is bounded in time; the attackers use 127.0.0.2 and up (loopback aliases work on Linux
// without setup), while 127.0.0.1 stays the only trusted gateway.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// onlyLoopbackTrusted makes 127.0.0.1 the only trusted gateway: other loopback addresses are
// strangers.
const onlyLoopbackTrusted = "127.0.0.1/32"

// rtpTone is an RTP sender of a PCMU tone with its own SSRC and numbering.
type rtpTone struct {
	src  media.Source
	ssrc uint32
	seq  uint16
	ts   uint32
	pcm  []int16
	pkt  []byte
}

func newRTPTone(freq float64) *rtpTone {
	return &rtpTone{src: media.Tone(freq, time.Hour, -6), ssrc: rand.Uint32(), seq: uint16(rand.Uint32()),
		pcm: make([]int16, media.FrameSamples), pkt: make([]byte, 12+media.FrameSamples)}
}

// next returns the next packet (valid until the next call).
func (g *rtpTone) next() []byte {
	_ = g.src.ReadFrame(g.pcm)
	g.pkt[0], g.pkt[1] = 0x80, 0
	g.pkt[2], g.pkt[3] = byte(g.seq>>8), byte(g.seq)
	for i := 0; i < 4; i++ {
		g.pkt[4+i] = byte(g.ts >> (24 - 8*i))
		g.pkt[8+i] = byte(g.ssrc >> (24 - 8*i))
	}
	media.PCMU.Encode(g.pkt[12:], g.pcm)
	g.seq++
	g.ts += media.FrameSamples
	return g.pkt
}

// listenUDP binds a UDP socket on ip; the test's cleanup closes it.
func listenUDP(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// metric reads one value from /metrics.
func metric(t *testing.T, p *kit.Server, name string) int64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(p.HTTP + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s missing", name)
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}

// TestHostileInjectedRTP: a tone sent to a member's RTP port from another address neither
// replaces the member's voice in the room nor draws a packet back.
func TestHostileInjectedRTP(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference>Injected</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	a := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: "+14155550101", Send: kit.ToneSource(400)})
	b := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: "+14155550102", Send: kit.ToneSource(700)})
	waitMembers(t, p, "Injected", 2)
	target := a.ServerRTP()
	if !target.IsValid() {
		t.Fatal("no RTP address for A")
	}
	inj := listenUDP(t, "127.0.0.2")
	stop := make(chan struct{})
	back := kit.CountIncoming(inj, stop)
	tone := newRTPTone(1000)
	dst := net.UDPAddrFromAddrPort(target)
	deadline := time.Now().Add(3 * time.Second)
	for tick := time.NewTicker(20 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		if _, err := inj.WriteToUDP(tone.next(), dst); err != nil {
			t.Fatal(err)
		}
	}
	lv := kit.ToneLevels(b, time.Second, 400, 1000)
	close(stop)
	if lv[400] < heardDBFS {
		t.Errorf("B hears A at %.1f dBFS during the injection, want above %.0f", lv[400], heardDBFS)
	}
	if lv[1000] > lv[400]-dropDB {
		t.Errorf("B hears the injected tone at %.1f dBFS (A at %.1f)", lv[1000], lv[400])
	}
	if n := back.Load(); n != 0 {
		t.Errorf("the injector got %d packets back", n)
	}
	if d := metric(t, p, "parley_rtp_dropped_total"); d < 100 {
		t.Errorf("parley_rtp_dropped_total = %d after 150 injected packets", d)
	}
}

// TestHostileRTPSpray: RTP sprayed over the whole port range does not hijack the audio of
// callers who join during the spray, and draws no packet back.
func TestHostileRTPSpray(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference>Sprayed</Conference></Response>`)
	w.OK("/hangup")
	const lo, hi = 32100, 32159 // 30 even ports: a small range keeps the spray rate modest
	p := suite.Start(t, kit.Options{App: w, RTPPorts: fmt.Sprintf("%d-%d", lo, hi)})

	spray := listenUDP(t, "127.0.0.2")
	stop := make(chan struct{})
	back := kit.CountIncoming(spray, stop)
	var sprayWG sync.WaitGroup
	sprayWG.Add(1)
	go func() { // one stream per port, each in sequence: as convincing as a spray gets
		defer sprayWG.Done()
		tones := map[int]*rtpTone{}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for port := lo; port <= hi; port += 2 {
				g := tones[port]
				if g == nil {
					g = newRTPTone(2500)
					tones[port] = g
				}
				_, _ = spray.WriteToUDP(g.next(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			}
		}
	}()
	defer func() { close(stop); sprayWG.Wait() }()

	time.Sleep(300 * time.Millisecond) // the spray is on before anyone joins
	freqs := []float64{400, 600, 800, 1000}
	calls := make([]*siptest.Call, len(freqs))
	for i, f := range freqs {
		calls[i] = kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199",
			siptest.DialOptions{From: fmt.Sprintf("+1415555011%d", i), Send: kit.ToneSource(f)})
	}
	waitMembers(t, p, "Sprayed", len(freqs))
	time.Sleep(1500 * time.Millisecond)
	for i, cl := range calls {
		// Each caller hears the next one, and never the spray.
		other := freqs[(i+1)%len(freqs)]
		lv := kit.ToneLevels(cl, time.Second, other, 2500)
		if lv[other] < heardDBFS {
			t.Errorf("caller %d hears %v Hz at %.1f dBFS during the spray", i, other, lv[other])
		}
		if lv[2500] > heardDBFS {
			t.Errorf("caller %d hears the spray at %.1f dBFS", i, lv[2500])
		}
		recent := 0
		for _, f := range kit.Frames(cl) {
			if f.At.After(time.Now().Add(-time.Second)) {
				recent++
			}
		}
		if recent < 40 {
			t.Errorf("caller %d received %d packets in the last second: its audio went elsewhere", i, recent)
		}
	}
	if n := back.Load(); n != 0 {
		t.Errorf("the sprayer got %d packets back", n)
	}
}

// TestHostileBruteForceAndReplay: wrong passwords from one address are answered a few times,
// then ignored (back-off, then a ban logged once), while a phone on another address still
// registers; a captured Authorization header replayed is refused.
func TestHostileBruteForceAndReplay(t *testing.T) {
	p := suite.Start(t, kit.Options{Env: map[string]string{
		"PARLEY_TRUSTED_GATEWAYS": onlyLoopbackTrusted, "PARLEY_SIP_AUTH_BACKOFF_AFTER": "3", "PARLEY_SIP_BAN_AFTER": "5",
		"PARLEY_SIP_REGISTER_RATE": "50", "PARLEY_SIP_REGISTER_BURST": "50"}})
	createEndpoint(t, p, "alice", "alice-secret-1", "")
	uri := "sip:" + p.SIP

	attacker := kit.NewRawUA(t, "127.0.0.3", p)
	answered, tries := 0, 0
	for start := time.Now(); time.Since(start) < 6*time.Second; {
		tries++
		chal := attacker.Register("alice", "", 150*time.Millisecond)
		if kit.Status(chal) != "401" {
			continue // ignored
		}
		res := attacker.Register("alice", kit.DigestFor(chal, "REGISTER", uri, "alice", fmt.Sprintf("guess-%d", tries), 1), 150*time.Millisecond)
		switch kit.Status(res) {
		case "200":
			t.Fatal("a guessed password was accepted")
		case "401":
			answered++
		}
	}
	t.Logf("brute force: %d attempts in 6 s, %d wrong passwords answered", tries, answered)
	if answered > 5 {
		t.Errorf("%d wrong passwords answered, want at most 5 (back-off after 3, ban after 5)", answered)
	}
	if !p.WaitLog(`msg="parley sip ban" source=127.0.0.3 user=alice reason=source-failures`, 2*time.Second) {
		t.Error("no ban line in the log")
	}
	if n := strings.Count(p.Logs(), `msg="parley sip ban"`); n != 1 {
		t.Errorf("%d ban lines, want 1", n)
	}
	// Banned: even a right password gets nothing.
	if res := attacker.Register("alice", "", 300*time.Millisecond); res != "" {
		t.Errorf("the banned source got %q", kit.Status(res))
	}
	if got := metric(t, p, "parley_sip_bans_total"); got != 1 {
		t.Errorf("parley_sip_bans_total = %d", got)
	}

	// Another source still registers, with the right password.
	phone := kit.NewPhone(t, "127.0.0.4")
	phone.Listen(t, siptest.ListenOptions{Username: "alice"})
	if err := phone.Register(t, p, "alice", "alice-secret-1"); err != nil {
		t.Fatalf("alice could not register from another address: %v", err)
	}

	// Replay: right credentials once, then the same Authorization header again.
	legit := kit.NewRawUA(t, "127.0.0.5", p)
	chal := legit.Register("alice", "", 2*time.Second)
	auth := kit.DigestFor(chal, "REGISTER", uri, "alice", "alice-secret-1", 1)
	if res := legit.Register("alice", auth, 2*time.Second); kit.Status(res) != "200" {
		t.Fatalf("right credentials: %q", kit.Status(res))
	}
	res := legit.Register("alice", auth, 2*time.Second)
	if kit.Status(res) != "401" || !strings.Contains(res, "stale=true") {
		t.Errorf("replayed Authorization: got %q, want 401 with stale=true", strings.SplitN(res, "\r\n", 2)[0])
	}
	if got := metric(t, p, "parley_sip_nonce_replays_total"); got != 1 {
		t.Errorf("parley_sip_nonce_replays_total = %d", got)
	}
}

// TestHostileInviteFlood: 3,000 INVITE/s for 3 s from an untrusted address get almost no
// responses, and calls from the trusted gateway are set up quickly all the while.
func TestHostileInviteFlood(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference>Held</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": onlyLoopbackTrusted, "PARLEY_LOG_LEVEL": "info"}})
	flooder := kit.NewRawUA(t, "127.0.0.6", p)
	stop := make(chan struct{})
	got := kit.CountIncoming(flooder.Conn, stop)
	const rate, secs = 3000, 3
	sent := 0
	var floodWG sync.WaitGroup
	floodWG.Add(1)
	go func() {
		defer floodWG.Done()
		sent = flooder.Flood("14155550199", rate, secs*time.Second)
	}()
	// Legit calls from the trusted gateway during the flood.
	var setups []time.Duration
	for start := time.Now(); time.Since(start) < secs*time.Second; {
		t0 := time.Now()
		cl := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{})
		setups = append(setups, time.Since(t0))
		cl.Hangup(kit.Context(t, 5*time.Second))
		time.Sleep(50 * time.Millisecond) // a steady trickle, not a load test of our own
	}
	floodWG.Wait()
	time.Sleep(time.Second)
	close(stop)
	sort.Slice(setups, func(i, j int) bool { return setups[i] < setups[j] })
	worst := setups[len(setups)-1]
	t.Logf("flood: %d INVITEs sent, %d responses; %d legit calls, set-up median %v, worst %v",
		sent, got.Load(), len(setups), setups[len(setups)/2], worst)
	if len(setups) < 3 || worst > time.Second {
		t.Errorf("legit calls during the flood: %d, worst set-up %v", len(setups), worst)
	}
	// What the INVITE budget admits (burst 20, then 5/s) gets 100 Trying and a 407, sent once;
	// the rest gets nothing.
	if r, budget := got.Load(), int64(2*(20+5*(secs+1))); r > budget || r > int64(sent/100) {
		t.Errorf("the flooder got %d responses to %d INVITEs, want at most %d", r, sent, budget)
	}
	if d := metric(t, p, "parley_sip_dropped_rate_total"); d < int64(sent*9/10) {
		t.Errorf("parley_sip_dropped_rate_total = %d of %d", d, sent)
	}
}

// TestHostileIdleTCP: 20,000 idle SIP-TCP connections (100 from each of 200 loopback sources,
// held by helper processes) against a total cap of 2,000 stop neither calls nor REST, and SIP
// over TCP works again once they are gone. The total cap turns the rest away (accepted and
// closed at once), the per-source cap keeps one address from taking it all.
func TestHostileIdleTCP(t *testing.T) {
	const total, perSource, capTotal = 20000, 100, 2000
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference>Held</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": onlyLoopbackTrusted,
		"PARLEY_SIP_TCP_MAX_CONNS": strconv.Itoa(capTotal), "PARLEY_SIP_TCP_MAX_CONNS_PER_SOURCE": strconv.Itoa(perSource),
		"PARLEY_LOG_LEVEL": "info"}})
	start := time.Now()
	held := holdIdleConns(t, p.SIP, total, perSource, 4, 21, "")
	t.Logf("%d SIP-TCP connections opened in %v", total, time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, p, "parley_sip_tcp_refused_total") < total-capTotal && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := metric(t, p, "parley_sip_tcp_conns"); n > capTotal {
		t.Errorf("%d SIP-TCP connections open, over the cap of %d", n, capTotal)
	}
	if n := metric(t, p, "parley_sip_tcp_refused_total"); n < total-capTotal {
		t.Errorf("%d connections refused, want at least %d", n, total-capTotal)
	}
	if n := held.open(t); n < capTotal-100 || n > capTotal {
		t.Errorf("%d of the held connections open, want the cap of %d", n, capTotal)
	}
	// Calls over UDP and REST work while the connections are held.
	callStart := time.Now()
	cl := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{})
	t.Logf("UDP call answered in %v while the connections are held", time.Since(callStart).Round(time.Millisecond))
	cl.Hangup(kit.Context(t, 5*time.Second))
	restStart := time.Now()
	if st, _ := p.REST(t, "GET", kit.AccountPath("/Call/"), nil); st != 200 {
		t.Errorf("REST during the TCP flood: %d", st)
	}
	if d := time.Since(restStart); d > time.Second {
		t.Errorf("REST during the TCP flood took %v", d)
	} else {
		t.Logf("REST answered in %v while the connections are held", d.Round(time.Millisecond))
	}
	held.close()
	deadline = time.Now().Add(10 * time.Second)
	for metric(t, p, "parley_sip_tcp_conns") > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	tcp := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{Transport: "tcp"})
	tcp.Hangup(kit.Context(t, 5*time.Second))
}

// TestHostileIdleHTTP: 20,000 idle HTTP connections (half send nothing, half the start of a
// request and never its end; held by helper processes) against http_max_conns of 2,000 stop
// neither REST nor calls, and the header timeout closes the ones still held. What keeps REST
// answering is the cap's eviction: when every slot is taken, a new connection takes the slot
// of the one that has waited longest without a request in progress, so idle connections only
// push each other out and a client that sends its request at once is served (the header
// timeout alone would leave REST queued behind thousands of idle connections).
func TestHostileIdleHTTP(t *testing.T) {
	const total, capTotal = 20000, 2000
	const headerTimeout = 3 * time.Second
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference>Held</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": onlyLoopbackTrusted,
		"PARLEY_HTTP_MAX_CONNS": strconv.Itoa(capTotal), "PARLEY_HTTP_READ_HEADER_TIMEOUT": headerTimeout.String(),
		"PARLEY_LOG_LEVEL": "info"}})
	// REST all the while the connections are opened and held, by turns from a keep-alive
	// client and on a new connection each time (which must win a slot of the cap).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	freshGET := func(ctx context.Context, path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", p.HTTP+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-Auth-ID", kit.AuthID)
		req.Header.Set("X-Auth-Token", kit.AuthToken)
		resp, err := fresh.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
	)
	stopREST := make(chan struct{})
	restDone := make(chan struct{})
	go func() {
		defer close(restDone)
		for i := 0; ; i++ {
			select {
			case <-stopREST:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx := kit.Context(t, 5*time.Second)
			t0 := time.Now()
			var st int
			var err error
			if i%2 == 0 {
				st, _, err = p.Request(ctx, kit.AuthID, kit.AuthToken, "GET", kit.AccountPath("/Call/"), nil)
			} else {
				st, err = freshGET(ctx, kit.AccountPath("/Call/"))
			}
			d := time.Since(t0)
			mu.Lock()
			latencies = append(latencies, d)
			if err != nil || st != 200 {
				failures = append(failures, fmt.Sprintf("%d %v", st, err))
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	held := holdIdleConns(t, strings.TrimPrefix(p.HTTP, "http://"), total, 100, 4, 22,
		"GET "+kit.AccountPath("/Call/")+" HTTP/1.1\r\nHost: parley\r\n")
	opened := time.Now()
	t.Logf("%d HTTP connections opened in %v", total, opened.Sub(start).Round(time.Millisecond))

	cl := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{})
	cl.Hangup(kit.Context(t, 5*time.Second))
	hc := http.Client{Timeout: 2 * time.Second}
	if resp, err := hc.Get(p.HTTP + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while the connections are held: %v", err)
	} else {
		resp.Body.Close()
	}
	// The cap holds: the server keeps at most capTotal of them. A holder also counts as open
	// the connections the kernel completed but the server has not accepted (and evicted) yet,
	// so this waits a little for the accept queue to drain.
	n := held.open(t)
	for deadline := time.Now().Add(2 * time.Second); n > capTotal && time.Now().Before(deadline); {
		n = held.open(t)
	}
	if n < capTotal-100 || n > capTotal {
		t.Errorf("%d of the held connections open, want about the cap of %d", n, capTotal)
	}
	t.Logf("%d of the held connections open (cap %d)", n, capTotal)
	time.Sleep(time.Until(opened.Add(headerTimeout + time.Second)))
	close(stopREST)
	<-restDone
	mu.Lock()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	n = len(latencies)
	if n < 20 {
		t.Fatalf("only %d REST requests completed", n)
	}
	p50, p99, slowest := latencies[n/2], latencies[n*99/100], latencies[n-1]
	t.Logf("REST while the connections were opened and held: %d requests, p50 %v p99 %v max %v",
		n, p50.Round(time.Microsecond), p99.Round(time.Microsecond), slowest.Round(time.Microsecond))
	if p99 > time.Second {
		t.Errorf("REST p99 %v while the connections are held, want under 1s", p99)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d REST requests failed, first: %s", len(failures), n, failures[0])
	}
	mu.Unlock()

	// The header timeout has closed the ones that still held slots.
	if n := held.open(t); n != 0 {
		t.Errorf("%d held connections still open after the header timeout", n)
	}
	held.close()
	if st, _ := p.REST(t, "GET", kit.AccountPath("/Call/"), nil); st != 200 {
		t.Errorf("REST after the connections closed: %d", st)
	}
	if resp, err := hc.Get(p.HTTP + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz after the connections closed: %v", err)
	} else {
		resp.Body.Close()
	}
}
