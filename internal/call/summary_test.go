package call_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
)

// endLine returns the "call ended" line of a JSON log.
func endLine(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	for _, l := range bytes.Split(buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && m["msg"] == "call ended" {
			return m
		}
	}
	t.Fatalf("no call ended line in %s", buf.String())
	return nil
}

// TestEndOfCallSummary checks the one-line media summary: every key present, the jitter queue
// figures a room reported through the call's Output added in, and the registry's observer told
// once the figures are final.
func TestEndOfCallSummary(t *testing.T) {
	var buf bytes.Buffer
	leg := calltest.NewLeg()
	ended := make(chan *Call, 2)
	reg := NewObservedRegistry(func(c *Call) { ended <- c })
	c := New(Identity{AccountID: "MA_TEST", Direction: Inbound}, leg,
		Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	reg.Add(c)
	if err := c.Answer(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	if err := out.WriteFrame(make([]byte, media.FrameSamples)); err != nil {
		t.Fatal(err)
	}
	// Two rooms' queues (a call may leave one room and join another).
	out.JitterQueueStats(media.JitterStats{Pushed: 40, Dropped: 3, Starved: 1})
	out.JitterQueueStats(media.JitterStats{Pushed: 10, Dropped: 1, Starved: 2})
	out.Release()
	c.Hangup(CauseNormalHangup, SourceVobiz, 0)

	select {
	case got := <-ended:
		if got != c {
			t.Errorf("observer told about %v, want the call", got.UUID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("registry observer not told that the call ended")
	}
	l := endLine(t, &buf)
	for _, k := range []string{"call_uuid", "sip_call_id", "cause", "cause_name", "source", "direction", "answered",
		"duration_ms", "codec", "rtp_in", "rtp_out", "bytes_in", "bytes_out", "rtp_lost", "loss_pct", "jitter_ms",
		"jq_frames_in", "jq_dropped", "jq_starved"} {
		if _, ok := l[k]; !ok {
			t.Errorf("call ended line lacks %q: %v", k, l)
		}
	}
	if l["jq_frames_in"] != 50.0 || l["jq_dropped"] != 4.0 || l["jq_starved"] != 3.0 {
		t.Errorf("jitter queue figures = %v/%v/%v, want 50/4/3", l["jq_frames_in"], l["jq_dropped"], l["jq_starved"])
	}
	if l["answered"] != true || l["direction"] != "inbound" || l["codec"] != "PCMU" {
		t.Errorf("call ended line = %v", l)
	}
	// The pump may send one more frame between the summary and the end of the leg (its tick
	// was in flight), so the line says at least the frame written above and never more than
	// the leg counted.
	if st, n := c.MediaStats(), l["rtp_out"].(float64); n < 1 || n > float64(st.PacketsOut) {
		t.Errorf("rtp_out = %v, leg says %d", n, st.PacketsOut)
	}
}

// TestSummaryWaitsForTheRoom: a call the far end hangs up while it is in a room ends before its
// member has left; the summary waits for the room to report and give the output back.
func TestSummaryWaitsForTheRoom(t *testing.T) {
	var buf syncBuffer
	leg := calltest.NewLeg()
	c := New(Identity{AccountID: "MA_TEST", Direction: Inbound}, leg,
		Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err := c.Answer(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, err := c.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	leg.End(EndedRemoteBye)
	<-c.Done()
	if strings.Contains(buf.String(), "call ended") {
		t.Fatal("summary logged while the room still owned the output")
	}
	out.JitterQueueStats(media.JitterStats{Pushed: 7, Dropped: 2, Starved: 1})
	out.Release()
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(buf.String(), "call ended") {
		if time.Now().After(deadline) {
			t.Fatal("no summary after the output was released")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := bytes.NewBufferString(buf.String())
	if l := endLine(t, b); l["jq_frames_in"] != 7.0 || l["jq_dropped"] != 2.0 || l["source"] != "Caller" {
		t.Errorf("call ended line = %v, want the room's figures and the caller as source", l)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
