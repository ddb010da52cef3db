package sip

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

func TestCallAudioBothWays(t *testing.T) {
	for _, tc := range []struct {
		transport string
		codec     media.Codec
	}{{"udp", media.PCMU}, {"tcp", media.PCMA}} {
		t.Run(tc.transport+"-"+tc.codec.String(), func(t *testing.T) {
			s, legs := startServer(t, 0, 0)
			c := newClient(t)
			ctx := context.Background()
			cl := dial(t, c, s, "1000", siptest.DialOptions{From: "+14155550100", FromDisplay: "Alice",
				Codec: tc.codec, Transport: tc.transport, Send: &tone{freq: 400}, Headers: map[string]string{"X-PH-Account": "acme", JoinHeader: "tok-1"}})
			leg := recvLeg(t, legs)
			info := leg.Info()
			if _, custom := info.CustomHeaders[JoinHeader]; info.JoinToken != "tok-1" || custom {
				t.Fatalf("join token %q (custom headers %v): want tok-1, apart from the X-PH-* headers", info.JoinToken, info.CustomHeaders)
			}
			if info.FromUser != "+14155550100" || info.FromDisplay != "Alice" || info.ToUser != "1000" || info.Transport != tc.transport ||
				info.CustomHeaders["X-PH-Account"] != "acme" || !info.Inbound || !info.Source.Addr().IsLoopback() {
				t.Fatalf("unexpected leg info %+v", info)
			}
			if err := leg.Ring(ctx); err != nil {
				t.Fatal(err)
			}
			if err := leg.Answer(ctx); err != nil {
				t.Fatal(err)
			}
			if leg.Media().Codec() != tc.codec || leg.Media().TelephoneEventPT() == 0 || !leg.Media().RemoteSendsMedia() {
				t.Fatalf("codec %v te %d sends %v", leg.Media().Codec(), leg.Media().TelephoneEventPT(), leg.Media().RemoteSendsMedia())
			}
			waitClosed(t, cl.Answered(), "answer")
			frames := exchangeTones(t, leg, cl)
			if frames[0].PT != tc.codec.PayloadType() {
				t.Errorf("client got PT %d", frames[0].PT)
			}

			if err := cl.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, leg.Done(), "leg end")
			if leg.EndedBy() != call.EndedRemoteBye {
				t.Errorf("EndedBy = %v, want remote BYE", leg.EndedBy())
			}
			if _, err := leg.Media().ReadPacket(make([]byte, 1500)); err == nil {
				t.Error("ReadPacket after end should fail")
			}
		})
	}
}

func TestServerHangsUp(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			s, legs := startServer(t, 41000, 41010)
			c := newClient(t)
			ctx := context.Background()
			cl := dial(t, c, s, "2000", siptest.DialOptions{Codec: media.PCMU, Transport: tr})
			leg := recvLeg(t, legs)
			if err := leg.Answer(ctx); err != nil {
				t.Fatal(err)
			}
			if err := leg.Answer(ctx); err != nil { // twice is a no-op
				t.Fatal(err)
			}
			waitClosed(t, cl.Answered(), "answer")
			if err := leg.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			if err := leg.Hangup(ctx); err != nil { // idempotent
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			byRemote, err := cl.WaitEnd(wctx)
			if err != nil || !byRemote {
				t.Fatalf("WaitEnd = %v, %v", byRemote, err)
			}
			if leg.EndedBy() != call.EndedLocal {
				t.Errorf("EndedBy = %v", leg.EndedBy())
			}
			if err := leg.Media().WriteRTP(make([]byte, 160), 0, false, 160); err == nil {
				t.Error("WriteRTP after hangup should fail")
			}
		})
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "3000", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	if err := leg.Ring(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !containsInt(cl.Responses(), 180) {
		if time.Now().After(deadline) {
			t.Fatalf("no 180, got %v", cl.Responses())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cl.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, leg.Done(), "leg end")
	if leg.EndedBy() != call.EndedRemoteCancel {
		t.Errorf("EndedBy = %v, want remote cancel", leg.EndedBy())
	}
	waitClosed(t, cl.Settled(), "final response")
	if st := cl.FinalStatus(); st != 487 {
		t.Errorf("final status %d, want 487", st)
	}
	if err := leg.Answer(ctx); err == nil {
		t.Error("Answer after CANCEL should fail")
	}
}

func TestReject(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	for _, status := range []int{404, 480, 486, 500, 503, 603} {
		t.Run(itoa(status), func(t *testing.T) {
			cl := dial(t, c, s, "4000", siptest.DialOptions{Codec: media.PCMA})
			leg := recvLeg(t, legs)
			if err := leg.Reject(status, "Nope", "Retry-After: 30"); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, cl.Settled(), "final response")
			if got := cl.FinalStatus(); got != status {
				t.Errorf("client saw %d, want %d", got, status)
			}
			if leg.EndedBy() != call.EndedLocal {
				t.Errorf("EndedBy = %v", leg.EndedBy())
			}
			if err := leg.Hangup(context.Background()); err != nil {
				t.Errorf("Hangup after reject: %v", err)
			}
		})
	}
}

func TestUnansweredHangupSends480(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	cl := dial(t, c, s, "4800", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	if err := leg.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Settled(), "final response")
	if cl.FinalStatus() != 480 {
		t.Errorf("status %d, want 480", cl.FinalStatus())
	}
}

