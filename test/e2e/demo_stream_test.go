package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestDemoAgentStream is the stream demo of `make run`: with no configuration, dialling 2000
// streams the call to the agent Parley serves itself. It greets the caller, plays back what
// the caller says one second later, and says a pressed key.
func TestDemoAgentStream(t *testing.T) {
	p := suite.Start(t, kit.Options{})
	cl := kit.Dial(t, p, "2000", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "the demo did not answer 2000")
	if !p.WaitLog("demo agent: stream started", 10*time.Second) {
		t.Fatal("the call was not streamed to the demo agent")
	}
	answered := time.Now()
	if !p.WaitLog("demo agent: speech played", 30*time.Second) {
		t.Fatal("the greeting's checkpoint never played")
	}
	if got := kit.SpeechFramesSince(cl, answered); got < 50 {
		t.Fatalf("heard %d frames of greeting, want a spoken greeting", got)
	}

	// The parrot: half a second of 400 Hz comes back one second later.
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	cl.SetSource(media.Tone(400, 500*time.Millisecond, -10))
	time.Sleep(2500 * time.Millisecond)
	var first time.Time
	toneFrames := 0
	for _, f := range kit.Window(kit.Frames(cl), sent, sent.Add(2500*time.Millisecond)) {
		if f.IsTone(400) {
			toneFrames++
			if first.IsZero() {
				first = f.At
			}
		}
	}
	if toneFrames < 18 {
		t.Fatalf("heard %d frames of the 400 Hz sent (25 sent): the parrot did not play it back", toneFrames)
	}
	t.Logf("greeting %v; tone back after %v, %d frames", sent.Sub(answered), first.Sub(sent), toneFrames)
	if d := first.Sub(sent); d < 900*time.Millisecond || d > 1800*time.Millisecond {
		t.Errorf("the tone came back after %v, want about one second", d)
	}

	// A key: the agent says it.
	pressed := time.Now()
	if err := cl.SendDTMF("5", siptest.DTMFOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if got := kit.SpeechFramesSince(cl, pressed, 400); got < 25 {
		t.Errorf("heard %d frames of speech after pressing 5, want the digit spoken", got)
	}
	if !p.WaitLog("demo agent: speech played", time.Second) || strings.Count(p.Logs(), "demo agent: speech played") < 2 {
		t.Error("the spoken digit's checkpoint did not play")
	}

	// The caller hangs up: the stream and the agent's session end.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if !p.WaitLog("demo agent: stream ended", 10*time.Second) {
		t.Error("the demo agent's session did not end with the call")
	}
}
