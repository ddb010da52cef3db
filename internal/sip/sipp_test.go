package sip

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
)

// TestSIPpSpeak runs test/sipp/uac_speak.xml against a Server: SIPp streams a 440 Hz µ-law
// file, the handler answers, checks the tone arrives, and hangs up (SIPp waits for our BYE).
func TestSIPpSpeak(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (Debian package sip-tester)")
	}
	_, file, _, _ := runtime.Caller(0)
	scenario := filepath.Join(filepath.Dir(file), "..", "..", "test", "sipp", "uac_speak.xml")
	dir := t.TempDir()
	pcm := make([]int16, 8000*2) // 2 s of 440 Hz
	(&tone{freq: 440}).ReadFrame(pcm)
	ulaw := make([]byte, len(pcm))
	media.PCMU.Encode(ulaw, pcm)
	if err := os.WriteFile(filepath.Join(dir, "speech.ulaw"), ulaw, 0o644); err != nil {
		t.Fatal(err)
	}

	s, legs := startServer(t, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-s", "1000", "-i", "127.0.0.1", "-p", "0",
		"-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "err.log"),
		"127.0.0.1:"+strconv.Itoa(int(s.Addr().Port())))
	cmd.Dir = dir
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	var leg call.Leg
	select {
	case leg = <-legs:
	case err := <-done:
		t.Fatalf("sipp ended before calling: %v\n%s", err, out)
	}
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	go col.run(leg)
	playToneFor(leg, 1000, 1500*time.Millisecond)
	if err := leg.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		errLog, _ := os.ReadFile(filepath.Join(dir, "err.log"))
		t.Fatalf("sipp failed: %v\n%s\n%s", err, out, errLog)
	}
	got, _ := col.snapshot()
	if len(got) < 50*160 || goertzel(got, 440) < 1e5 {
		t.Errorf("server got %d samples, 440 Hz power %.0f", len(got), goertzel(got, 440))
	}
}
