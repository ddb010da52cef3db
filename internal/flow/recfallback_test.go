package flow

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// TestRecordMP3FallsBackToWAVWithoutLame: with the MP3 encoder missing, <Record
// fileFormat="mp3"> still records, as WAV, and its action and row say so (docs/operations.md).
func TestRecordMP3FallsBackToWAVWithoutLame(t *testing.T) {
	var saved []RecordingMeta
	var mu sync.Mutex
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Record action="/rec" fileFormat="mp3" playBeep="false" maxLength="1"/><Hangup/></Response>`,
	})
	h.runner.MP3Command = filepath.Join(t.TempDir(), "no-lame-here")
	h.runner.SaveRecording = func(_ context.Context, m RecordingMeta) error {
		mu.Lock()
		saved = append(saved, m)
		mu.Unlock()
		return nil
	}
	h.start("")
	time.Sleep(100 * time.Millisecond)
	tone := media.ReadAll(media.Tone(700, 800*time.Millisecond, -6), 0)
	for i := 0; i+media.FrameSamples <= len(tone); i += media.FrameSamples {
		h.leg.ReceiveAudio(tone[i : i+media.FrameSamples])
		time.Sleep(5 * time.Millisecond)
	}
	h.wait(t)
	mu.Lock()
	defer mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("%d recordings saved, want 1 (as WAV)", len(saved))
	}
	m := saved[0]
	if m.Format != "wav" || !strings.HasSuffix(m.Path, ".wav") {
		t.Fatalf("recording %+v, want WAV", m)
	}
	data, err := readFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := media.DecodeWAV(data)
	if err != nil || len(pcm) < media.SampleRate/2 {
		t.Fatalf("WAV file: %d samples, %v", len(pcm), err)
	}
	var action string
	for _, r := range h.web.requestsTo("/rec") {
		action = r.Params.Get("RecordUrl")
	}
	for _, n := range h.web.notifications() {
		if strings.HasSuffix(n.URL, "/rec") {
			action = n.Params.Get("RecordUrl")
		}
	}
	if !strings.HasSuffix(action, ".wav") {
		t.Errorf("action RecordUrl %q, want the .wav URL", action)
	}
}
