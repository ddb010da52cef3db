package sip

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

func TestDialAnsweredAudioBothWays(t *testing.T) {
	for _, tc := range []struct {
		name        string
		calleeHangs bool
	}{{"callee hangs up", true}, {"we hang up", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startServer(t, 0, 0)
			phone, contact := listenPhone(t, siptest.ListenOptions{Username: "bob", AnswerAfter: 200 * time.Millisecond, Send: &tone{freq: 400}})
			prog := &progressLog{}
			leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact, FromUser: "+14155550100", FromDisplay: "Parley Test",
				Headers: map[string]string{"X-PH-Account": "acme"}, OnProgress: prog.on, RingTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			in := incoming(t, phone)
			if in.FromUser() != "+14155550100" || in.FromDisplay() != "Parley Test" || in.Header("X-PH-Account") != "acme" {
				t.Errorf("phone saw From %q %q, X-PH-Account %q", in.FromUser(), in.FromDisplay(), in.Header("X-PH-Account"))
			}
			if st, err := waitAnswer(t, leg, 5*time.Second); st != 200 || err != nil {
				t.Fatalf("WaitAnswer = %d, %v", st, err)
			}
			if err := leg.Answer(context.Background()); err != nil {
				t.Fatalf("Answer on an answered outbound leg: %v", err)
			}
			if got := prog.get(); len(got) != 1 || got[0] != "180" {
				t.Errorf("progress calls %v, want [180]", got)
			}
			info := leg.Info()
			if info.Inbound || info.ToUser != "bob" || info.FromUser != "+14155550100" || info.CallID == "" || info.CustomHeaders["X-PH-Account"] != "acme" {
				t.Errorf("leg info %+v", info)
			}
			if leg.Media().Codec() != media.PCMU || leg.Media().TelephoneEventPT() == 0 || !leg.Media().RemoteSendsMedia() {
				t.Fatalf("codec %v te %d sends %v", leg.Media().Codec(), leg.Media().TelephoneEventPT(), leg.Media().RemoteSendsMedia())
			}
			waitClosed(t, in.Answered(), "phone answered")
			exchangeTones(t, leg, in)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.calleeHangs {
				if err := in.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
				waitClosed(t, leg.Done(), "leg end")
				if leg.EndedBy() != call.EndedRemoteBye {
					t.Errorf("EndedBy = %v, want remote BYE", leg.EndedBy())
				}
			} else {
				if err := leg.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
				if byRemote, err := in.WaitEnd(ctx); err != nil || !byRemote {
					t.Fatalf("phone WaitEnd = %v, %v", byRemote, err)
				}
				if leg.EndedBy() != call.EndedLocal {
					t.Errorf("EndedBy = %v, want local", leg.EndedBy())
				}
			}
			if _, err := leg.Media().ReadPacket(make([]byte, 1500)); err == nil {
				t.Error("ReadPacket after end should fail")
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	for _, status := range []int{486, 603, 404} {
		t.Run(itoa(status), func(t *testing.T) {
			phone, contact := listenPhone(t, siptest.ListenOptions{Reject: status})
			leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact, FromUser: "1000"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := waitAnswer(t, leg, 5*time.Second)
			if st != status || !errors.Is(err, call.ErrRefused) {
				t.Fatalf("WaitAnswer = %d, %v; want %d refused", st, err, status)
			}
			waitClosed(t, leg.Done(), "leg end")
			if err := leg.Answer(context.Background()); err == nil {
				t.Error("Answer of a refused leg should fail")
			}
			if err := leg.Hangup(context.Background()); err != nil {
				t.Errorf("Hangup after refusal: %v", err)
			}
			in := incoming(t, phone)
			waitClosed(t, in.Settled(), "phone final response")
			if in.FinalStatus() != status {
				t.Errorf("phone final status %d", in.FinalStatus())
			}
		})
	}
}

func TestDialRingTimeoutCancels(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	phone, contact := listenPhone(t, siptest.ListenOptions{NeverAnswer: true})
	start := time.Now()
	leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact, RingTimeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := waitAnswer(t, leg, 5*time.Second)
	if !errors.Is(err, call.ErrRingTimeout) || st != 0 {
		t.Fatalf("WaitAnswer = %d, %v; want ring timeout", st, err)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 2*time.Second {
		t.Errorf("ring timeout after %v", d)
	}
	in := incoming(t, phone)
	waitClosed(t, in.Settled(), "phone sees the CANCEL")
	if in.FinalStatus() != 487 {
		t.Errorf("phone final status %d, want 487", in.FinalStatus())
	}
	if leg.EndedBy() != call.EndedLocal {
		t.Errorf("EndedBy = %v", leg.EndedBy())
	}
}

func TestDialCancelAndHangupBeforeAnswer(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	for _, viaHangup := range []bool{false, true} {
		phone, contact := listenPhone(t, siptest.ListenOptions{NeverAnswer: true})
		leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact})
		if err != nil {
			t.Fatal(err)
		}
		in := incoming(t, phone)
		deadline := time.Now().Add(3 * time.Second)
		for !containsInt(in.Responses(), 180) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if viaHangup {
			leg.Hangup(context.Background())
		} else {
			leg.Cancel()
		}
		if st, err := waitAnswer(t, leg, time.Second); !errors.Is(err, call.ErrDialCanceled) || st != 0 {
			t.Fatalf("WaitAnswer = %d, %v", st, err)
		}
		waitClosed(t, in.Settled(), "phone sees the CANCEL")
		if in.FinalStatus() != 487 {
			t.Errorf("phone final status %d, want 487", in.FinalStatus())
		}
	}
}

func TestDialNoResponse(t *testing.T) {
	s, _ := startServerOpts(t, Options{NoResponseTimeout: time.Second}, nil)
	// A socket that reads INVITEs and never answers.
	hole, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	for _, target := range []string{"sip:nobody@" + hole.LocalAddr().String(), "sip:nobody@localhost:9"} {
		start := time.Now()
		leg, err := s.Dial(context.Background(), call.DialRequest{Target: target})
		if err != nil {
			t.Fatal(err)
		}
		st, err := waitAnswer(t, leg, 5*time.Second)
		if st != 0 || !errors.Is(err, call.ErrNoResponse) {
			t.Fatalf("%s: WaitAnswer = %d, %v; want no response", target, st, err)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Errorf("%s: gave up after %v", target, d)
		}
		waitClosed(t, leg.Done(), "leg end")
	}
}

func TestDialBadRequests(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	for _, req := range []call.DialRequest{
		{Target: "sips:alice@127.0.0.1;transport=udp"},
		{Target: "tel:+14155550100"},
		{Target: "not a uri"},
		{Target: "sip:alice@127.0.0.1;transport=sctp"},
		{Target: "sip:alice@no-such-host.invalid"},
		{Target: "sip:alice@127.0.0.1", Headers: map[string]string{"X-PH-Bad": "a\r\nVia: evil"}},
		{Target: "sip:alice@127.0.0.1", Headers: map[string]string{"Call-ID": "mine"}},
		{Target: "sip:alice@127.0.0.1", FromUser: "a b<c>"},
		{Target: "sip:alice@example.com", Contacts: []string{"sip:alice@127.0.0.1;transport=ws", "garbage"}},
	} {
		if leg, err := s.Dial(context.Background(), req); err == nil {
			leg.Hangup(context.Background())
			t.Errorf("Dial(%+v) should fail", req)
		}
	}
}

func TestDialEarlyMedia(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	phone, contact := listenPhone(t, siptest.ListenOptions{EarlyMedia: true, AnswerAfter: 1500 * time.Millisecond, Send: &tone{freq: 600}})
	prog := &progressLog{}
	leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact, OnProgress: prog.on})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	go col.run(leg)
	stop := make(chan struct{})
	go playTone(leg, 900, stop)
	defer close(stop)
	in := incoming(t, phone)
	time.Sleep(900 * time.Millisecond)
	select {
	case <-in.Answered():
		t.Fatal("answered too early")
	default:
	}
	early, _ := col.snapshot()
	if len(early) < 20*160 || goertzel(early, 600) < 1e5 {
		t.Fatalf("early media from the phone: %d samples, 600 Hz power %.0f", len(early), goertzel(early, 600))
	}
	if fr := in.Received(); len(fr) < 15 || goertzel(in.ReceivedPCM(fr[0].At, time.Now()), 900) < 1e5 {
		t.Fatalf("phone got %d early frames without our 900 Hz", len(fr))
	}
	if got := prog.get(); len(got) != 1 || got[0] != "183+sdp" {
		t.Errorf("progress %v, want [183+sdp]", got)
	}
	if st, err := waitAnswer(t, leg, 5*time.Second); st != 200 || err != nil {
		t.Fatalf("WaitAnswer = %d, %v", st, err)
	}
	leg.Hangup(context.Background())
}

