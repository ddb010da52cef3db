package stream

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// BenchmarkSessionMedia is the cost of one inbound 20 ms frame of a stream, from the call
// side's PushInbound (what the received-audio tap calls) through the writer's encoding, the
// media message and the WebSocket write, to the app's read of it on loopback. Both ends run in
// this process, so ns/op is the CPU of the two ends per frame when the cores are free; frames
// go as fast as the socket takes them, in batches far below the backlog limit.
func BenchmarkSessionMedia(b *testing.B) {
	for _, f := range []Format{{Encoding: EncodingMulaw, SampleRate: 8000}, {Encoding: EncodingL16, SampleRate: 16000}} {
		b.Run(f.String(), func(b *testing.B) {
			var read atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer ws.CloseNow()
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
					read.Add(1)
				}
			}))
			defer srv.Close()
			s := Start(Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Format: f,
				CallUUID: "5401fd2e-6344-40df-a22c-c8ffea7a92e7", AccountID: "MA_BENCH",
				Logger: slog.New(slog.DiscardHandler)})
			defer func() {
				s.Stop()
				<-s.Done()
			}()
			if !pollUntil(5*time.Second, func() bool { return read.Load() >= 1 }) {
				b.Fatal("the session did not connect")
			}
			frame := make([]int16, media.FrameSamples)
			if err := media.Tone(440, time.Second, -10).ReadFrame(frame); err != nil {
				b.Fatal(err)
			}
			const batch = 100
			b.ReportAllocs()
			b.ResetTimer()
			read0 := read.Load()
			var pushed int64
			for b.Loop() {
				s.PushInbound(frame)
				pushed++
				if pushed%batch == 0 && !pollUntil(5*time.Second, func() bool { return read.Load()-read0 >= pushed-batch/2 }) {
					b.Fatalf("the app read %d of %d frames", read.Load()-read0, pushed)
				}
			}
			if !pollUntil(5*time.Second, func() bool { return read.Load()-read0 >= pushed }) {
				b.Fatalf("the app read %d of %d frames", read.Load()-read0, pushed)
			}
			if st := s.Stats(); st.Dropped > 0 {
				b.Fatalf("%d frames dropped", st.Dropped)
			}
		})
	}
}

// BenchmarkSessionNextFrame is the playout side's cost per 20 ms frame the call sends, with
// the app's audio queued (the overlay pulls this for every frame of a bidirectional stream).
func BenchmarkSessionNextFrame(b *testing.B) {
	s := &Session{}
	pcm := make([]int16, 50*media.FrameSamples)
	dst := make([]int16, media.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		if s.play.pending() < media.FrameSamples {
			s.play.add(pcm)
		}
		if !s.NextFrame(dst) {
			b.Fatal("no audio played")
		}
	}
}

// pollUntil polls cond until it holds or d passes.
func pollUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
