package e2e

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestTLSAndSRTPCallCarriesAudio: a phone calls over SIP-TLS with SRTP (SDES keys), hears a
// <Play> and then meets a plain-RTP phone in a conference; audio flows every way. Parley is
// configured to require SRTP over TLS, so a TLS call with plain RTP is refused.
func TestTLSAndSRTPCallCarriesAudio(t *testing.T) {
	certFile, keyFile, roots, err := siptest.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const secureFrom, plainFrom = "14155550301", "14155550302"
	w := kit.NewApp(t)
	w.Tone("/tone.wav", 1000, 2*time.Second)
	w.DocsByFrom("/answer", map[string]string{
		secureFrom: `<Response><Play>` + w.URL("/tone.wav") + `</Play><Conference>Secure</Conference></Response>`,
		plainFrom:  `<Response><Conference>Secure</Conference></Response>`,
	})
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{
		"PARLEY_SIP_TLS_ADDR": "127.0.0.1:0", "PARLEY_SIP_TLS_CERT_FILE": certFile, "PARLEY_SIP_TLS_KEY_FILE": keyFile,
		"PARLEY_SRTP_REQUIRE_OVER_TLS": "true",
	}})
	if p.SIPTLS == "" {
		t.Fatal("parley announced no SIP-TLS listener")
	}
	clientTLS := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	target := "sip:14155550199@" + p.SIPTLS

	phone := kit.NewPhone(t, "127.0.0.1")
	secure, err := phone.Dial(kit.Context(t, 20*time.Second), target, siptest.DialOptions{From: "+" + secureFrom,
		Transport: "tls", TLS: clientTLS, SRTP: true, Send: media.Tone(500, 2*time.Minute, -10)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(secure.Close)
	kit.WaitAnswered(t, secure, "the TLS/SRTP call was not answered")
	answered := time.Now()
	answer := secure.AnswerSDP()
	if !strings.Contains(answer, "m=audio ") || !strings.Contains(answer, " RTP/SAVP ") || !strings.Contains(answer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("Parley's answer is not SRTP:\n%s", answer)
	}

	// The <Play> reaches the phone: only SRTP that authenticates with Parley's announced key
	// is decoded by the phone, so hearing it proves the packets on the wire were SRTP.
	deadline := time.Now().Add(5 * time.Second)
	for kit.ToneFramesSince(secure, 1000, answered) < 40 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := kit.ToneFramesSince(secure, 1000, answered); n < 40 {
		t.Fatalf("the TLS/SRTP phone heard %d frames of the played tone, want 40 (1 s of 2 s)", n)
	}

	// In the room, a plain-RTP phone hears the secure phone's tone, and the other way round.
	plain := kit.Dial(t, p, "14155550199", siptest.DialOptions{From: "+" + plainFrom, Send: media.Tone(700, 2*time.Minute, -10)})
	kit.WaitAnswered(t, plain, "the plain call was not answered")
	waitMembers(t, p, "Secure", 2)
	joined := time.Now()
	time.Sleep(2 * time.Second)
	if n := kit.ToneFramesSince(plain, 500, joined); n < 40 {
		t.Errorf("the plain phone heard %d frames of the SRTP phone's 500 Hz, want 40", n)
	}
	if n := kit.ToneFramesSince(secure, 700, joined); n < 40 {
		t.Errorf("the SRTP phone heard %d frames of the plain phone's 700 Hz, want 40", n)
	}

	// On the wire: what Parley sends the SRTP phone is 160 bytes of G.711 plus a 10-byte
	// authentication tag, and that payload, read as G.711, is not the 700 Hz the phone hears;
	// what it sends the plain phone is plain G.711 of the 500 Hz tone (the check can tell).
	checkWire := func(cl *siptest.Call, freq float64, wantSRTP bool) {
		t.Helper()
		pkts := sniffUDPFrom(t, cl.ServerRTP().Port(), time.Second)
		if len(pkts) < 20 {
			t.Fatalf("captured %d packets from Parley's RTP port %d in 1 s", len(pkts), cl.ServerRTP().Port())
		}
		tones, srtpSized := 0, 0
		for _, pkt := range pkts {
			if len(pkt) == 12+160+10 {
				srtpSized++
			}
			if len(pkt) < 12+160 {
				continue
			}
			pcm := make([]int16, 160)
			media.PCMU.Decode(pcm, pkt[12:172])
			if kit.FramesOf([]siptest.Frame{{PCM: pcm}})[0].IsTone(freq) {
				tones++
			}
		}
		if wantSRTP && (srtpSized != len(pkts) || tones > len(pkts)/10) {
			t.Errorf("SRTP stream: %d of %d packets SRTP-sized, %d carry the %v Hz tone in clear", srtpSized, len(pkts), tones, freq)
		}
		if !wantSRTP && (srtpSized != 0 || tones < len(pkts)/2) {
			t.Errorf("plain stream: %d of %d packets SRTP-sized, only %d carry the %v Hz tone", srtpSized, len(pkts), tones, freq)
		}
	}
	checkWire(secure, 700, true)
	checkWire(plain, 500, false)

	// Over TLS, plain RTP is refused (srtp_require_over_tls).
	refused, err := phone.Dial(kit.Context(t, 20*time.Second), target, siptest.DialOptions{From: "+" + plainFrom, Transport: "tls", TLS: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refused.Close)
	select {
	case <-refused.Settled():
	case <-time.After(10 * time.Second):
		t.Fatal("the plain-RTP TLS call got no final answer")
	}
	if refused.FinalStatus() != 488 {
		t.Errorf("a TLS call with plain RTP got %d, want 488", refused.FinalStatus())
	}

	// The phone hangs up over its TLS connection; Parley sees it: the member leaves.
	if err := secure.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, body := p.REST(t, "GET", kit.AccountPath("/Conference/Secure/"), nil)
		if ms, _ := body["members"].([]any); st == 404 || len(ms) < 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the TLS phone's BYE did not end its membership")
		}
	}
}
