package sip

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	sipgo "github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// startTLSServer runs a Server with a TLS listener on a fresh self-signed certificate and
// returns the client configuration that trusts it.
func startTLSServer(t *testing.T, srtp SRTPOptions) (*Server, chan call.Leg, *tls.Config) {
	t.Helper()
	certFile, keyFile, roots, err := siptest.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, legs := startServerOpts(t, Options{TLS: TLSOptions{ListenAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, SRTP: srtp}, nil)
	return s, legs, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

func tlsTarget(s *Server, user string) string {
	a, _ := s.TLSAddr()
	return "sip:" + user + "@" + a.String()
}

func TestTLSCallWithSRTPCarriesAudio(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport string
		srtp      bool
	}{{"tls-srtp", "tls", true}, {"tls-plain-rtp", "tls", false}, {"udp-srtp", "udp", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, legs, clientTLS := startTLSServer(t, SRTPOptions{})
			c := newClient(t)
			ctx := context.Background()
			to := target(s, "1000")
			if tc.transport == "tls" {
				to = tlsTarget(s, "1000")
			}
			cl, err := c.Dial(ctx, to, siptest.DialOptions{Codec: media.PCMU, Transport: tc.transport, TLS: clientTLS, SRTP: tc.srtp, Send: &tone{freq: 400}})
			if err != nil {
				t.Fatal(err)
			}
			leg := recvLeg(t, legs)
			if leg.Info().Transport != tc.transport {
				t.Errorf("transport %q, want %q", leg.Info().Transport, tc.transport)
			}
			if err := leg.Answer(ctx); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, cl.Answered(), "answer")
			answer := cl.AnswerSDP()
			if got := strings.Contains(answer, "RTP/SAVP") && strings.Contains(answer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"); got != tc.srtp {
				t.Fatalf("answer SRTP = %v, want %v:\n%s", got, tc.srtp, answer)
			}
			// Both directions decrypt: the phone (diago's own SRTP) hears our tone and we
			// hear the phone's, which only works with the keys each side announced.
			exchangeTones(t, leg, cl)
			// The server hangs up: its BYE reaches the phone over the phone's own connection.
			if err := leg.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			if byRemote, err := cl.WaitEnd(ctx); err != nil || !byRemote {
				t.Fatalf("phone saw the end: byRemote=%v err=%v", byRemote, err)
			}
		})
	}
}

func TestTLSListenerRefusesUntrustingAndPlain(t *testing.T) {
	s, _, _ := startTLSServer(t, SRTPOptions{})
	c := newClient(t)
	// A phone that does not trust the certificate never gets its INVITE through.
	cl, err := c.Dial(context.Background(), tlsTarget(s, "1000"), siptest.DialOptions{Codec: media.PCMU, Transport: "tls", TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Settled(), "the failed call")
	if cl.FinalStatus() == 200 {
		t.Fatal("call answered over an unverified TLS connection")
	}
	a, ok := s.TLSAddr()
	if !ok || a.Port() == 0 || a.Port() == s.Addr().Port() {
		t.Fatalf("TLS address %v %v", a, ok)
	}
}

func TestSRTPRequiredOverTLS(t *testing.T) {
	s, legs, clientTLS := startTLSServer(t, SRTPOptions{RequireOverTLS: true})
	c := newClient(t)
	cl, err := c.Dial(context.Background(), tlsTarget(s, "1000"), siptest.DialOptions{Codec: media.PCMU, Transport: "tls", TLS: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Settled(), "the refused call")
	if cl.FinalStatus() != 488 {
		t.Fatalf("status %d, want 488", cl.FinalStatus())
	}
	select {
	case <-legs:
		t.Fatal("a plain-RTP TLS call reached the handler")
	default:
	}
	// Over UDP the same offer is fine.
	cu := dial(t, c, s, "1000", siptest.DialOptions{Codec: media.PCMU})
	leg := recvLeg(t, legs)
	_ = leg.Answer(context.Background())
	waitClosed(t, cu.Answered(), "UDP answer")
}

func TestSAVPWithoutKey488(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	// An offer of RTP/SAVP whose only crypto line we cannot honour (unencrypted SRTP).
	sdp := "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 30000 RTP/SAVP 0\na=rtpmap:0 PCMU/8000\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP\n"
	res := rawUDP(t, s, `INVITE sip:7000@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-savp488
From: <sip:tester@127.0.0.1>;tag=b1
To: <sip:7000@127.0.0.1>
Call-ID: savp-488
CSeq: 1 INVITE
Contact: <sip:tester@LOCAL>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: `+itoa(len(strings.ReplaceAll(sdp, "\n", "\r\n")))+`

`+sdp)
	if !strings.Contains(res, "SIP/2.0 488") {
		t.Fatalf("want 488, got:\n%s", res)
	}
	select {
	case <-legs:
		t.Fatal("the call reached the handler")
	default:
	}
}

func TestURITransport(t *testing.T) {
	for _, tc := range []struct {
		uri, transport string
		port           int
	}{
		{"sip:a@h", "udp", 5060}, {"sip:a@h;transport=tcp", "tcp", 5060}, {"sip:a@h;transport=TLS", "tls", 5061},
		{"sips:a@h", "tls", 5061}, {"sips:a@h:5071", "tls", 5071},
	} {
		var u sipgo.Uri
		if err := sipgo.ParseUri(tc.uri, &u); err != nil {
			t.Fatal(err)
		}
		if tr, port := uriTransport(u); tr != tc.transport || port != tc.port {
			t.Errorf("%s: %s %d, want %s %d", tc.uri, tr, port, tc.transport, tc.port)
		}
	}
}

func TestDialOffersSRTP(t *testing.T) {
	s, _ := startServerOpts(t, Options{SRTP: SRTPOptions{Offer: true}}, nil)
	phone, contact := listenPhone(t, siptest.ListenOptions{Username: "bob", SRTP: true, Send: &tone{freq: 400}})
	leg, err := s.Dial(context.Background(), call.DialRequest{Target: contact, RingTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	in := incoming(t, phone)
	if st, err := waitAnswer(t, leg, 5*time.Second); st != 200 || err != nil {
		t.Fatalf("WaitAnswer = %d, %v", st, err)
	}
	waitClosed(t, in.Answered(), "phone answered")
	ol := leg.(*outboundLeg)
	ol.mu.Lock()
	negotiatedSRTP, offer := ol.neg.crypto != nil, string(ol.offer)
	ol.mu.Unlock()
	if !negotiatedSRTP || !strings.Contains(offer, "RTP/SAVP") || !strings.Contains(offer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("SRTP negotiated %v, offer:\n%s", negotiatedSRTP, offer)
	}
	exchangeTones(t, leg, in)
	_ = leg.Hangup(context.Background())
}