func TestEarlyMediaThenAnswer(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "5000", siptest.DialOptions{Codec: media.PCMU, EarlyMedia: true})
	leg := recvLeg(t, legs)
	if err := leg.EarlyMedia(ctx); err != nil {
		t.Fatal(err)
	}
	playToneFor(leg, 700, 600*time.Millisecond)
	select {
	case <-cl.Answered():
		t.Fatal("answered too early")
	default:
	}
	early := cl.Received()
	if len(early) < 15 {
		t.Fatalf("early media: %d frames", len(early))
	}
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	answerAt := time.Now()
	playToneFor(leg, 1200, 500*time.Millisecond)
	pcmEarly := cl.ReceivedPCM(early[0].At, answerAt)
	if goertzel(pcmEarly, 700) < 1e5 {
		t.Errorf("no 700 Hz in early media")
	}
	after := cl.ReceivedPCM(answerAt.Add(100*time.Millisecond), time.Now())
	if len(after) == 0 || goertzel(after, 1200) < 1e5 {
		t.Errorf("no 1200 Hz after answer (%d samples)", len(after))
	}
	if !containsInt(cl.Responses(), 183) {
		t.Errorf("responses %v lack 183", cl.Responses())
	}
	cl.Hangup(ctx)
	waitClosed(t, leg.Done(), "leg end")
}

func TestDTMFPacketsPassThrough(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "6000", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	col := &collector{}
	go col.run(leg)
	if err := cl.SendDTMF("1#", siptest.DTMFOptions{FirstDurationZero: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_, pkts := col.snapshot()
	te := leg.Media().TelephoneEventPT()
	var events []media.Packet
	for _, p := range pkts {
		if p.PayloadType == te {
			events = append(events, p)
		}
	}
	if len(events) != 2*8 {
		t.Fatalf("got %d telephone-event packets, want 16", len(events))
	}
	first := events[0]
	if !first.Marker || first.Payload[0] != 1 || first.Payload[2] != 0 || first.Payload[3] != 0 {
		t.Errorf("first event packet %+v", first)
	}
	for _, p := range events[:8] {
		if p.Timestamp != first.Timestamp || p.SSRC != first.SSRC {
			t.Errorf("event packet timestamp/ssrc differ: %+v", p)
		}
	}
	if end := events[7]; end.Payload[1]&0x80 == 0 || events[8].Payload[0] != 11 {
		t.Errorf("end bit or second digit wrong: %+v %+v", end, events[8])
	}
	cl.Hangup(ctx)
}

func rawUDP(t *testing.T, s *Server, msg string) string {
	t.Helper()
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg = strings.ReplaceAll(msg, "LOCAL", local)
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	var out strings.Builder
	for {
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		out.Write(buf[:n])
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 1") {
			break
		}
	}
	return out.String()
}

func TestOptions(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	res := rawUDP(t, s, `OPTIONS sip:ping@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-opt1
From: <sip:tester@127.0.0.1>;tag=a1
To: <sip:ping@127.0.0.1>
Call-ID: opt-1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`)
	if !strings.HasPrefix(res, "SIP/2.0 200") || !strings.Contains(res, "INVITE") || !strings.Contains(res, "application/sdp") {
		t.Fatalf("OPTIONS answer:\n%s", res)
	}
}

func TestNoCommonCodec488(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	sdp := "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 30000 RTP/AVP 18\na=rtpmap:18 G729/8000\n"
	res := rawUDP(t, s, `INVITE sip:7000@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-inv488
From: <sip:tester@127.0.0.1>;tag=b1
To: <sip:7000@127.0.0.1>
Call-ID: inv-488
CSeq: 1 INVITE
Contact: <sip:tester@LOCAL>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: `+itoa(len(strings.ReplaceAll(sdp, "\n", "\r\n")))+`

`+sdp)
	if !strings.Contains(res, "SIP/2.0 100") || !strings.Contains(res, "SIP/2.0 488") {
		t.Fatalf("want 100 then 488, got:\n%s", res)
	}
	select {
	case <-legs:
		t.Fatal("handler must not see a call without a common codec")
	default:
	}
}

func TestGarbageDoesNotBreakServer(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"\x00\x01\x02garbage", "INVITE\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", strings.Repeat("A", 3000),
		"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n"} {
		conn.Write([]byte(g))
	}
	conn.Close()
	tc, err := net.Dial("tcp", s.Addr().String())
	if err == nil {
		tc.Write([]byte("GARBAGE GARBAGE\r\n\r\n\x00\xff"))
		tc.Close()
	}
	time.Sleep(100 * time.Millisecond)
	c := newClient(t)
	cl := dial(t, c, s, "8000", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	if err := leg.Answer(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	leg.Hangup(context.Background())
}

func TestStartPortTaken(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	s2, err := New(Options{ListenAddr: s.Addr().String(), Handler: func(context.Context, call.Leg) {}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err == nil {
		s2.Close()
		t.Fatal("second server on a taken port must fail")
	}
}

func TestRTPPortRange(t *testing.T) {
	a := newPortAllocator(42001, 42006)
	seen := map[int]bool{}
	var conns []io.Closer
	for i := 0; i < 3; i++ {
		c, err := a.listen(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		p := c.LocalAddr().(*net.UDPAddr).Port
		if p < 42002 || p > 42006 || p%2 != 0 || seen[p] {
			t.Errorf("port %d outside even range or reused", p)
		}
		seen[p] = true
	}
	if _, err := a.listen(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("range exhausted, want an error")
	}
	for _, c := range conns {
		c.Close()
	}
}
