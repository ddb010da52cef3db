package call_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
)

// tapRecorder keeps copies of the frames a tap saw.
type tapRecorder struct {
	mu     sync.Mutex
	frames [][]int16
}

func (r *tapRecorder) tap(pcm []int16) {
	r.mu.Lock()
	r.frames = append(r.frames, slices.Clone(pcm))
	r.mu.Unlock()
}

func (r *tapRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

func (r *tapRecorder) toneFrames(freq float64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, f := range r.frames {
		if media.ToneDBFS(f, freq) > -30 {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frames splits the leg's written audio into frames of the given size, from packet `from` on.
func writtenFrames(leg *calltest.Leg, from int) [][]int16 {
	var out [][]int16
	for _, p := range leg.Written()[from:] {
		if p.PayloadType != 0 {
			continue
		}
		f := make([]int16, len(p.Payload))
		media.PCMU.Decode(f, p.Payload)
		out = append(out, f)
	}
	return out
}

func countTone(frames [][]int16, freq float64) int {
	n := 0
	for _, f := range frames {
		if media.ToneDBFS(f, freq) > -30 {
			n++
		}
	}
	return n
}

func toneRing(freq float64, d time.Duration) *AudioRing {
	pcm := media.ReadAll(media.Tone(freq, d, -12), 0)
	r := NewAudioRing(len(pcm))
	r.Write(pcm)
	return r
}

func TestTwoTapsSeeBothDirections(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	var in1, in2, out1, out2 tapRecorder
	removeIn1 := c.AddTap(TapReceived, in1.tap)
	c.AddTap(TapReceived, in2.tap)
	c.AddTap(TapSent, out1.tap)
	c.AddTap(TapSent, out2.tap)
	c.SetTaps(nil, nil) // the recording's slot is separate: clearing it removes nothing here
	_ = c.Answer(context.Background())

	tone := media.ReadAll(media.Tone(700, 100*time.Millisecond, -12), 0)
	for f := range slices.Chunk(tone, media.FrameSamples) {
		leg.ReceiveAudio(f)
	}
	waitFor(t, "received frames in both taps", func() bool { return in1.count() == 5 && in2.count() == 5 })
	if in1.toneFrames(700) != 5 || in2.toneFrames(700) != 5 {
		t.Fatal("received taps did not see the caller's tone")
	}
	waitFor(t, "sent frames in both taps", func() bool { return out1.count() >= 3 && out2.count() >= 3 })

	removeIn1()
	removeIn1() // idempotent
	leg.ReceiveAudio(tone[:media.FrameSamples])
	waitFor(t, "the remaining tap", func() bool { return in2.count() == 6 })
	if in1.count() != 5 {
		t.Fatalf("a removed tap saw %d frames, want 5", in1.count())
	}
}

func TestOverlayHeardOverPlayback(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	c.AddOverlay(toneRing(1000, 2*time.Second))
	n := len(leg.Written())
	if err := c.Play(context.Background(), media.Tone(400, 200*time.Millisecond, -12)); err != nil {
		t.Fatal(err)
	}
	both := 0
	for _, f := range writtenFrames(leg, n) {
		if media.ToneDBFS(f, 400) > -30 && media.ToneDBFS(f, 1000) > -30 {
			both++
		}
	}
	if both < 9 {
		t.Fatalf("%d frames carry both the playback and the overlay, want 10", both)
	}
}

func TestOverlayFollowsTheOutputOwner(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	var sent tapRecorder
	c.AddTap(TapSent, sent.tap)
	ring := toneRing(1000, 3*time.Second)
	remove := c.AddOverlay(ring)

	// A room owns the output and sends silence: the overlay is heard over it, 20 or 30 ms.
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // the pump's tick in flight, if any
	n := len(leg.Written())
	silence := make([]byte, 240)
	for i := range silence {
		silence[i] = media.PCMU.Silence()
	}
	for _, size := range []int{160, 160, 240, 160} {
		if err := out.WriteFrame(silence[:size]); err != nil {
			t.Fatal(err)
		}
	}
	frames := writtenFrames(leg, n)
	if len(frames) != 4 || countTone(frames, 1000) != 4 || len(frames[2]) != 240 {
		t.Fatalf("room frames: %d of %d carry the overlay", countTone(frames, 1000), len(frames))
	}
	if got := sent.toneFrames(1000); got < 4 {
		t.Fatalf("the sent tap saw the overlay in %d room frames", got)
	}

	// Given back: the pump carries on with the overlay over silence.
	out.Release()
	n = len(leg.Written())
	time.Sleep(150 * time.Millisecond)
	frames = writtenFrames(leg, n)
	if len(frames) < 4 || countTone(frames, 1000) != len(frames) {
		t.Fatalf("after release: %d of %d frames carry the overlay", countTone(frames, 1000), len(frames))
	}

	// Removed: silence again, and the ring is no longer pulled.
	remove()
	time.Sleep(30 * time.Millisecond)
	left := ring.Len()
	n = len(leg.Written())
	time.Sleep(100 * time.Millisecond)
	frames = writtenFrames(leg, n)
	if len(frames) < 3 || countTone(frames, 1000) != 0 || ring.Len() != left {
		t.Fatalf("after remove: %d of %d frames carry the overlay; ring %d -> %d", countTone(frames, 1000), len(frames), left, ring.Len())
	}
}

func TestOverlayUnderrunIsSilenceAndOverlaysAdd(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	time.Sleep(30 * time.Millisecond)
	c.AddOverlay(toneRing(1000, 30*time.Millisecond)) // runs dry in the second frame
	c.AddOverlay(toneRing(1500, time.Second))
	n := len(leg.Written())
	silence := make([]byte, media.FrameSamples)
	for i := range silence {
		silence[i] = media.PCMU.Silence()
	}
	for range 3 {
		if err := out.WriteFrame(silence); err != nil {
			t.Fatal(err)
		}
	}
	frames := writtenFrames(leg, n)
	if len(frames) != 3 || countTone(frames, 1500) != 3 {
		t.Fatalf("the full overlay is in %d of %d frames", countTone(frames, 1500), len(frames))
	}
	if media.ToneDBFS(frames[0], 1000) < -30 || media.ToneDBFS(frames[2], 1000) > -50 {
		t.Fatalf("the short overlay: %.0f dBFS in frame 0, %.0f in frame 2 (ran dry)",
			media.ToneDBFS(frames[0], 1000), media.ToneDBFS(frames[2], 1000))
	}
}

func TestStalledTapConsumerDoesNotDelayWriteFrame(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	// The tap hands frames to a consumer that never reads: the ring fills, then drops.
	ring := NewAudioRing(media.SampleRate / 10)
	c.AddTap(TapSent, func(pcm []int16) { ring.Write(pcm) })
	payload := make([]byte, media.FrameSamples)
	start := time.Now()
	for range 500 { // 10 s of audio
		if err := out.WriteFrame(payload); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Fatalf("500 frames took %v to write with a stalled tap consumer", el)
	}
	if _, dropped := ring.Counts(); dropped != 500*media.FrameSamples-media.SampleRate/10 {
		t.Fatalf("ring dropped %d samples", dropped)
	}
}

func TestAudioRing(t *testing.T) {
	r := NewAudioRing(5)
	if n := r.Write([]int16{1, 2, 3}); n != 3 {
		t.Fatalf("wrote %d", n)
	}
	select {
	case <-r.Ready():
	default:
		t.Fatal("not ready after a write")
	}
	dst := make([]int16, 2)
	if n := r.Read(dst); n != 2 || dst[0] != 1 || dst[1] != 2 {
		t.Fatalf("read %d %v", n, dst)
	}
	if n := r.Write([]int16{4, 5, 6, 7, 8}); n != 4 || r.Len() != 5 || r.Free() != 0 { // wraps; 8 dropped
		t.Fatalf("wrote %d, len %d", n, r.Len())
	}
	all := make([]int16, 10)
	if n := r.Read(all); n != 5 || !slices.Equal(all[:5], []int16{3, 4, 5, 6, 7}) {
		t.Fatalf("read %d %v", n, all[:n])
	}
	r.Write([]int16{9, 9})
	if r.Clear() != 2 || r.Len() != 0 || r.PullOverlay(all) != 0 {
		t.Fatal("clear")
	}
	if read, dropped := r.Counts(); read != 7 || dropped != 1 {
		t.Fatalf("counts read %d dropped %d", read, dropped)
	}
}

func TestDigitTapWatchesWithoutTakingFromTheSink(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	var mu sync.Mutex
	var tapped, sunk []rune
	remove := c.AddDigitTap(func(d rune) { mu.Lock(); tapped = append(tapped, d); mu.Unlock() })
	c.SetDigitSink(func(d rune) { mu.Lock(); sunk = append(sunk, d); mu.Unlock() })
	got := func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return string(tapped), string(sunk)
	}

	leg.RTP.ReceiveDigit('5', 1000)
	leg.ReceiveInfoDigit('#')
	waitFor(t, "both digits in tap and sink", func() bool { a, b := got(); return len(a) == 2 && len(b) == 2 })
	if a, b := got(); a != b {
		t.Fatalf("tap saw %q, sink %q: the tap must see what the sink sees", a, b)
	}
	remove()
	leg.RTP.ReceiveDigit('7', 5000)
	waitFor(t, "the sink alone", func() bool { _, b := got(); return len(b) == 3 })
	if a, _ := got(); len(a) != 2 {
		t.Fatalf("a removed digit tap saw %q", a)
	}
}

// Digits sent while a room or a bridge owns the output go out on the owner's frames, not
// after the output is given back.
func TestSendDigitsWhileOutputTaken(t *testing.T) {
	leg := calltest.NewLeg()
	c := newTestCall(t, leg, Options{})
	_ = c.Answer(context.Background())
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if err := c.SendDigits(context.Background(), "1", true); err != nil {
		t.Fatal(err)
	}
	from := len(leg.RTP.Written())
	payload := make([]byte, media.FrameSamples)
	for range 10 {
		if err := out.WriteFrame(payload); err != nil {
			t.Fatal(err)
		}
	}
	events := 0
	for _, p := range leg.RTP.Written()[from:] {
		if p.PayloadType == calltest.TelephoneEventPT {
			events++
		}
	}
	if events == 0 {
		t.Fatal("no RFC 4733 packet among the owner's frames")
	}
}
