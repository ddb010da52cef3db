package asr

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// needPocketsphinx skips when pocketsphinx or espeak-ng is missing, except under CI, where
// `make test` installs them (scripts/deps.sh test) and their absence is a failure.
func needPocketsphinx(tb testing.TB) *Pocketsphinx {
	tb.Helper()
	p := NewPocketsphinx(PocketsphinxOptions{})
	err := p.Check()
	if err == nil {
		_, err = exec.LookPath("espeak-ng")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("pocketsphinx test prerequisites missing under CI: %v", err)
		}
		tb.Skipf("skipping: %v (install pocketsphinx, pocketsphinx-en-us and espeak-ng, or run scripts/deps.sh test)", err)
	}
	return p
}

// spoken synthesises text with espeak-ng's US English voice and returns it as 8 kHz frames,
// with 300 ms of silence before and 500 ms after, the way a caller's answer arrives.
func spoken(tb testing.TB, text string) [][]int16 { return spokenBy(tb, "en-us", text) }

// spokenBy is spoken with an espeak-ng voice ("en-us+f3" is the house's en-US WOMAN).
func spokenBy(tb testing.TB, voice, text string) [][]int16 {
	tb.Helper()
	out, err := exec.Command("espeak-ng", "-v", voice, "--stdout", text).Output()
	if err != nil {
		tb.Fatalf("espeak-ng: %v", err)
	}
	pcm, err := media.DecodeWAV(out)
	if err != nil {
		tb.Fatal(err)
	}
	pcm = append(make([]int16, media.SampleRate*3/10), pcm...)
	pcm = append(pcm, make([]int16, media.SampleRate/2)...)
	var frames [][]int16
	for len(pcm) > 0 {
		n := min(len(pcm), media.FrameSamples)
		frames = append(frames, pcm[:n])
		pcm = pcm[n:]
	}
	return frames
}

func recognise(tb testing.TB, e Engine, frames [][]int16, opts Options) []Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := e.Start(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range frames {
		// Faster than real time the queue can fill: wait for the engine (a live caller
		// cannot outrun it; this only matters for long inputs fed at once).
		err := s.Write(f)
		for errors.Is(err, ErrOverrun) {
			time.Sleep(time.Millisecond)
			err = s.Write(f)
		}
		if err != nil {
			tb.Fatalf("Write: %v", err)
		}
	}
	s.Close()
	var results []Result
	for r := range s.Results() {
		if r.Err != nil {
			tb.Fatalf("recognition failed: %v", r.Err)
		}
		results = append(results, r)
	}
	return results
}

var digitWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

func TestPocketsphinxRecognisesHints(t *testing.T) {
	p := needPocketsphinx(t)
	// The hints of the acceptance test. Longer menus with several /s/ words (sales, six,
	// seven) are less reliable on telephone audio with the wideband Debian model: see the
	// report in docs/BENCHMARKS.md.
	menu := []string{"yes", "no", "sales"}
	cases := []struct {
		speech string
		hints  []string
		want   string
	}{
		{"yes", menu, "yes"},
		{"no", menu, "no"},
		{"sales", menu, "sales"},
		{"one two three", digitWords, "one two three"},
		// Unknown words and phrases are dropped from the grammar, empty hints ignored.
		{"sales", append([]string{"", "Sales Team", "notaword-xyzzy"}, menu...), "sales"},
	}
	for _, voice := range []string{"en-us", "en-us+f3", "en-us+m3"} {
		for _, tc := range cases {
			t.Run(voice+"/"+tc.speech, func(t *testing.T) {
				results := recognise(t, p, spokenBy(t, voice, tc.speech), Options{Language: "en-US", Hints: tc.hints})
				text, conf := Transcript(results)
				if text != tc.want {
					t.Errorf("recognised %q, want %q (results %+v)", text, tc.want, results)
				}
				if conf <= 0 || conf > 1 {
					t.Errorf("confidence %v outside (0, 1]", conf)
				}
			})
		}
	}
}