func TestRegisterAndDialContacts(t *testing.T) {
	clock := &fakeClock{}
	s, _ := startServerOpts(t, Options{Realm: "voice.example.com", Registrar: passwords{"alice": "secret-alice"}}, clock)
	registrar := "sip:" + s.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A busy-free ringing phone and one that answers: the answering one wins.
	slow, slowContact := listenPhone(t, siptest.ListenOptions{Username: "alice", NeverAnswer: true})
	fast, fastContact := listenPhone(t, siptest.ListenOptions{Username: "alice", AnswerAfter: 300 * time.Millisecond, Send: &tone{freq: 500}})
	for _, c := range []*siptest.Client{slow, fast} {
		if err := c.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "secret-alice", Expires: 120 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	contacts := s.Contacts("alice")
	if len(contacts) != 2 || !s.Registered("alice") || s.Registered("bob") {
		t.Fatalf("contacts %v", contacts)
	}
	for _, want := range []string{slowContact, fastContact} {
		found := false
		for _, c := range contacts {
			found = found || strings.HasPrefix(c, want)
		}
		if !found {
			t.Errorf("contact %s missing from %v", want, contacts)
		}
	}

	leg, err := s.Dial(ctx, call.DialRequest{Target: "sip:alice@voice.example.com", Contacts: contacts, FromUser: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := waitAnswer(t, leg, 5*time.Second); st != 200 || err != nil {
		t.Fatalf("WaitAnswer = %d, %v", st, err)
	}
	inSlow, inFast := incoming(t, slow), incoming(t, fast)
	waitClosed(t, inSlow.Settled(), "losing phone cancelled")
	if inSlow.FinalStatus() != 487 {
		t.Errorf("losing phone final status %d, want 487", inSlow.FinalStatus())
	}
	waitClosed(t, inFast.Answered(), "winning phone answered")
	col := &collector{}
	go col.run(leg)
	time.Sleep(400 * time.Millisecond)
	if pcm, _ := col.snapshot(); goertzel(pcm, 500) < 1e5 {
		t.Errorf("no audio from the winning phone")
	}
	leg.Hangup(ctx)

	// Expiry: 120 s asked; alive at 119 s, gone at 121 s.
	clock.advance(119 * time.Second)
	if len(s.Contacts("alice")) != 2 {
		t.Errorf("registrations expired early")
	}
	clock.advance(2 * time.Second)
	if s.Registered("alice") {
		t.Errorf("registrations did not expire: %v", s.Contacts("alice"))
	}

	// Un-REGISTER and Unregister.
	if err := fast.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "secret-alice"}); err != nil {
		t.Fatal(err)
	}
	if !s.Registered("alice") {
		t.Fatal("re-registration lost")
	}
	if err := fast.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Registered("alice") {
		t.Errorf("Contact * did not remove the registration")
	}
	if err := slow.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: "alice", Password: "secret-alice"}); err != nil {
		t.Fatal(err)
	}
	s.Unregister("alice")
	if s.Registered("alice") {
		t.Errorf("Unregister did not remove the registration")
	}
}

