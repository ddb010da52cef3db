package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

func TestParseInfoDTMF(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= *\r\nDuration=100", '*', true},
		{"Application/DTMF-Relay; charset=x", "signal=11\r\n", '#', true},
		{"application/dtmf-relay", "Signal=10", '*', true},
		{"application/dtmf-relay", "Signal=d", 'D', true},
		{"application/dtmf", "7", '7', true},
		{"application/dtmf-relay", "Duration=160", 0, false},
		{"application/dtmf-relay", "Signal=12", 0, false},
		{"application/sdp", "Signal=5", 0, false},
		{"", "", 0, false},
	} {
		got, ok := parseInfoDTMF(tc.ct, []byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInfoDTMF(%q, %q) = %q %v, want %q %v", tc.ct, tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseInfoDTMF checks that any INFO body is either refused or yields one DTMF digit.
func FuzzParseInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
	f.Add("application/dtmf", "#")
	f.Add("application/dtmf-relay; x=y", "Signal=11")
	f.Fuzz(func(t *testing.T, ct, body string) {
		d, ok := parseInfoDTMF(ct, []byte(body))
		if ok && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("parseInfoDTMF(%q, %q) = %q", ct, body, d)
		}
	})
}

// TestSendInfoDigitRequest checks the INFO a leg sends for a digit and how the answer is read,
// with a fake in-dialog sender.
func TestSendInfoDigitRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		digit    rune
		duration time.Duration
		status   int
		sendErr  error
		wantBody string // "" when nothing must be sent
		wantErr  string
	}{
		{"digit", '5', 100 * time.Millisecond, 200, nil, "Signal=5\r\nDuration=100\r\n", ""},
		{"star", '*', 250 * time.Millisecond, 200, nil, "Signal=*\r\nDuration=250\r\n", ""},
		{"hash default duration", '#', 0, 202, nil, "Signal=#\r\nDuration=100\r\n", ""},
		{"lower-case letter", 'b', 100 * time.Millisecond, 200, nil, "Signal=B\r\nDuration=100\r\n", ""},
		{"refused", '1', 100 * time.Millisecond, 415, nil, "Signal=1\r\nDuration=100\r\n", "415"},
		{"no answer", '1', 100 * time.Millisecond, 0, context.DeadlineExceeded, "Signal=1\r\nDuration=100\r\n", "deadline"},
		{"not a digit", 'x', 100 * time.Millisecond, 200, nil, "", "not a DTMF digit"},
		{"pause is not a digit", 'w', 100 * time.Millisecond, 200, nil, "", "not a DTMF digit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLegCore(nil, testLogger(), netip.MustParseAddr("127.0.0.1"))
			var gotBody, gotCT string
			var gotMethod sip.RequestMethod
			sent := 0
			err := c.sendInfoDigit(context.Background(), tc.digit, tc.duration,
				func(ctx context.Context, m sip.RequestMethod, ct string, body []byte) (*sip.Response, error) {
					sent++
					gotMethod, gotCT, gotBody = m, ct, string(body)
					if _, ok := ctx.Deadline(); !ok {
						t.Error("the request has no deadline")
					}
					if tc.sendErr != nil {
						return nil, tc.sendErr
					}
					req := sip.NewRequest(m, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
					return sip.NewResponseFromRequest(req, tc.status, "X", nil), nil
				})
			if tc.wantBody == "" {
				if sent != 0 {
					t.Errorf("sent %d requests, want none", sent)
				}
			} else {
				if sent != 1 || gotMethod != sip.INFO || gotCT != "application/dtmf-relay" || gotBody != tc.wantBody {
					t.Errorf("sent %d: %s %q %q, want INFO application/dtmf-relay %q", sent, gotMethod, gotCT, gotBody, tc.wantBody)
				}
				if d, ok := parseInfoDTMF(gotCT, []byte(gotBody)); !ok || d != []rune(strings.ToUpper(string(tc.digit)))[0] {
					t.Errorf("our own parser reads %q %v", d, ok)
				}
			}
			if tc.wantErr == "" && err != nil {
				t.Errorf("error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}

func TestSendInfoDigitInbound(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			s, legs := startServer(t, 0, 0)
			c := newClient(t)
			ctx := context.Background()
			cl := dial(t, c, s, "3000", siptest.DialOptions{Codec: media.PCMU, Transport: tr, NoTelephoneEvent: true})
			leg := recvLeg(t, legs)
			sender, ok := leg.(call.InfoDigitSender)
			if !ok {
				t.Fatal("inbound leg is not a call.InfoDigitSender")
			}
			if err := sender.SendInfoDigit(ctx, '5', 100*time.Millisecond); err == nil {
				t.Error("SendInfoDigit before answer should fail")
			}
			if err := leg.Answer(ctx); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, cl.Answered(), "answer")
			if pt := leg.Media().TelephoneEventPT(); pt != 0 {
				t.Fatalf("telephone-event PT %d negotiated with a caller that offered none", pt)
			}
			for _, d := range "5#a" {
				if err := sender.SendInfoDigit(ctx, d, 100*time.Millisecond); err != nil {
					t.Fatalf("SendInfoDigit(%q): %v", d, err)
				}
			}
			if got := string(cl.InfoDigits()); got != "5#A" {
				t.Errorf("client received INFO digits %q, want 5#A", got)
			}
			if err := cl.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, leg.Done(), "leg end")
			if err := sender.SendInfoDigit(ctx, '1', 100*time.Millisecond); !errors.Is(err, ErrLegEnded) {
				t.Errorf("SendInfoDigit after the caller hung up = %v, want ErrLegEnded", err)
			}
		})
	}
}

