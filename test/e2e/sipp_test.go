package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/test/kit"
)

// TestSIPpScenarioAgainstBinary runs test/sipp/uac_speak.xml (INVITE, RTP stream, wait for
// BYE) against the binary: the app records the caller, so the recording proves the stream
// arrived, and SIPp must end with success.
func TestSIPpScenarioAgainstBinary(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is not installed (make test installs Debian's sip-tester)")
		}
		t.Skip("sipp not installed (Debian package sip-tester)")
	}
	scenario, err := filepath.Abs("../sipp/uac_speak.xml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tone := media.ReadAll(media.Tone(440, 3*time.Second, -10), 0)
	ulaw := make([]byte, len(tone))
	media.PCMU.Encode(ulaw, tone)
	if err := os.WriteFile(filepath.Join(dir, "speech.ulaw"), ulaw, 0o644); err != nil {
		t.Fatal(err)
	}
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Record maxLength="2" playBeep="false" fileFormat="wav" action="/rec" timeout="5"/><Speak>Thank you.</Speak></Response>`)
	w.OK("/rec")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-s", "14155550199", "-i", "127.0.0.1", "-p", "0",
		"-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err",
		"-error_file", filepath.Join(dir, "err.log"), p.SIP)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errLog, _ := os.ReadFile(filepath.Join(dir, "err.log"))
		t.Fatalf("sipp failed: %v\n%s\n%s", err, tail(string(out), 2000), errLog)
	}
	r := w.WaitFor(t, "/rec", 1, 10*time.Second)[0]
	pcm := recordingAudio(t, p, r.Form.Get("RecordUrl"))
	if lv := media.ToneDBFS(pcm, 440); lv < -25 {
		t.Errorf("SIPp's RTP stream (440 Hz) is at %.1f dBFS in the recording", lv)
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4010"})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
