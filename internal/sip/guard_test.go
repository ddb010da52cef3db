package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/internal/sipguard"
)

// optionsBurst sends n OPTIONS from one socket and counts the responses that come back.
func optionsBurst(t *testing.T, s *Server, n int, userAgent string) int {
	t.Helper()
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-burst%d\r\n"+
			"From: <sip:tester@127.0.0.1>;tag=a%d\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: burst-%d@x\r\nCSeq: 1 OPTIONS\r\n"+
			"User-Agent: %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", local, i, i, i, userAgent)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			return got
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			got++
		}
	}
}

func TestRateLimitedSourceGetsSilence(t *testing.T) {
	g := sipguard.New(sipguard.Config{Logger: testLogger(), Options: sipguard.Limit{Rate: 0.01, Burst: 3}})
	s, _ := startServerOpts(t, Options{Guard: g}, nil)
	if got := optionsBurst(t, s, 10, "friendly-phone/1.0"); got != 3 {
		t.Errorf("%d answers to 10 OPTIONS with a burst of 3, want 3", got)
	}
	if st := g.Stats(); st.DroppedRate != 7 {
		t.Errorf("dropped for rate %d, want 7", st.DroppedRate)
	}
	// A trusted source has no limit.
	g2 := sipguard.New(sipguard.Config{Logger: testLogger(), Options: sipguard.Limit{Rate: 0.01, Burst: 3},
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	s2, _ := startServerOpts(t, Options{Guard: g2}, nil)
	if got := optionsBurst(t, s2, 10, "friendly-phone/1.0"); got != 10 {
		t.Errorf("trusted source: %d answers to 10 OPTIONS, want 10", got)
	}
}

func TestScannerGetsSilence(t *testing.T) {
	s, _ := startServerOpts(t, Options{}, nil)
	if got := optionsBurst(t, s, 2, "friendly-scanner"); got != 0 {
		t.Errorf("a scanner got %d answers, want none", got)
	}
}

// TestBruteForceBanned: wrong passwords from one address ban it (not even OPTIONS are
// answered then), while a phone on another address still registers.
func TestBruteForceBanned(t *testing.T) {
	g := sipguard.New(sipguard.Config{Logger: testLogger(), BackoffAfter: 100, BanAfter: 3})
	s, _ := startServerOpts(t, Options{Guard: g, Realm: "voice.example.com", Registrar: passwords{"alice": "secret-alice"}}, nil)
	registrar := "sip:" + s.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		c := newClient(t)
		err := c.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "guess"})
		var re *siptest.RegisterError
		if !errors.As(err, &re) || re.Status != 401 {
			t.Fatalf("guess %d: err = %v, want 401", i, err)
		}
	}
	if !g.Banned(netip.MustParseAddr("127.0.0.1"), time.Now()) {
		t.Fatal("127.0.0.1 not banned after 3 wrong passwords")
	}
	short, cancelShort := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancelShort()
	if err := newClient(t).Register(short, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "secret-alice"}); err == nil {
		t.Error("a banned source registered")
	}
	if got := optionsBurst(t, s, 1, "x"); got != 0 {
		t.Errorf("a banned source got %d answers", got)
	}
	other, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.2", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	if err := other.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "secret-alice"}); err != nil {
		t.Fatalf("another source could not register: %v", err)
	}
	if !s.Registered("alice") {
		t.Error("alice not registered")
	}
}

// burstCount sends n OPTIONS and counts the answers by status.
func burstCount(t *testing.T, s *Server, n int) map[string]int {
	t.Helper()
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	for i := 0; i < n; i++ {
		fmt.Fprintf(conn, "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-cap%d\r\n"+
			"From: <sip:tester@127.0.0.1>;tag=c%d\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: cap-%d@x\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", local, i, i, i)
	}
	got := map[string]int{}
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		m, err := conn.Read(buf)
		if err != nil {
			return got
		}
		if line, _, ok := strings.Cut(string(buf[:m]), "\r\n"); ok && len(line) >= 11 {
			got[line[8:11]]++
		}
	}
}

