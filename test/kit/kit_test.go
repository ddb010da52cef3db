package kit

import (
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/internal/webhook"
)

func post(t *testing.T, u string, form url.Values, hdr http.Header) string {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr.Clone()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestAppServesAndRecords(t *testing.T) {
	a := NewApp(t)
	a.XML("/answer", "<Response/>")
	a.DocsByFrom("/by-from", map[string]string{"": "<Default/>", "14155550101": "<A/>"})
	a.OK("/hangup")
	if got := post(t, a.URL("/answer"), url.Values{"CallUUID": {"u1"}}, http.Header{}); got != "<Response/>" {
		t.Errorf("/answer served %q", got)
	}
	if got := post(t, a.URL("/by-from"), url.Values{"From": {"14155550101"}}, http.Header{}); got != "<A/>" {
		t.Errorf("/by-from for 14155550101 served %q", got)
	}
	if got := post(t, a.URL("/by-from"), url.Values{"From": {"1999"}}, http.Header{}); got != "<Default/>" {
		t.Errorf("/by-from for another caller served %q", got)
	}
	post(t, a.URL("/hangup"), url.Values{"HangupCauseCode": {"4000"}}, http.Header{})

	got := a.WaitFor(t, "/answer", 1, time.Second)
	if len(got) != 1 || got[0].Method != "POST" || got[0].Form.Get("CallUUID") != "u1" {
		t.Errorf("/answer recorded %+v", got)
	}
	AssertParams(t, "hangup", a.Requests("/hangup")[0].Form, map[string]string{"HangupCauseCode": "4000"})
	r := a.WaitReq(t, "/by-from", time.Second, "default caller", func(r Request) bool { return r.Form.Get("From") == "1999" })
	if r.Path != "/by-from" {
		t.Errorf("WaitReq returned %+v", r)
	}
	if n := len(a.Requests("/nowhere")); n != 0 {
		t.Errorf("%d requests recorded for a path never requested", n)
	}
}

func TestAppWithoutRecording(t *testing.T) {
	a := NewApp(t, WithoutRecording())
	a.OK("/hangup")
	post(t, a.URL("/hangup"), url.Values{}, http.Header{})
	if n := len(a.Requests("/hangup")); n != 0 {
		t.Errorf("%d requests recorded", n)
	}
}

func TestRequestVerifySignature(t *testing.T) {
	a := NewApp(t)
	a.OK("/hook")
	u := a.URL("/hook")
	v2, v3, err := webhook.Sign(AuthToken, u, "12345678901234567890")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderSignatureV2, v2)
	h.Set(webhook.HeaderSignatureV2Nonce, "12345678901234567890")
	h.Set(webhook.HeaderSignatureV3, v3)
	h.Set(webhook.HeaderSignatureV3Nonce, "12345678901234567890")
	post(t, u, url.Values{"Event": {"x"}}, h)
	r := a.WaitFor(t, "/hook", 1, time.Second)[0]
	if err := r.VerifySignature(AuthToken); err != nil {
		t.Errorf("signed request: %v", err)
	}
	if err := r.VerifySignature("another-token"); err == nil {
		t.Error("signature verified against the wrong token")
	}
}

func TestToneWAVRoundTrip(t *testing.T) {
	pcm, err := media.DecodeWAV(ToneWAV(1000, 16000, time.Second, -6))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pcm); n < media.SampleRate-10 || n > media.SampleRate+10 {
		t.Fatalf("decoded %d samples, want about %d", n, media.SampleRate)
	}
	if lv := media.ToneDBFS(pcm, 1000); math.Abs(lv+6) > 1 {
		t.Errorf("1 kHz at %.1f dBFS, want -6", lv)
	}
	if lv := media.ToneDBFS(pcm, 2500); lv > -40 {
		t.Errorf("2.5 kHz at %.1f dBFS, want nothing", lv)
	}
}

func TestFrameAnalysis(t *testing.T) {
	t0 := time.Unix(1000, 0)
	src := media.Tone(700, time.Second, -10)
	var rx []siptest.Frame
	for i := range 10 {
		pcm := make([]int16, media.FrameSamples)
		if i < 5 { // five frames of tone, then five of silence
			if err := src.ReadFrame(pcm); err != nil {
				t.Fatal(err)
			}
		}
		rx = append(rx, siptest.Frame{At: t0.Add(time.Duration(i) * media.FrameDuration), Seq: uint16(i), PCM: pcm})
	}
	frames := FramesOf(rx)
	if got := FractionAbove(frames, -40); got != 0.5 {
		t.Errorf("FractionAbove = %v, want 0.5", got)
	}
	if !frames[2].IsTone(700) || frames[2].IsTone(1300) || frames[7].IsTone(700) {
		t.Error("IsTone: want 700 Hz in frame 2 only")
	}
	w := Window(frames, t0.Add(media.FrameDuration), t0.Add(3*media.FrameDuration))
	if len(w) != 2 || w[0].Seq != 1 || len(Concat(w)) != 2*media.FrameSamples {
		t.Errorf("Window of [20 ms, 60 ms) = %d frames", len(w))
	}
}
