package call_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
)

func newTestCall(t *testing.T, leg *calltest.Leg, opts Options) *Call {
	t.Helper()
	c := New(Identity{AccountID: "MA_TEST", Direction: Inbound, From: "14155550100", To: "14155550199"}, leg, opts)
	t.Cleanup(func() { c.Hangup(CauseNormalHangup, SourceVobiz, 0) })
	return c
}

func TestPlayIsPacedAndComplete(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	if err := c.Play(context.Background(), media.Silence(time.Second)); !errors.Is(err, ErrMediaNotReady) {
		t.Fatalf("Play before answer: got %v, want ErrMediaNotReady", err)
	}
	if err := c.Answer(context.Background()); err != nil {
		t.Fatal(err)
	}
	tone := media.ReadAll(media.Tone(1000, 200*time.Millisecond, -6), 0)
	start := time.Now()
	if err := c.Play(context.Background(), media.NewPCMSource(tone)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("200 ms of audio played in %v: not paced", el)
	}
	var toneFrames int
	for _, p := range leg.Written() {
		if p.PayloadType != 0 || p.TSIncrement != media.FrameSamples || len(p.Payload) != media.FrameSamples {
			t.Fatalf("unexpected packet %+v", p)
		}
		pcm := make([]int16, media.FrameSamples)
		media.PCMU.Decode(pcm, p.Payload)
		if media.ToneDBFS(pcm, 1000) > -12 {
			toneFrames++
		}
	}
	if toneFrames != 10 {
		t.Fatalf("got %d frames of tone, want 10", toneFrames)
	}
}

func TestPlayInterruptedByContext(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Play(ctx, media.Silence(10*time.Second))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("interrupt took too long")
	}
}

func TestRemoteByeSetsCallerOutcome(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   bool
		by       LegEnd
		wantCode int
	}{
		{"bye after answer", true, EndedRemoteBye, 4000},
		{"cancel before answer", false, EndedRemoteCancel, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leg := calltest.NewLeg()
			c := newTestCall(t, leg, Options{})
			if tc.answer {
				_ = c.Answer(context.Background())
			}
			leg.End(tc.by)
			select {
			case <-c.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("call did not end")
			}
			o, ok := c.Outcome()
			if !ok || o.Cause.Code != tc.wantCode || o.Source != SourceCaller {
				t.Fatalf("outcome %+v, want %d Caller", o, tc.wantCode)
			}
			if c.Context().Err() == nil {
				t.Fatal("call context not cancelled")
			}
		})
	}
}

func TestHangupUnansweredInboundRejects(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	c.Hangup(CauseBusy, SourceAnswerXML, 486)
	<-c.Done()
	if _, _, _, rejected := leg.State(); rejected != 486 {
		t.Fatalf("rejected with %d, want 486", rejected)
	}
	o, _ := c.Outcome()
	if o.Cause != CauseBusy || o.Source != SourceAnswerXML {
		t.Fatalf("outcome %+v", o)
	}
	// The first cause wins.
	c.Hangup(CauseNormalHangup, SourceCaller, 0)
	if o2, _ := c.Outcome(); o2 != o {
		t.Fatalf("outcome changed to %+v", o2)
	}
}

func TestMediaTimeout(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{MediaTimeout: 150 * time.Millisecond})
	_ = c.Answer(context.Background())
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("media timeout did not fire")
	}
	o, _ := c.Outcome()
	if o.Cause != CauseMediaTimeout || o.Source != SourceVobiz {
		t.Fatalf("outcome %+v", o)
	}
}

func TestMediaTimeoutNotForSendonlyPeer(t *testing.T) {
	leg := calltest.NewLeg()
	leg.Sends = false
	c := newTestCall(t, leg, Options{MediaTimeout: 100 * time.Millisecond})
	_ = c.Answer(context.Background())
	select {
	case <-c.Done():
		t.Fatal("media timeout fired although the peer does not send")
	case <-time.After(400 * time.Millisecond):
	}
}

