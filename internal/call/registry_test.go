package call_test

import (
	"testing"
	"time"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
)

// A call hung up is no longer reported the moment Hangup returns, even before its entry is
// removed: a REST hang-up followed by a read never sees a ghost.
func TestRegistryForgetsEndedCallAtOnce(t *testing.T) {
	for i := range 50 {
		r := NewRegistry()
		keep := newTestCall(t, calltest.NewLeg(), Options{})
		end := newTestCall(t, calltest.NewLeg(), Options{})
		r.Add(keep)
		r.Add(end)
		end.Hangup(CauseNormalHangup, SourceAPIRequest, 0)
		if _, ok := r.Get("MA_TEST", end.UUID()); ok {
			t.Fatalf("run %d: Get reports the ended call", i)
		}
		if l := r.List("MA_TEST"); len(l) != 1 || l[0] != keep {
			t.Fatalf("run %d: List = %d calls, want only the live one", i, len(l))
		}
		if a := r.All(); len(a) != 1 || a[0] != keep {
			t.Fatalf("run %d: All = %d calls, want only the live one", i, len(a))
		}
		if n := r.Count("MA_TEST"); n != 1 {
			t.Fatalf("run %d: Count = %d, want 1", i, n)
		}
		if n := r.Len(); n != 1 {
			t.Fatalf("run %d: Len = %d, want 1", i, n)
		}
	}
}

// OnChange hears a call's account when it is added and again when it ends.
func TestRegistryOnChange(t *testing.T) {
	r := NewRegistry()
	seen := make(chan string, 4)
	r.OnChange(func(acct string) { seen <- acct })
	c := newTestCall(t, calltest.NewLeg(), Options{})
	r.Add(c)
	if got := <-seen; got != "MA_TEST" {
		t.Fatalf("added: OnChange heard %q", got)
	}
	c.Hangup(CauseNormalHangup, SourceAPIRequest, 0)
	select {
	case got := <-seen:
		if got != "MA_TEST" {
			t.Fatalf("ended: OnChange heard %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnChange not told of the ended call")
	}
}
