package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestStreamSlowReader: an app that stops reading its socket makes Parley's outgoing media
// back up: DegradedStream at 30, 60 and 90 % of the backlog, then DroppedStream, and the
// blocking element goes on. Meanwhile nothing else in Parley slows down: the caller of that
// stream and a second call keep their audio without a gap, and the REST API answers at once.
//
// The heaviest format (L16 24 kHz, both tracks: about 270 kB/s) fills the kernel's socket
// buffers (megabytes on loopback) within seconds, and stream_max_backlog makes Parley's own
// backlog 2 s instead of the default 40 s.
func TestStreamSlowReader(t *testing.T) {
	w := kit.NewApp(t)
	w.OK("/hangup")
	w.OK("/stream-status")
	w.Tone("/next.wav", otherTone, time.Second)
	w.Tone("/other.wav", agentTone2, 30*time.Second)
	agent := kit.NewAgent(t, kit.VobizPipecat, kit.SlowReader(300*time.Millisecond))
	w.DocsByFrom("/answer", map[string]string{
		"14155550100": `<Response><Stream audioTrack="both" keepCallAlive="true" contentType="audio/x-l16;rate=24000" statusCallbackUrl="` +
			w.URL("/stream-status") + `">` + agent.URL("/slow") + `</Stream>` + nextPlayed + `</Response>`,
		"14155550177": `<Response><Play>/other.wav</Play></Response>`,
	})
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_STREAM_MAX_BACKLOG": "2s"}})
	other := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: "+14155550177"})
	otherUUID := w.WaitReq(t, "/answer", 5*time.Second, "the second call's answer", func(r kit.Request) bool {
		return r.Form.Get("From") == "14155550177"
	}).Form.Get("CallUUID")
	sc := &streamCall{w: w, p: p, agent: agent,
		cl: kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{Send: kit.ToneSource(callerTone)})}
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	if strings.Join(st.Tracks, ",") != "inbound,outbound" || st.MediaFormat.SampleRate != 24000 {
		t.Errorf("start %+v, want both tracks of L16 24 kHz", st)
	}
	backingUp := time.Now()

	// While the backlog grows, the REST API answers at once.
	var slowest time.Duration
	var dropped kit.Request
	for deadline := time.Now().Add(40 * time.Second); ; {
		t0 := time.Now()
		if code, body := p.REST(t, "GET", kit.AccountPath("/Call/"+otherUUID+"/"), nil); code != 200 {
			t.Fatalf("GET the other call: %d %v", code, body)
		}
		slowest = max(slowest, time.Since(t0))
		var found bool
		dropped, found = findReq(w.Requests("/stream-status"), "DroppedStream")
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DroppedStream within 40 s of the app's last read (callbacks %v)", eventNames(w.Requests("/stream-status")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	droppedAt := time.Now()
	t.Logf("DroppedStream %v after the app stopped reading; slowest REST answer meanwhile %v", droppedAt.Sub(backingUp), slowest)
	if slowest > time.Second {
		t.Errorf("a REST request took %v while a stream backed up", slowest)
	}
	sc.assertNextRan(t, droppedAt.Add(-time.Second))

	rs := streamEvents(t, w, "/stream-status")
	var got, at []string
	for _, r := range rs {
		got = append(got, r.Form.Get("Event"))
		at = append(at, r.Form.Get("Event")+"@"+r.At.Sub(backingUp).Round(10*time.Millisecond).String())
		if r.Form.Get("StreamID") != st.StreamID {
			t.Errorf("%s for stream %s, want %s", r.Form.Get("Event"), r.Form.Get("StreamID"), st.StreamID)
		}
	}
	t.Logf("callbacks: %v", at)
	if strings.Join(got, ",") != "StartStream,DegradedStream,DegradedStream,DegradedStream,DroppedStream" {
		t.Errorf("callbacks %v, want StartStream, DegradedStream at 30, 60 and 90 %%, DroppedStream", got)
	}
	for _, r := range rs {
		want := map[string]string{"DegradedStream": errDegraded, "DroppedStream": errDropped}[r.Form.Get("Event")]
		if e := r.Form.Get("Error"); e != want {
			t.Errorf("%s Error %q, want %q", r.Form.Get("Event"), e, want)
		}
	}
	if e := dropped.Form.Get("Error"); e != errDropped {
		t.Errorf("DroppedStream Error %q", e)
	}

	// Audio elsewhere went on without a gap: the stream's own caller and the other call.
	for _, cl := range []struct {
		name string
		call *siptest.Call
	}{{"the stream's caller", sc.cl}, {"the other call", other}} {
		frames := kit.Window(kit.Frames(cl.call), backingUp, droppedAt)
		longest := time.Duration(0)
		for i := 1; i < len(frames); i++ {
			longest = max(longest, frames[i].At.Sub(frames[i-1].At))
		}
		want := int(droppedAt.Sub(backingUp) / media.FrameDuration)
		t.Logf("%s: %d frames while the stream backed up (about %d due), longest gap %v", cl.name, len(frames), want, longest)
		if len(frames) < want*95/100 || longest > 200*time.Millisecond {
			t.Errorf("%s received %d frames in %v (want about %d), longest gap %v", cl.name, len(frames), droppedAt.Sub(backingUp), want, longest)
		}
	}
	if n := kit.ToneFramesSince(other, agentTone2, backingUp); n < int(droppedAt.Sub(backingUp)/media.FrameDuration)*9/10 {
		t.Errorf("the other call heard its Play in %d frames only", n)
	}
}

// findReq returns the first request whose Event is event.
func findReq(rs []kit.Request, event string) (kit.Request, bool) {
	for _, r := range rs {
		if r.Form.Get("Event") == event {
			return r, true
		}
	}
	return kit.Request{}, false
}