func TestSendInfoDigitRefusedAndHangup(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "3001", siptest.DialOptions{Codec: media.PCMU, NoTelephoneEvent: true, InfoStatus: 403})
	leg := recvLeg(t, legs)
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	sender := leg.(call.InfoDigitSender)
	if err := sender.SendInfoDigit(ctx, '7', 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("SendInfoDigit answered 403 = %v, want an error naming 403", err)
	}
	if got := cl.InfoDigits(); len(got) != 0 {
		t.Errorf("client recorded %q", string(got))
	}
	if err := leg.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sender.SendInfoDigit(ctx, '7', 100*time.Millisecond); !errors.Is(err, ErrLegEnded) {
		t.Errorf("SendInfoDigit after our hangup = %v, want ErrLegEnded", err)
	}
}

func TestSendInfoDigitOutbound(t *testing.T) {
	s, _ := startServer(t, 0, 0)
	phone, contact := listenPhone(t, siptest.ListenOptions{Username: "bob", NoTelephoneEvent: true})
	ctx := context.Background()
	leg, err := s.Dial(ctx, call.DialRequest{Target: contact, FromUser: "+14155550100", RingTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sender, ok := leg.(call.InfoDigitSender)
	if !ok {
		t.Fatal("outbound leg is not a call.InfoDigitSender")
	}
	in := incoming(t, phone)
	if st, err := waitAnswer(t, leg, 5*time.Second); st != 200 || err != nil {
		t.Fatalf("WaitAnswer = %d, %v", st, err)
	}
	if pt := leg.Media().TelephoneEventPT(); pt != 0 {
		t.Fatalf("telephone-event PT %d negotiated with a phone that accepts none", pt)
	}
	for _, d := range "5*9" {
		if err := sender.SendInfoDigit(ctx, d, 100*time.Millisecond); err != nil {
			t.Fatalf("SendInfoDigit(%q): %v", d, err)
		}
	}
	if got := string(in.InfoDigits()); got != "5*9" {
		t.Errorf("phone received INFO digits %q, want 5*9", got)
	}
	if err := in.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, leg.Done(), "leg end")
	if err := sender.SendInfoDigit(ctx, '1', 100*time.Millisecond); !errors.Is(err, ErrLegEnded) {
		t.Errorf("SendInfoDigit after the phone hung up = %v, want ErrLegEnded", err)
	}
}

// TestReceiveInfoDigits checks that digits a caller sends as SIP INFO reach InfoDigits.
func TestReceiveInfoDigits(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c := newClient(t)
	ctx := context.Background()
	cl := dial(t, c, s, "3002", siptest.DialOptions{Codec: media.PCMU, NoTelephoneEvent: true})
	leg := recvLeg(t, legs)
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cl.Answered(), "answer")
	if err := cl.SendInfoDTMF(ctx, "7*D"); err != nil {
		t.Fatal(err)
	}
	src := leg.(call.InfoDigitSource)
	var got []rune
	for len(got) < 3 {
		select {
		case d := <-src.InfoDigits():
			got = append(got, d)
		case <-time.After(2 * time.Second):
			t.Fatalf("received INFO digits %q, want 7*D", string(got))
		}
	}
	if string(got) != "7*D" {
		t.Errorf("received INFO digits %q, want 7*D", string(got))
	}
}