func TestReceivedAudioAndDigitsReachSinks(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	frames := make(chan int, 10)
	digits := make(chan rune, 10)
	c.SetAudioSink(func(pcm []int16) { frames <- len(pcm) })
	c.SetDigitSink(func(d rune) { digits <- d })
	_ = c.Answer(context.Background())
	leg.ReceiveAudio(make([]int16, media.FrameSamples))
	// An RFC 4733 event whose first packet has duration 0, then its end packets.
	leg.ReceiveDigit('4', 1000)
	select {
	case n := <-frames:
		if n != media.FrameSamples {
			t.Fatalf("frame of %d samples", n)
		}
	case <-time.After(time.Second):
		t.Fatal("no audio frame")
	}
	select {
	case d := <-digits:
		if d != '4' {
			t.Fatalf("digit %q", d)
		}
	case <-time.After(time.Second):
		t.Fatal("no digit")
	}
	select {
	case d := <-digits:
		t.Fatalf("event reported twice: %q", d)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSendDigitsTrain(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	if err := c.SendDigits(context.Background(), "12", true); err != nil {
		t.Fatal(err)
	}
	var events []calltest.Packet
	for _, p := range leg.Written() {
		if p.PayloadType == 101 {
			events = append(events, p)
		}
	}
	// 100 ms events: 4 progress packets + 3 end packets each... DTMFPackets sends n-1 updates
	// and three end packets.
	if len(events) < 8 {
		t.Fatalf("only %d event packets", len(events))
	}
	var markers, advances int
	var total uint32
	for _, e := range events {
		if e.Marker {
			markers++
		}
		if e.TSIncrement > 0 {
			advances++
			total += e.TSIncrement
		}
	}
	if markers != 2 || advances != 2 {
		t.Fatalf("markers %d advances %d, want 2 and 2", markers, advances)
	}
	if total < 2*800 {
		t.Fatalf("timestamp advanced %d samples for two 100 ms events", total)
	}
	if err := c.SendDigits(context.Background(), "x", false); err == nil {
		t.Fatal("bad digit accepted")
	}
}

func TestTakeOutputStopsPump(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	time.Sleep(60 * time.Millisecond)
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TakeOutput(); err == nil {
		t.Fatal("output taken twice")
	}
	n := len(leg.Written())
	time.Sleep(100 * time.Millisecond)
	if got := len(leg.Written()); got != n {
		t.Fatalf("pump wrote %d packets while a room owned the output", got-n)
	}
	if err := out.WriteFrame(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	out.Release()
	if err := out.WriteFrame(make([]byte, 160)); err == nil {
		t.Fatal("write after release accepted")
	}
	time.Sleep(100 * time.Millisecond)
	if got := len(leg.Written()); got < n+3 {
		t.Fatalf("pump did not resume after release (%d new packets)", got-n)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	r.Add(c)
	if got, ok := r.Get("MA_TEST", c.UUID()); !ok || got != c {
		t.Fatal("call not found")
	}
	if _, ok := r.Get("MA_OTHER", c.UUID()); ok {
		t.Fatal("another account sees the call")
	}
	if r.Count("MA_TEST") != 1 || len(r.List("MA_TEST")) != 1 {
		t.Fatal("count/list wrong")
	}
	c.Hangup(CauseNormalHangup, SourceAPIRequest, 0)
	deadline := time.Now().Add(time.Second)
	for r.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r.Len() != 0 {
		t.Fatal("ended call still registered")
	}
}

func TestParty(t *testing.T) {
	for _, tc := range []struct{ user, host, want string }{
		{"+14155550100", "gw.example.com", "14155550100"},
		{"14155550100", "1.2.3.4:5060", "14155550100"},
		{"alice", "sip.example.com:5060", "sip:alice@sip.example.com"},
		{"1234567890123456", "h", "sip:1234567890123456@h"},
		{"", "h:5060", "sip:h"},
		{"bob", "[::1]:5060", "sip:bob@[::1]"},
		{"bob", "[::1]", "sip:bob@[::1]"},
	} {
		if got := Party(tc.user, tc.host); got != tc.want {
			t.Errorf("Party(%q,%q) = %q, want %q", tc.user, tc.host, got, tc.want)
		}
	}
}

func TestHangupAnsweredSendsBye(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	c.Hangup(CauseEndOfXML, SourceVobiz, 480)
	<-c.Done()
	if _, _, hungUp, rejected := leg.State(); !hungUp || rejected != 0 {
		t.Fatalf("answered call: hungUp=%v rejected=%d, want BYE only", hungUp, rejected)
	}
}

func TestInfoDigitsReachSink(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	digits := make(chan rune, 4)
	c.SetDigitSink(func(d rune) { digits <- d })
	_ = c.Answer(context.Background())
	leg.ReceiveInfoDigit('7')
	select {
	case d := <-digits:
		if d != '7' {
			t.Fatalf("digit %q", d)
		}
	case <-time.After(time.Second):
		t.Fatal("SIP INFO digit not delivered")
	}
}

func TestPartyUser(t *testing.T) {
	for in, want := range map[string]string{"14155550100": "14155550100", "+1415": "+1415", "alice": "alice",
		"sip:alice@example.com": "alice", "sip:example.com": "example.com"} {
		if got := PartyUser(in); got != want {
			t.Errorf("PartyUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMediaTimeoutFiresOnce(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{MediaTimeout: 40 * time.Millisecond})
	var fired atomic.Int32
	OnMediaTimeout(c, func() { fired.Add(1) }) // the call stays up: later ticks must not fire again
	_ = c.Answer(context.Background())
	time.Sleep(300 * time.Millisecond)
	if n := fired.Load(); n != 1 {
		t.Fatalf("media timeout fired %d times, want once", n)
	}
}

func TestMediaTimeoutWhileOutputTaken(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{MediaTimeout: 80 * time.Millisecond})
	_ = c.Answer(context.Background())
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("no media timeout while a room owned the output")
	}
	if o, _ := c.Outcome(); o.Cause != CauseMediaTimeout {
		t.Fatalf("cause %v, want media timeout", o.Cause)
	}
}

func TestPumpParkedWhileOutputTaken(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	time.Sleep(60 * time.Millisecond)
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // the tick in flight, if any
	before := PumpWakeups(c)
	time.Sleep(200 * time.Millisecond)
	if n := PumpWakeups(c) - before; n > 0 {
		t.Fatalf("pump woke %d times in 200 ms while the output was taken", n)
	}
	n := len(leg.Written())
	out.Release()
	time.Sleep(100 * time.Millisecond)
	if PumpWakeups(c) < before+3 || len(leg.Written()) < n+3 {
		t.Fatal("pump not resumed after release")
	}
}

func TestOutputTimestampFollowsFrameLength(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	var tapped []int
	c.AddTap(TapSent, func(pcm []int16) { tapped = append(tapped, len(pcm)) })
	n := len(leg.Written())
	for _, size := range []int{160, 240, 80} { // 20, 30 and 10 ms packets relayed by a bridge
		if err := out.WriteFrame(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	got := leg.Written()[n:]
	if len(got) != 3 {
		t.Fatalf("%d packets written, want 3", len(got))
	}
	for i, want := range []uint32{160, 240, 80} {
		if got[i].TSIncrement != want {
			t.Errorf("packet %d of %d bytes advanced the timestamp by %d, want %d", i, len(got[i].Payload), got[i].TSIncrement, want)
		}
	}
	if len(tapped) != 3 || tapped[1] != 240 {
		t.Errorf("out tap saw frames of %v samples, want [160 240 80]", tapped)
	}
}

func TestMediaStatsOfTheLeg(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	leg.ReceiveAudio(make([]int16, media.FrameSamples))
	deadline := time.Now().Add(time.Second)
	for c.MediaStats().PacketsIn == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := c.MediaStats()
	if st.PacketsIn != 1 || st.BytesIn != media.FrameSamples || st.PacketsOut == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// OnAnswer is told each answer once, whether we answer or the far end of an outbound leg does.
func TestOnAnswerCalledOnce(t *testing.T) {
	for _, answer := range []func(*Call){
		func(c *Call) { _ = c.Answer(context.Background()) },
		func(c *Call) { c.MarkAnswered() },
	} {
		var n atomic.Int32
		var at time.Time
		c := newTestCall(t, calltest.NewLeg(), Options{OnAnswer: func(c *Call) { n.Add(1); at = c.AnswerTime() }})
		answer(c)
		answer(c)
		if n.Load() != 1 || at.IsZero() || !at.Equal(c.AnswerTime()) {
			t.Errorf("OnAnswer called %d times, answer time %v (call's %v)", n.Load(), at, c.AnswerTime())
		}
	}
}
