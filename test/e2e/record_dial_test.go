package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestRecordSessionOutlivesDialRecord: a session recording and a <Dial> bridge recording each
// have their own taps, so the session recording still hears the caller after the bridge (and
// its recording) has ended.
func TestRecordSessionOutlivesDialRecord(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	w.XML("/answer", `<Response>
  <Record recordSession="true" fileFormat="wav" action="/session-started" callbackUrl="/session-done"/>
  <Record startOnDialAnswer="true" fileFormat="wav" callbackUrl="/dial-rec-done"/>
  <Dial redirect="false" action="/dial-done"><User>sip:bob@`+strings.Split(p.SIP, ":")[0]+`</User></Dial>
  <Wait length="3"/>
  <Hangup/>
</Response>`)
	for _, path := range []string{"/session-started", "/session-done", "/dial-rec-done", "/dial-done", "/hangup"} {
		w.OK(path)
	}
	createEndpoint(t, p, "bob", "bob-secret-1", "")
	bob := kit.NewPhone(t, "127.0.0.2")
	bob.Listen(t, siptest.ListenOptions{Username: "bob", Send: media.Tone(700, time.Minute, -10)})
	if err := bob.Register(t, p, "bob", "bob-secret-1"); err != nil {
		t.Fatalf("register: %v", err)
	}
	a := kit.Dial(t, p, "14155550199", siptest.DialOptions{Send: media.Tone(400, time.Minute, -10)})
	b := bob.Incoming(t)
	kit.WaitAnswered(t, b, "B not answered")
	time.Sleep(2 * time.Second)
	if err := b.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, "/dial-done", 1, 10*time.Second)
	w.WaitFor(t, "/dial-rec-done", 1, 10*time.Second)
	kit.WaitEnd(t, a, 20*time.Second)

	started := w.WaitFor(t, "/session-started", 1, 5*time.Second)[0]
	done := w.WaitFor(t, "/session-done", 1, 10*time.Second)[0]
	if done.Form.Get("RecordingID") != started.Form.Get("RecordingID") {
		t.Fatalf("RecordStop of %s, want %s", done.Form.Get("RecordingID"), started.Form.Get("RecordingID"))
	}
	pcm := recordingAudio(t, p, started.Form.Get("RecordUrl"))
	// The call lasts about 2 s of bridge and 3 s of Wait; the last 2 s are after the bridge.
	if d := time.Duration(len(pcm)) * time.Second / media.SampleRate; d < 4*time.Second {
		t.Fatalf("session recording lasts %v, want the whole call", d)
	}
	tail := pcm[len(pcm)-2*media.SampleRate:]
	if lv := media.ToneDBFS(tail, 400); lv < -30 {
		t.Errorf("the caller's 400 Hz tone is at %.1f dBFS in the session recording's last 2 s, after the bridge", lv)
	}
}