func TestPocketsphinxLanguageModelWithoutHints(t *testing.T) {
	p := needPocketsphinx(t)
	results := recognise(t, p, spoken(t, "hello world"), Options{})
	text, conf := Transcript(results)
	// The full language model on synthetic speech is not exact; it must at least hear words
	// and rate them.
	if text == "" || conf <= 0 || conf > 1 {
		t.Errorf("full model: %q confidence %v (results %+v)", text, conf, results)
	}
	t.Logf("full model heard %q (confidence %.2f)", text, conf)
}

func TestPocketsphinxSilenceAndProfanity(t *testing.T) {
	p := needPocketsphinx(t)
	silence := make([][]int16, 50)
	for i := range silence {
		silence[i] = make([]int16, media.FrameSamples)
	}
	if results := recognise(t, p, silence, Options{Hints: []string{"yes", "no"}}); len(results) != 0 {
		t.Errorf("silence gave %+v", results)
	}
	results := recognise(t, p, spoken(t, "damn"), Options{Hints: []string{"damn", "yes"}, Profanity: true})
	if text, _ := Transcript(results); text != "d***" {
		t.Errorf("profanity filter: %q", text)
	}
}

func TestPocketsphinxErrors(t *testing.T) {
	p := NewPocketsphinx(PocketsphinxOptions{Command: "/nonexistent/pocketsphinx_continuous"})
	if _, err := p.Start(t.Context(), Options{}); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("missing program: %v", err)
	}
	if _, err := p.Start(t.Context(), Options{Language: "fr-FR"}); !errors.Is(err, ErrNoModel) {
		t.Errorf("French: %v", err)
	}
	p = NewPocketsphinx(PocketsphinxOptions{Models: map[string]string{"en": t.TempDir()}})
	if err := p.Check(); !errors.Is(err, ErrNotInstalled) && !strings.Contains(fmtErr(err), "not found") {
		t.Errorf("empty model directory: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPocketsphinxCancel(t *testing.T) {
	p := needPocketsphinx(t)
	ctx, cancel := context.WithCancel(t.Context())
	s, err := p.Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range spoken(t, "yes") {
		s.Write(f)
	}
	cancel()
	done := make(chan struct{})
	go func() {
		for range s.Results() {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end after cancel")
	}
}

// BenchmarkPocketsphinx measures, per session, the real-time factor (wall time to recognise
// audio fed as fast as possible, divided by the audio's duration) and the recogniser's CPU
// time per second of audio (its processes' user+system time), which is the share of a core
// one concurrent real-time session needs.
func BenchmarkPocketsphinx(b *testing.B) {
	p := needPocketsphinx(b)
	var frames [][]int16
	for range 3 {
		frames = append(frames, spoken(b, "yes please, I would like to talk to sales about my order number one two three")...)
	}
	audio := time.Duration(len(frames)) * media.FrameDuration
	for _, mode := range []struct {
		name  string
		hints []string
	}{{"hints", append([]string{"yes", "no", "sales", "please", "order", "number"}, digitWords...)}, {"full-model", nil}} {
		b.Run(mode.name, func(b *testing.B) {
			var wall time.Duration
			cpu0 := childCPU()
			for range b.N {
				start := time.Now()
				recognise(b, p, frames, Options{Hints: mode.hints})
				wall += time.Since(start)
			}
			cpu := childCPU() - cpu0
			b.ReportMetric(wall.Seconds()/(audio.Seconds()*float64(b.N)), "rtf")
			b.ReportMetric(cpu.Seconds()/(audio.Seconds()*float64(b.N)), "cpu-s/audio-s")
		})
	}
}

func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestHintGrammar(t *testing.T) {
	dir := t.TempDir()
	dict := dir + "/model.dict"
	os.WriteFile(dict, []byte("no N OW\none W AH N\none(2) HH W AH N\nsales S EY L Z\nteam T IY M\nyes Y EH S\nzoo Z UW\n"), 0o600)
	grammar, hdict, err := writeHintGrammar(dir, dict, []string{" Yes", "sales team", "", "one", "xyzzy", "sales  TEAM", "zoo"})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := os.ReadFile(grammar)
	if want := "<hint> = yes | sales team | one | zoo;"; !strings.Contains(string(g), want) || !strings.Contains(string(g), "public <utterance> = <hint>+;") {
		t.Errorf("grammar:\n%s\nwant %q", g, want)
	}
	d, _ := os.ReadFile(hdict)
	for _, line := range []string{"yes Y EH S", "sales S EY L Z", "sales(2) EY L Z", "team T IY M", "one W AH N", "one(2) HH W AH N"} {
		if !strings.Contains(string(d), line+"\n") {
			t.Errorf("dictionary lacks %q:\n%s", line, d)
		}
	}
	if strings.Contains(string(d), "no N OW") || strings.Contains(string(d), "zoo(2)") {
		t.Errorf("dictionary has a word not hinted, or a variant of a two-phone word:\n%s", d)
	}
	if g, _, err := writeHintGrammar(dir, dict, []string{"xyzzy", " "}); g != "" || err != nil {
		t.Errorf("no usable hints: grammar %q, %v", g, err)
	}
}

func TestParseWordLine(t *testing.T) {
	if w, p, ok := parseWordLine("sales 0.330 0.810 0.912000"); !ok || w != "sales" || p != 0.912 {
		t.Errorf("word line: %q %v %v", w, p, ok)
	}
	for _, l := range []string{"one two three", "one two three four", "yes 0.1 x 1", ""} {
		if _, _, ok := parseWordLine(l); ok {
			t.Errorf("%q taken for a word line", l)
		}
	}
	h := &sphinxHypothesis{text: "yes"}
	for _, w := range []string{"<s>", "<sil>", "[NOISE]", "(NULL)", "++BREATH++", "</s>"} {
		h.add(w, 0.1)
	}
	h.add("yes", 0.8)
	h.add("no", 1.2)
	if c := h.confidence(); c != 0.9 {
		t.Errorf("confidence %v, want 0.9 (fillers skipped, 1.2 clamped)", c)
	}
}

// fakeSphinx returns an engine whose program is a shell script with the given body and whose
// model directory has the files findModel wants (empty).
func fakeSphinx(t *testing.T, script string) *Pocketsphinx {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"am/mdef", "x.lm.bin", "x-phone.lm.bin", "x.dict"} {
		os.MkdirAll(dir+"/am", 0o700)
		if err := os.WriteFile(dir+"/"+f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prog := dir + "/fake-sphinx"
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	return NewPocketsphinx(PocketsphinxOptions{Command: prog, Models: map[string]string{"en": dir}})
}

func TestPocketsphinxOutputParsing(t *testing.T) {
	// Two utterances: the first printed at once, the second at the end of the audio, holding
	// the byte count the program read (30 samples at 8 kHz = 60 at 16 kHz = 120 bytes).
	p := fakeSphinx(t, `printf 'yes please\n<s> 0.000 0.020 1.000100\nyes 0.030 0.240 0.8\n<sil> 0.25 0.3 1.0\nplease 0.250 0.440 0.6\n</s> 0.750 1.190 1.000000\n'
n=$(cat | wc -c)
printf 'bytes %s\nbytes 0.1 0.5 0.5\n' "$n"
`)
	results := recognise(t, p, [][]int16{make([]int16, 10), make([]int16, 20)}, Options{})
	want := []Result{{Text: "yes please", Confidence: 0.7, Final: true}, {Text: "bytes 120", Confidence: 0.5, Final: true}}
	if len(results) != 2 || results[0].Text != want[0].Text || results[0].Confidence < 0.699 || results[0].Confidence > 0.701 ||
		!results[0].Final || results[1] != want[1] {
		t.Errorf("results %+v, want %+v", results, want)
	}
}

func TestPocketsphinxProgramFails(t *testing.T) {
	p := fakeSphinx(t, "cat >/dev/null; exit 3\n")
	s, err := p.Start(t.Context(), Options{Hints: nil})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(make([]int16, 160))
	s.Close()
	results := collect(t, s)
	if len(results) != 1 || results[0].Err == nil || !strings.Contains(results[0].Err.Error(), "exit status 3") {
		t.Errorf("results %+v, want one error result with the exit status", results)
	}
}
