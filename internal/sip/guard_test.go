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
