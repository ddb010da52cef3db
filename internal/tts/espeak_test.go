package tts

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/voice"
)

const phrase = "Hello, you are now joining the conference. Please wait."

func needEspeak(t testing.TB) *Espeak {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not installed")
	}
	return NewEspeak(EspeakOptions{})
}

// speechFraction is the share of 20 ms frames louder than -40 dBFS.
func speechFraction(pcm []int16) float64 {
	const frame = 160
	loud, n := 0, 0
	for i := 0; i+frame <= len(pcm); i += frame {
		var sum float64
		for _, s := range pcm[i : i+frame] {
			sum += float64(s) * float64(s)
		}
		rms := math.Sqrt(sum / frame)
		if rms > 0 && 20*math.Log10(rms/32768) > -40 {
			loud++
		}
		n++
	}
	if n == 0 {
		return 0
	}
	return float64(loud) / float64(n)
}

// medianPitch estimates the fundamental frequency (Hz) of the voiced 40 ms windows by
// normalised autocorrelation over 60-400 Hz.
func medianPitch(pcm []int16) float64 {
	const win = 320
	var f0s []float64
	for i := 0; i+win+140 <= len(pcm); i += win / 2 {
		x := pcm[i : i+win+140]
		var energy float64
		for _, s := range x[:win] {
			energy += float64(s) * float64(s)
		}
		if math.Sqrt(energy/win) < 1000 {
			continue
		}
		best, bestLag := 0.0, 0
		for lag := 20; lag <= 133; lag++ {
			var num, e1, e2 float64
			for j := 0; j < win; j++ {
				a, b := float64(x[j]), float64(x[j+lag])
				num += a * b
				e1 += a * a
				e2 += b * b
			}
			if r := num / math.Sqrt(e1*e2+1); r > best {
				best, bestLag = r, lag
			}
		}
		if best > 0.5 {
			f0s = append(f0s, 8000/float64(bestLag))
		}
	}
	if len(f0s) == 0 {
		return 0
	}
	slices.Sort(f0s)
	return f0s[len(f0s)/2]
}

func TestEspeakSpeech(t *testing.T) {
	e := needEspeak(t)
	pcm, err := e.Synthesize(context.Background(), Request{Text: phrase})
	if err != nil {
		t.Fatal(err)
	}
	dur := time.Duration(len(pcm)) * time.Second / 8000
	if dur < 2*time.Second || dur > 8*time.Second {
		t.Errorf("duration %v is not plausible for %q", dur, phrase)
	}
	if f := speechFraction(pcm); f < 0.3 {
		t.Errorf("only %.0f%% of frames above -40 dBFS", f*100)
	}
}