func TestPendingCap(t *testing.T) {
	// Untrusted: over the cap, silence. (A non-INVITE transaction lives on for Timer J, so
	// the first two stay pending during the test.)
	g := sipguard.New(sipguard.Config{Logger: testLogger(), Options: sipguard.Limit{Rate: -1}})
	s, _ := startServerOpts(t, Options{Guard: g, MaxPending: 2}, nil)
	if got := burstCount(t, s, 5); got["200"] != 2 || len(got) != 1 {
		t.Errorf("untrusted over the cap: answers %v, want 2×200 only", got)
	}
	if st := s.EdgeStats(); st.Shed != 3 || st.PendingTransactions != 2 {
		t.Errorf("stats %+v, want 3 shed and 2 pending", st)
	}
	// Trusted: 503 over the cap.
	g2 := sipguard.New(sipguard.Config{Logger: testLogger(), Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	s2, _ := startServerOpts(t, Options{Guard: g2, MaxPending: 2}, nil)
	if got := burstCount(t, s2, 5); got["200"] != 2 || got["503"] != 3 {
		t.Errorf("trusted over the cap: answers %v, want 2×200 and 3×503", got)
	}
}

func TestTCPConnectionCaps(t *testing.T) {
	s, _ := startServerOpts(t, Options{TCPMaxConns: 3, TCPMaxConnsPerSource: 2, TCPIdleTimeout: 400 * time.Millisecond}, nil)
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
		c, err := d.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedSoon says whether the server closed c (within a moment).
	closedSoon := func(c net.Conn, within time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(within))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	a1, a2 := dialFrom("127.0.0.1"), dialFrom("127.0.0.1")
	if !closedSoon(dialFrom("127.0.0.1"), 300*time.Millisecond) {
		t.Error("a third connection from one source was kept")
	}
	b1 := dialFrom("127.0.0.2")
	if !closedSoon(dialFrom("127.0.0.3"), 300*time.Millisecond) {
		t.Error("a fourth connection in total was kept")
	}
	// The idle ones are closed after the idle timeout, and SIP over TCP works again.
	for _, c := range []net.Conn{a1, a2, b1} {
		if !closedSoon(c, 2*time.Second) {
			t.Error("an idle connection was not closed")
		}
	}
	time.Sleep(50 * time.Millisecond)
	c := dialFrom("127.0.0.1")
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-tcp1\r\n"+
		"From: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: tcp-1@x\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", local)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP after the caps: %q, %v", buf[:n], err)
	}
	if st := s.EdgeStats(); st.TCPRefused != 2 {
		t.Errorf("refused %d, want 2", st.TCPRefused)
	}
}

// TestAcceptSurvivesErrors: an accept error (EMFILE) does not end the accept loop.
func TestAcceptSurvivesErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: inner, fails: 3}
	l := &tcpLimitListener{Listener: fl, log: testLogger(), perSource: map[netip.Addr]int{}}
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Accept returned %v after transient errors", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Accept did not recover")
	}
	inner.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener: %v", err)
	}
}

type flakyListener struct {
	net.Listener
	fails int
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("too many open files")}
	}
	return f.Listener.Accept()
}

// TestChallengeNotRetransmitted: a 407 to an untrusted source that never ACKs is sent once
// (the transaction ends at once), not retransmitted for 32 s.
func TestChallengeNotRetransmitted(t *testing.T) {
	s, _ := startServerOpts(t, Options{Realm: "voice.example.com", Registrar: passwords{"alice": "x"},
		Authenticate: func(context.Context, call.LegInfo, string) AuthDecision { return Challenge() }}, nil)
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"
	fmt.Fprintf(conn, "INVITE sip:7000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-chal1\r\n"+
		"From: <sip:tester@127.0.0.1>;tag=q1\r\nTo: <sip:7000@127.0.0.1>\r\nCall-ID: chal-1@x\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:tester@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		conn.LocalAddr(), conn.LocalAddr(), len(sdp), sdp)
	finals := 0
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(1800 * time.Millisecond); ; {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 407") {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("%d copies of the 407 in 1.8 s, want 1", finals)
	}
	if n := s.EdgeStats().PendingTransactions; n != 0 {
		t.Errorf("%d transactions still counted pending after the challenge ended them", n)
	}
}