func TestRegisterRefused(t *testing.T) {
	s, _ := startServerOpts(t, Options{Realm: "voice.example.com", Registrar: passwords{"alice": "secret-alice"}}, nil)
	registrar := "sip:" + s.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ user, password string }{{"alice", "wrong"}, {"mallory", "whatever"}, {"alice", ""}} {
		c := newClient(t)
		err := c.Register(ctx, siptest.RegisterOptions{Registrar: registrar, Username: tc.user, Password: tc.password})
		var re *siptest.RegisterError
		if !errors.As(err, &re) || re.Status != 401 {
			t.Errorf("%s/%q: err = %v, want 401", tc.user, tc.password, err)
		}
	}
	if s.Registered("alice") || s.Registered("mallory") {
		t.Error("a refused REGISTER left a registration")
	}
	// Without a Registrar, REGISTER is forbidden.
	s2, _ := startServer(t, 0, 0)
	c := newClient(t)
	err := c.Register(ctx, siptest.RegisterOptions{Registrar: "sip:" + s2.Addr().String(), Username: "alice", Password: "x"})
	var re *siptest.RegisterError
	if !errors.As(err, &re) || re.Status != 403 {
		t.Errorf("no registrar: err = %v, want 403", err)
	}
}

func TestRegisterExpiryClamped(t *testing.T) {
	s, _ := startServerOpts(t, Options{Realm: "r", Registrar: passwords{"alice": "pw-alice-1"}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ask  time.Duration
		want int
	}{{10 * time.Second, 60}, {7200 * time.Second, 3600}, {0, 3600}, {300 * time.Second, 300}} {
		c := newClient(t)
		if err := c.Register(ctx, siptest.RegisterOptions{Registrar: "sip:" + s.Addr().String(), Username: "alice", Password: "pw-alice-1", Expires: tc.ask}); err != nil {
			t.Fatal(err)
		}
		b, ok := s.bindingFor(contactKeyOf(t, c.Contact()))
		if !ok {
			t.Fatalf("no binding for %s in %v", c.Contact(), s.Contacts("alice"))
		}
		if got := int(time.Until(b.expires).Round(time.Second) / time.Second); got != tc.want {
			t.Errorf("asked %v: expires in %d s, want %d", tc.ask, got, tc.want)
		}
		s.Unregister("alice")
	}
}

// contactKeyOf finds the registered key of a phone contact (the phone adds ;transport=udp).
func contactKeyOf(t *testing.T, contact string) string {
	t.Helper()
	return contact + ";transport=udp"
}

func TestInviteChallenge(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	auth := func(ctx context.Context, info call.LegInfo, authUser string) AuthDecision {
		mu.Lock()
		seen = append(seen, info.ToUser+"/"+authUser)
		mu.Unlock()
		switch {
		case authUser != "":
			return Accept()
		case info.ToUser == "public":
			return Accept()
		case info.ToUser == "nowhere":
			return Reject(404, "")
		}
		return Challenge()
	}
	s, legs := startServerOpts(t, Options{Realm: "voice.example.com", Registrar: passwords{"alice": "secret-alice"}, Authenticate: auth}, nil)
	c := newClient(t)
	ctx := context.Background()
	dialAs := func(user, username, password string) *siptest.Call {
		t.Helper()
		return dial(t, c, s, user, siptest.DialOptions{Codec: media.PCMU, From: "alice", Username: username, Password: password})
	}

	cl := dialAs("1000", "alice", "secret-alice")
	leg := recvLeg(t, legs)
	au, ok := leg.(Authenticated)
	if !ok || au.AuthenticatedUser() != "alice" {
		t.Fatalf("leg authenticated user = %v", au)
	}
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	if !containsInt(cl.Responses(), 407) {
		t.Errorf("responses %v lack the 407 challenge", cl.Responses())
	}
	cl.Hangup(ctx)
	waitClosed(t, leg.Done(), "leg end")

	for _, tc := range []struct {
		user, username, password string
		want                     int
	}{
		{"1000", "alice", "wrong-password", 403},
		{"1000", "mallory", "whatever", 403},
		{"1000", "", "", 407},
		{"nowhere", "", "", 404},
	} {
		cl := dialAs(tc.user, tc.username, tc.password)
		waitClosed(t, cl.Settled(), "final response")
		if cl.FinalStatus() != tc.want {
			t.Errorf("%+v: status %d, want %d", tc, cl.FinalStatus(), tc.want)
		}
	}
	cl = dialAs("public", "", "")
	leg = recvLeg(t, legs)
	if au := leg.(Authenticated).AuthenticatedUser(); au != "" {
		t.Errorf("public call authenticated as %q", au)
	}
	leg.Reject(486, "Busy Here")
	waitClosed(t, cl.Settled(), "final response")
	select {
	case l := <-legs:
		t.Fatalf("a refused INVITE reached the handler: %+v", l.Info())
	default:
	}
}

// TestDialAnswersChallenge dials a second server that challenges: our digest client
// against our digest server, with a stale nonce retry left to the far end.
func TestDialAnswersChallenge(t *testing.T) {
	far, farLegs := startServerOpts(t, Options{Realm: "far.example.com", Registrar: passwords{"trunk": "trunk-secret"},
		Authenticate: func(_ context.Context, _ call.LegInfo, user string) AuthDecision {
			if user == "" {
				return Challenge()
			}
			return Accept()
		}}, nil)
	s, _ := startServer(t, 0, 0)
	for _, tc := range []struct {
		password string
		want     int
	}{{"trunk-secret", 200}, {"bad", 403}, {"", 407}} {
		leg, err := s.Dial(context.Background(), call.DialRequest{Target: target(far, "5000"), Username: "trunk", Password: tc.password})
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == 200 {
			fl := recvLeg(t, farLegs)
			if fl.(Authenticated).AuthenticatedUser() != "trunk" {
				t.Errorf("far end saw user %q", fl.(Authenticated).AuthenticatedUser())
			}
			go fl.Answer(context.Background())
		}
		st, err := waitAnswer(t, leg, 5*time.Second)
		if st != tc.want {
			t.Errorf("password %q: WaitAnswer = %d, %v; want %d", tc.password, st, err, tc.want)
		}
		leg.Hangup(context.Background())
	}
}
