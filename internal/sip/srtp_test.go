package sip

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// srtpPair is two RTP streams on loopback keyed for each other, as an SDES offer/answer leaves them.
func srtpPair(t *testing.T, suite string) (a, b *rtpStream) {
	t.Helper()
	listen := func() *rtpStream {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		r := newRTPStream(c)
		t.Cleanup(func() { _ = r.close() })
		return r
	}
	a, b = listen(), listen()
	addr := func(r *rtpStream) netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }
	a.setRemote(addr(b), true)
	b.setRemote(addr(a), true)
	ka, _ := newLocalCrypto(1, suite)
	kb, _ := newLocalCrypto(1, suite)
	sa, err := newSRTPSession(*ka, *kb)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := newSRTPSession(*kb, *ka)
	if err != nil {
		t.Fatal(err)
	}
	a.sec.Store(sa)
	b.sec.Store(sb)
	return a, b
}

func readWithin(t *testing.T, r *rtpStream, d time.Duration) (media.Packet, error) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	return r.read(buf)
}

func TestSRTPRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		suite  string
		tagLen int
	}{{suiteAES80, 10}, {suiteAES32, 4}} {
		t.Run(tc.suite, func(t *testing.T) {
			a, b := srtpPair(t, tc.suite)
			payload := bytes.Repeat([]byte{0x55}, 160)
			for i := 0; i < 3; i++ {
				if err := a.write(payload, 0, i == 0, 160); err != nil {
					t.Fatal(err)
				}
				p, err := readWithin(t, b, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.Payload, payload) || p.PayloadType != 0 {
					t.Fatalf("packet %d: got pt %d payload %x", i, p.PayloadType, p.Payload[:8])
				}
			}
			// On the wire: the payload is encrypted and carries the suite's tag.
			spy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer spy.Close()
			a.setRemote(spy.LocalAddr().(*net.UDPAddr).AddrPort(), true)
			if err := a.write(payload, 0, false, 160); err != nil {
				t.Fatal(err)
			}
			_ = spy.SetReadDeadline(time.Now().Add(time.Second))
			raw := make([]byte, 1500)
			n, err := spy.Read(raw)
			if err != nil {
				t.Fatal(err)
			}
			if n != rtpHeaderLen+len(payload)+tc.tagLen {
				t.Errorf("packet of %d bytes, want %d", n, rtpHeaderLen+len(payload)+tc.tagLen)
			}
			if bytes.Contains(raw[:n], payload[:16]) {
				t.Error("the payload travels in clear")
			}
		})
	}
}

func TestSRTPRefusesForgedAndReplayed(t *testing.T) {
	a, b := srtpPair(t, suiteAES80)
	bAddr := b.conn.LocalAddr().(*net.UDPAddr)
	// A plain RTP packet from the expected source: not authenticated, dropped.
	plain := make([]byte, rtpHeaderLen+160)
	putRTPHeader(plain, 0, false, 1, 160, 42)
	if _, err := a.conn.WriteToUDP(plain, bAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := readWithin(t, b, 200*time.Millisecond); err == nil {
		t.Fatal("plain RTP accepted on an SRTP stream")
	}
	// A real packet, then the same bytes again: the replay is refused.
	spy, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer spy.Close()
	a.setRemote(spy.LocalAddr().(*net.UDPAddr).AddrPort(), true)
	if err := a.write(make([]byte, 160), 0, false, 160); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 1500)
	_ = spy.SetReadDeadline(time.Now().Add(time.Second))
	n, err := spy.Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	b.setRemote(a.conn.LocalAddr().(*net.UDPAddr).AddrPort(), true)
	for i := 0; i < 2; i++ {
		if _, err := a.conn.WriteToUDP(raw[:n], bAddr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readWithin(t, b, time.Second); err != nil {
		t.Fatalf("the real packet: %v", err)
	}
	if _, err := readWithin(t, b, 200*time.Millisecond); err == nil {
		t.Fatal("a replayed packet was accepted")
	}
	if got := b.stats.foreign.Load(); got != 2 {
		t.Errorf("dropped %d packets, want 2 (forged, replayed)", got)
	}
}

func TestSRTPSprayOfSSRCsKeepsTheStream(t *testing.T) {
	a, b := srtpPair(t, suiteAES80)
	if err := a.write(make([]byte, 160), 0, false, 160); err != nil {
		t.Fatal(err)
	}
	if _, err := readWithin(t, b, time.Second); err != nil {
		t.Fatal(err)
	}
	sec := b.sec.Load()
	forged := make([]byte, rtpHeaderLen+170)
	for i := 0; i < 3*srtpMaxFailures; i++ {
		putRTPHeader(forged, 0, false, uint16(i), 0, uint32(1000+i))
		if _, err := sec.decrypt(forged); err == nil {
			t.Fatal("a forged packet authenticated")
		}
	}
	// The receiving context was rebuilt with the real stream's index: it still decrypts.
	if err := a.write(make([]byte, 160), 0, false, 160); err != nil {
		t.Fatal(err)
	}
	if _, err := readWithin(t, b, time.Second); err != nil {
		t.Fatalf("the real stream after the spray: %v", err)
	}
}

func TestAnswerMustMatchOffer(t *testing.T) {
	k80, _ := newLocalCrypto(1, suiteAES80)
	k32, _ := newLocalCrypto(1, suiteAES32)
	for _, tc := range []struct {
		name    string
		offered *sdesCrypto
		answer  *sdesCrypto
		ok      bool
	}{
		{"plain to plain", nil, nil, true},
		{"SRTP to SRTP", k80, k80, true},
		{"plain answer to SRTP offer", k80, nil, false},
		{"SRTP answer to plain offer", nil, k80, false},
		{"other suite", k80, k32, false},
	} {
		c := &legCore{localKey: tc.offered}
		if err := c.answerMatchesOfferLocked(negotiated{crypto: tc.answer}); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}
