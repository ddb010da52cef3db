package sip

import (
	"context"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// TestSharedClockSendsEveryCall checks siptest's SharedClock (one goroutine sends the audio of
// all of a client's calls, as the stream benchmark's callers do): every call's leg hears its
// caller's own tone at 50 packets a second, and closing the client ends the calls.
func TestSharedClockSendsEveryCall(t *testing.T) {
	s, legs := startServer(t, 0, 0)
	c, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1", Logger: testLogger(), SharedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	freqs := []float64{400, 1000}
	cols := make([]*collector, len(freqs))
	for i, f := range freqs {
		dial(t, c, s, "1000", siptest.DialOptions{Codec: media.PCMU, Send: &tone{freq: f}})
		leg := recvLeg(t, legs)
		if err := leg.Answer(ctx); err != nil {
			t.Fatal(err)
		}
		cols[i] = &collector{}
		go cols[i].run(leg)
	}
	time.Sleep(time.Second)
	for i, col := range cols {
		pcm, pkts := col.snapshot()
		// About 50 in the second; the first call had a little longer.
		if len(pkts) < 40 || len(pkts) > 70 {
			t.Errorf("call %d: leg received %d packets in about 1 s, want about 50", i, len(pkts))
		}
		own, other := goertzel(pcm, freqs[i]), goertzel(pcm, freqs[1-i])
		if own < 100*other || own < 1e5 {
			t.Errorf("call %d: %.0f Hz power %.0f, %.0f Hz %.0f", i, freqs[i], own, freqs[1-i], other)
		}
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	waitClosed(t, done, "client close")
	c.Close() // a second Close is harmless
}
