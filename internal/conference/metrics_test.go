package conference

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// tickRecorder is an Observer that keeps what it was told.
type tickRecorder struct {
	mu    sync.Mutex
	ticks []time.Duration
}

func (o *tickRecorder) TickDuration(d time.Duration) {
	o.mu.Lock()
	o.ticks = append(o.ticks, d)
	o.mu.Unlock()
}

// syncBuffer is a log destination safe for the room goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// A member that leaves logs one line with its media figures, and the manager's Stats and
// Observer see the same story: frames mixed, ticks without a frame, jitter queue drops.
func TestMemberExitFiguresAndStats(t *testing.T) {
	var logs syncBuffer
	obs := &tickRecorder{}
	e := newEnv(t, ManagerOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Observer: obs})
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 0)
	if st := e.m.Stats(); st.RoomsLive != 1 || st.MembersLive != 2 {
		t.Errorf("Stats with one room of two = %+v", st)
	}
	e.run(20, a) // flowing: 20 frames in, 20 out (after priming)
	e.run(5)     // a goes silent: its queue runs dry, the ticks find no frame
	for range media.DefaultJitterCapacity + 4 {
		a.talk() // a burst: the queue holds only DefaultJitterCapacity frames
	}
	e.run(1)
	if err := e.m.Kick(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	a.result(t)
	e.sync()

	// b, left alone, is evicted: two lines, one per member.
	var l map[string]any
	for _, x := range logs.lines(t, "member left") {
		if x["member_id"] == float64(a.id) {
			l = x
		}
	}
	if l == nil {
		t.Fatalf("no member left line for member %d", a.id)
	}
	for _, k := range []string{"member_id", "call_uuid", "conference", "conference_uuid", "reason", "in_room_ms",
		"frames_mixed", "frames_lost", "jq_frames_in", "jq_dropped", "jq_starved"} {
		if _, ok := l[k]; !ok {
			t.Errorf("member left line lacks %q: %v", k, l)
		}
	}
	num := func(k string) float64 { f, _ := l[k].(float64); return f }
	if l["conference"] != "R" || l["call_uuid"] != "call-R" || num("member_id") != float64(a.id) {
		t.Errorf("member left line names the wrong member: %v", l)
	}
	// Priming holds back DefaultJitterPrime frames; the rest of the 20 were mixed, then 5 dry
	// ticks were lost (the first one starving the queue), then the burst overflowed it.
	if got, want := num("frames_mixed"), float64(20-media.DefaultJitterPrime+1); got < want-1 || got > want+media.DefaultJitterCapacity {
		t.Errorf("frames_mixed = %v, want about %v", got, want)
	}
	if num("frames_lost") < 4 || num("jq_starved") < 1 || num("jq_dropped") != 4 || num("jq_frames_in") != 30 {
		t.Errorf("figures = lost %v starved %v dropped %v in %v, want >=4, >=1, 4, 30",
			num("frames_lost"), num("jq_starved"), num("jq_dropped"), num("jq_frames_in"))
	}

	st := e.m.Stats()
	if st.JitterDropped != 4 || st.JitterStarved < 1 || st.MembersLive != 0 || st.Ticks < 26 {
		t.Errorf("Stats after the exit = %+v", st)
	}
	if len(logs.lines(t, "member left")) != 2 {
		t.Errorf("want one member left line per member (a kicked, b evicted)")
	}
	_ = b
	obs.mu.Lock()
	n := len(obs.ticks)
	obs.mu.Unlock()
	if n < 26 {
		t.Errorf("observer saw %d ticks, want one per tick (>= 26)", n)
	}
}
