package flow

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/conference"
)

// slowRoom is a Conferences whose members take a while to leave once their context ends, as a
// room does when its goroutine is busy.
type slowRoom struct {
	joined chan struct{}
	left   atomic.Bool
}

func (r *slowRoom) Join(ctx context.Context, req conference.JoinRequest) (conference.Result, error) {
	close(r.joined)
	<-ctx.Done()
	time.Sleep(100 * time.Millisecond)
	r.left.Store(true)
	return conference.Result{Reason: conference.HungUp, ConferenceName: req.Room}, nil
}

// A transfer answers only once the running element is abandoned: a conference member has
// left its room when Transfer returns.
func TestTransferReturnsOnceMemberHasLeft(t *testing.T) {
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Conference>R</Conference></Response>`,
		"/t":      `<Response><Hangup/></Response>`,
	})
	room := &slowRoom{joined: make(chan struct{})}
	h.runner.Conferences = room
	h.start("")
	select {
	case <-room.joined:
	case <-time.After(5 * time.Second):
		t.Fatal("the call never joined the room")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.runner.Transfer(ctx, h.call.UUID(), base+"/t", "GET"); err != nil {
		t.Fatal(err)
	}
	if !room.left.Load() {
		t.Fatal("Transfer returned while the member was still in its room")
	}
	if o := h.wait(t); o.Cause.Code != 4000 {
		t.Fatalf("outcome %+v: the transfer document did not run", o)
	}
}
