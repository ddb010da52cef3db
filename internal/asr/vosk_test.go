package asr

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// standIn is a stand-in Vosk server: it answers audio message n with the partial made of the
// first ceil(n/2) words of final (at most all of them), and eof with final and the word
// confidences confs, then closes.
type standIn struct {
	final    string
	confs    []float64
	dropAt   int           // > 0: close with 1011 when this audio message arrives
	stall    chan struct{} // not nil: stop reading after the configuration until closed
	configs  chan voskConfig
	received chan int // audio bytes received, sent when eof arrives
}

func newStandIn(final string, confs ...float64) *standIn {
	return &standIn{final: final, confs: confs, configs: make(chan voskConfig, 4), received: make(chan int, 4)}
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	_, data, err := c.Read(ctx)
	if err != nil {
		return
	}
	var cfg voskConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		c.Close(websocket.StatusUnsupportedData, "bad config")
		return
	}
	s.configs <- cfg
	if s.stall != nil {
		<-s.stall
		return
	}
	words := strings.Fields(s.final)
	msgs, bytes := 0, 0
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText {
			if string(data) != `{"eof":1}` {
				c.Close(websocket.StatusUnsupportedData, "unexpected text")
				return
			}
			s.received <- bytes
			var result []map[string]any
			for i, w := range words {
				result = append(result, map[string]any{"word": w, "conf": s.confs[i], "start": 0.1 * float64(i), "end": 0.1*float64(i) + 0.1})
			}
			reply, _ := json.Marshal(map[string]any{"text": s.final, "result": result})
			c.Write(ctx, websocket.MessageText, reply)
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		msgs++
		bytes += len(data)
		if msgs == s.dropAt {
			c.Close(websocket.StatusInternalError, "model crashed")
			return
		}
		n := min((msgs+1)/2, len(words))
		reply, _ := json.Marshal(map[string]string{"partial": strings.Join(words[:n], " ")})
		if err := c.Write(ctx, websocket.MessageText, reply); err != nil {
			return
		}
	}
}

