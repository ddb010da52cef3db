package amd

import (
	"os"
	"os/exec"
	"testing"

	"github.com/parley-voice/parley/internal/media"
)

// TestSynthesisedAnswers runs the detector on real speech: espeak-ng saying a voicemail
// greeting, and a person's short "hello?" followed by silence.
func TestSynthesisedAnswers(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("espeak-ng missing under CI")
		}
		t.Skip("skipping: espeak-ng not installed")
	}
	cases := []struct {
		name, text string
		want       Result
	}{
		{"voicemail greeting", "Hi, you have reached the voicemail of John Smith. I am not available right now, please leave a message after the tone.", Machine},
		{"person", "Hello?", Human},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wav, err := exec.Command("espeak-ng", "-v", "en-us", "--stdout", tc.text).Output()
			if err != nil {
				t.Fatal(err)
			}
			pcm, err := media.DecodeWAV(wav)
			if err != nil {
				t.Fatal(err)
			}
			// Answer, 400 ms of silence, the speech, then 10 s of silence.
			audio := append(make([]int16, media.SampleRate*4/10), pcm...)
			audio = append(audio, make([]int16, 10*media.SampleRate)...)
			d, err := New(DefaultParams())
			if err != nil {
				t.Fatal(err)
			}
			var v Verdict
			for i := 0; i+media.FrameSamples <= len(audio) && !v.Decided(); i += media.FrameSamples {
				v = d.Feed(audio[i : i+media.FrameSamples])
			}
			if v.Result != tc.want {
				t.Errorf("verdict %v (%s at %v, %d words), want %v", v.Result, v.Reason, v.At, d.Words(), tc.want)
			}
			t.Logf("%s: %v %s at %v", tc.name, v.Result, v.Reason, v.At)
		})
	}
}
