package call_test

import (
	"context"
	"testing"
	"time"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
)

// Any answered call ends at the cap with 6000 / Vobiz, counted from the answer; an inbound call
// answered by the flow and an outbound leg answered by the far end alike.
func TestMaxAnsweredEndsTheCall(t *testing.T) {
	for _, answer := range []struct {
		name string
		do   func(c *Call)
	}{
		{"Answer", func(c *Call) { _ = c.Answer(context.Background()) }},
		{"MarkAnswered", func(c *Call) { c.MarkAnswered() }},
	} {
		t.Run(answer.name, func(t *testing.T) {
			c := newTestCall(t, calltest.NewLeg(), Options{MaxAnswered: 300 * time.Millisecond})
			// Ringing time does not count.
			time.Sleep(400 * time.Millisecond)
			if _, ended := c.Outcome(); ended {
				t.Fatal("the cap ended a call that was never answered")
			}
			answer.do(c)
			select {
			case <-c.Done():
			case <-time.After(3 * time.Second):
				t.Fatal("the cap did not end the call")
			}
			o, _ := c.Outcome()
			if o.Cause != CauseScheduledHangup || o.Source != SourceVobiz {
				t.Fatalf("outcome %+v, want 6000 from Vobiz", o)
			}
			if d := o.Ended.Sub(o.Answered); d < 300*time.Millisecond || d > 2*time.Second {
				t.Fatalf("ended %v after answer, want the 300 ms cap", d)
			}
		})
	}
}

// A negative cap turns it off; a call that ends first is not touched by its timer.
func TestMaxAnsweredOffAndStopped(t *testing.T) {
	c := newTestCall(t, calltest.NewLeg(), Options{MaxAnswered: -1})
	_ = c.Answer(context.Background())
	time.Sleep(200 * time.Millisecond)
	if _, ended := c.Outcome(); ended {
		t.Fatal("a call without a cap ended")
	}
	d := newTestCall(t, calltest.NewLeg(), Options{MaxAnswered: 200 * time.Millisecond})
	_ = d.Answer(context.Background())
	d.Hangup(CauseNormalHangup, SourceAPIRequest, 0)
	time.Sleep(300 * time.Millisecond)
	if o, _ := d.Outcome(); o.Cause != CauseNormalHangup {
		t.Fatalf("outcome %+v", o)
	}
}