func startStandIn(t *testing.T, s *standIn) *Vosk {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	v, err := NewVosk(VoskOptions{Models: map[string]string{"en": "ws" + strings.TrimPrefix(srv.URL, "http")}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func speechFrames(n int) [][]int16 {
	out := make([][]int16, n)
	for i := range out {
		f := make([]int16, media.FrameSamples)
		for j := range f {
			f[j] = int16((i*media.FrameSamples + j) % 2000)
		}
		out[i] = f
	}
	return out
}

// collect drains a session's results, failing after a few seconds.
func collect(t *testing.T, s Session) []Result {
	t.Helper()
	var out []Result
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, ok := <-s.Results():
			if !ok {
				return out
			}
			out = append(out, r)
		case <-timeout:
			t.Fatalf("results channel not closed; got %+v", out)
		}
	}
}

func TestVoskPartialsThenFinal(t *testing.T) {
	server := newStandIn("yes please call me", 1, 0.8, 0.6, 0.6)
	v := startStandIn(t, server)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := v.Start(ctx, Options{Language: "en-IN", Hints: []string{" Yes", "", "Sales  Team"}, Interim: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := <-server.configs
	if cfg.Config.SampleRate != 8000 || cfg.Config.Words != 1 || !reflect.DeepEqual(cfg.Config.PhraseList, []string{"yes", "sales team"}) {
		t.Errorf("config = %+v", cfg)
	}
	frames := speechFrames(40) // 8 audio messages of 100 ms
	for _, f := range frames {
		if err := s.Write(f); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	s.Close()
	results := collect(t, s)
	if got := <-server.received; got != 40*media.FrameSamples*2 {
		t.Errorf("server received %d audio bytes, want %d", got, 40*media.FrameSamples*2)
	}
	want := []Result{
		{Text: "yes"}, {Text: "yes please"}, {Text: "yes please call"}, {Text: "yes please call me"},
		{Text: "yes please call me", Confidence: 0.75, Final: true},
	}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("results:\n got %+v\nwant %+v", results, want)
	}
	if err := s.Write(frames[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after the end = %v, want ErrClosed", err)
	}
}

func TestVoskFinalOnlyWithProfanityFilter(t *testing.T) {
	v := startStandIn(t, newStandIn("oh shit Yes", 0.5, 0.5, 0.8))
	s, err := v.Start(t.Context(), Options{Profanity: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range speechFrames(12) {
		s.Write(f)
	}
	s.Close()
	results := collect(t, s)
	want := []Result{{Text: "oh s*** yes", Confidence: 0.6, Final: true}}
	if len(results) != 1 || results[0].Text != want[0].Text || !results[0].Final || results[0].Err != nil ||
		results[0].Confidence < 0.599 || results[0].Confidence > 0.601 {
		t.Errorf("results %+v, want %+v", results, want)
	}
}

func TestVoskServerClosesMidStream(t *testing.T) {
	server := newStandIn("hello there", 1, 1)
	server.dropAt = 3
	v := startStandIn(t, server)
	s, err := v.Start(t.Context(), Options{Interim: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, f := range speechFrames(100) {
			s.Write(f)
			time.Sleep(time.Millisecond)
		}
	}()
	results := collect(t, s)
	if len(results) == 0 {
		t.Fatal("no results")
	}
	last := results[len(results)-1]
	if last.Err == nil || !last.Final {
		t.Fatalf("last result %+v, want a final error result", last)
	}
	if !strings.Contains(last.Err.Error(), "model crashed") && !strings.Contains(last.Err.Error(), "1011") {
		t.Errorf("error %q does not carry the server's close reason", last.Err)
	}
	for _, r := range results[:len(results)-1] {
		if r.Err != nil || r.Final {
			t.Errorf("unexpected result before the error: %+v", r)
		}
	}
}

func TestVoskSlowServerDoesNotBlockWrite(t *testing.T) {
	server := newStandIn("never", 1)
	server.stall = make(chan struct{})
	defer close(server.stall)
	v := startStandIn(t, server)
	ctx, cancel := context.WithCancel(t.Context())
	s, err := v.Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-server.configs
	frame := speechFrames(1)[0]
	begin := time.Now()
	overruns := 0
	for range 20000 { // 400 s of audio, far more than the queue and the socket buffers hold
		if err := s.Write(frame); errors.Is(err, ErrOverrun) {
			overruns++
		} else if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("20000 Writes to a stalled server took %v", d)
	}
	if overruns == 0 {
		t.Error("no ErrOverrun although the server reads nothing")
	}
	cancel()
	if results := collect(t, s); len(results) != 0 {
		t.Errorf("results after cancel: %+v", results)
	}
}

func TestVoskStartErrors(t *testing.T) {
	v := startStandIn(t, newStandIn("x", 1))
	if _, err := v.Start(t.Context(), Options{Language: "de-DE"}); !errors.Is(err, ErrNoModel) {
		t.Errorf("Start(de-DE) = %v, want ErrNoModel", err)
	}
	if v.Supports("de") || !v.Supports("EN-gb") || !v.Supports("") {
		t.Error("Supports wrong")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	dead, _ := NewVosk(VoskOptions{Models: map[string]string{"en": "ws" + strings.TrimPrefix(srv.URL, "http")}})
	if _, err := dead.Start(t.Context(), Options{}); err == nil {
		t.Error("Start against a closed port succeeded")
	}
	for _, u := range []string{"http://x/", "ws://", "::"} {
		if _, err := NewVosk(VoskOptions{Models: map[string]string{"en": u}}); err == nil {
			t.Errorf("NewVosk accepted %q", u)
		}
	}
}

func TestLimit(t *testing.T) {
	v := startStandIn(t, newStandIn("yes", 0.9))
	e := Limit(v, 1)
	s1, err := e.Start(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(t.Context(), Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Start = %v, want ErrBusy", err)
	}
	s1.Write(speechFrames(1)[0])
	s1.Close()
	if r := collect(t, s1); len(r) != 1 || r[0].Text != "yes" {
		t.Fatalf("results through Limit: %+v", r)
	}
	s2, err := e.Start(t.Context(), Options{})
	if err != nil {
		t.Fatalf("Start after the first session ended: %v", err)
	}
	s2.Close()
	collect(t, s2)
}