func TestEspeakVoicesDiffer(t *testing.T) {
	e := needEspeak(t)
	ctx := context.Background()
	woman, err := e.Synthesize(ctx, Request{Text: phrase, Voice: "WOMAN"})
	if err != nil {
		t.Fatal(err)
	}
	man, err := e.Synthesize(ctx, Request{Text: phrase, Voice: "man"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(woman, man) {
		t.Fatal("MAN and WOMAN gave identical audio")
	}
	fw, fm := medianPitch(woman), medianPitch(man)
	t.Logf("median pitch: WOMAN %.0f Hz, MAN %.0f Hz", fw, fm)
	if fw < fm*1.2 {
		t.Errorf("WOMAN pitch %.0f Hz is not clearly above MAN pitch %.0f Hz", fw, fm)
	}
}

func TestEspeakEveryLanguage(t *testing.T) {
	e := needEspeak(t)
	for _, lang := range voice.Languages() {
		pcm, err := e.Synthesize(context.Background(), Request{Text: "one two three, 1 2 3", Language: lang, Voice: voice.Man})
		if err != nil {
			t.Errorf("%s: %v", lang, err)
			continue
		}
		if d := time.Duration(len(pcm)) * time.Second / 8000; d < 500*time.Millisecond || speechFraction(pcm) < 0.3 {
			t.Errorf("%s: %v of audio, %.0f%% loud frames", lang, d, speechFraction(pcm)*100)
		}
	}
}

func TestEspeakSSML(t *testing.T) {
	e := needEspeak(t)
	ctx := context.Background()
	plain, err := e.Synthesize(ctx, Request{Text: "Hello world", SSML: true})
	if err != nil {
		t.Fatal(err)
	}
	pause, err := e.Synthesize(ctx, Request{Text: `Hello <break time="1s"/> world`, SSML: true})
	if err != nil {
		t.Fatal(err)
	}
	extra := time.Duration(len(pause)-len(plain)) * time.Second / 8000
	if extra < 700*time.Millisecond || extra > 1300*time.Millisecond {
		t.Errorf("<break time=\"1s\"/> added %v, want about 1 s", extra)
	}
	// Unknown tags are reduced to their text; tags are never read out.
	tagged, err := e.Synthesize(ctx, Request{Text: `<foo bar="x">Hello</foo> <audio src="http://x/"/>world &amp; co`, SSML: true})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.Synthesize(ctx, Request{Text: "Hello world and co"})
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(float64(len(tagged)-len(ref))) / 8000; d > 0.4 {
		t.Errorf("tagged text length differs from plain by %.2f s", d)
	}
	// Broken markup is spoken as plain text rather than failing.
	if pcm, err := e.Synthesize(ctx, Request{Text: "Hello <b>world", SSML: true}); err != nil || speechFraction(pcm) < 0.3 {
		t.Errorf("broken markup: err=%v", err)
	}
}

func TestEspeakTextIsNotAFlag(t *testing.T) {
	e := needEspeak(t)
	pcm, err := e.Synthesize(context.Background(), Request{Text: "--help -v xx"})
	if err != nil {
		t.Fatal(err)
	}
	if speechFraction(pcm) < 0.3 {
		t.Error("text that looks like flags was not spoken")
	}
}

func TestEspeakErrors(t *testing.T) {
	ctx := context.Background()
	// Missing program.
	_, err := NewEspeak(EspeakOptions{Command: "parley-no-such-espeak"}).Synthesize(ctx, Request{Text: "hi"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("missing command: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = NewEspeak(EspeakOptions{}).Synthesize(ctx, Request{Text: "hi"})
	if err == nil || err.Error() != "espeak-ng not found on PATH: install the espeak-ng package" {
		t.Errorf("missing espeak-ng: %v", err)
	}
	if NewEspeak(EspeakOptions{}).Check() == nil {
		t.Error("Check found espeak-ng on an empty PATH")
	}
	// Empty text needs no program at all.
	if pcm, err := NewEspeak(EspeakOptions{}).Synthesize(ctx, Request{Text: "  <break time='1s'/> ", SSML: true}); err != nil || len(pcm) != 0 {
		t.Errorf("empty text: %d samples, %v", len(pcm), err)
	}
	// Bad voice and language.
	for _, r := range []Request{{Text: "x", Voice: "CHILD"}, {Text: "x", Language: "xx-XX"}} {
		if _, err := NewEspeak(EspeakOptions{}).Synthesize(ctx, r); err == nil || !strings.Contains(err.Error(), "unsupported") {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestEspeakTimeoutAndFailure(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow")
	fail := filepath.Join(dir, "fail")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 5\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fail, []byte("#!/bin/sh\necho 'voice does not exist' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := NewEspeak(EspeakOptions{Command: slow, Timeout: 200 * time.Millisecond}).Synthesize(context.Background(), Request{Text: "hi"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("slow command: %v after %v", err, time.Since(start))
	}
	_, err = NewEspeak(EspeakOptions{Command: fail}).Synthesize(context.Background(), Request{Text: "hi"})
	if err == nil || !strings.Contains(err.Error(), "voice does not exist") {
		t.Errorf("failing command: %v", err)
	}
}

func TestEspeakArgs(t *testing.T) {
	cases := []struct {
		r    Request
		want string
	}{
		{Request{Language: "en-US", Voice: voice.Woman}, "--stdout --stdin -b 1 -v en-us+f3"},
		{Request{Language: "es-US", Voice: voice.Man, SSML: true}, "--stdout --stdin -b 1 -v es-419+m3 -m"},
		{Request{Language: "pt-BR", Voice: voice.Man}, "--stdout --stdin -b 1 -v pt-br+m3"},
	}
	for _, tc := range cases {
		if got := strings.Join(espeakArgs(tc.r), " "); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
	for _, l := range voice.Languages() {
		if espeakVoices[l] == "" {
			t.Errorf("language %s has no espeak-ng voice", l)
		}
	}
}

func TestNormalize(t *testing.T) {
	r, err := Normalize(Request{Language: "EN-gb", Voice: " man "})
	if err != nil || r.Language != "en-GB" || r.Voice != voice.Man {
		t.Errorf("got %+v %v", r, err)
	}
	r, err = Normalize(Request{})
	if err != nil || r.Language != "en-US" || r.Voice != voice.Woman {
		t.Errorf("defaults: %+v %v", r, err)
	}
}

func TestCleanSSML(t *testing.T) {
	cases := []struct{ in, markup, spoken string }{
		{`Hi <break time="1s"/> there`, `Hi <break time="1s"/> there`, "Hi  there"},
		{`<prosody rate="slow" onclick="x">slow</prosody>`, `<prosody rate="slow">slow</prosody>`, "slow"},
		{`<prosody range="x-low" contour="(0%,+20Hz)">flat</prosody>`, `<prosody range="x-low">flat</prosody>`, "flat"},
		{`<voice name="x"><s>a</s></voice>`, `<s>a</s>`, "a"},
		{`AT&amp;T &lt;3`, `AT&amp;T &lt;3`, "AT&T <3"},
		{`<say-as interpret-as="digits">123</say-as>`, `<say-as interpret-as="digits">123</say-as>`, "123"},
		{`<speak>x</speak>`, `x`, "x"},
	}
	for _, tc := range cases {
		m, s, ok := cleanSSML(tc.in)
		if !ok || m != tc.markup || s != tc.spoken {
			t.Errorf("cleanSSML(%q) = %q, %q, %v; want %q, %q", tc.in, m, s, ok, tc.markup, tc.spoken)
		}
	}
	if _, s, ok := cleanSSML("a <b>c"); ok || strings.Contains(s, "<") {
		t.Errorf("broken markup: %q %v", s, ok)
	}
}

func FuzzCleanSSML(f *testing.F) {
	for _, s := range []string{`Hi <break time="1s"/>`, `<p><s>a</s></p>`, `a & b`, `<x:y a:b="1">z</x:y>`, `]]><!--`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, _, ok := cleanSSML(in)
		if ok {
			// Our own output must parse again, so espeak-ng gets well-formed markup.
			if _, _, ok2 := cleanSSML(m); !ok2 {
				t.Errorf("output %q of %q does not parse", m, in)
			}
		}
	})
}

func BenchmarkEspeak(b *testing.B) {
	e := needEspeak(b)
	for b.Loop() {
		if _, err := e.Synthesize(context.Background(), Request{Text: phrase}); err != nil {
			b.Fatal(err)
		}
	}
}
