package asr

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPocketsphinxModel is where Debian's pocketsphinx-en-us package installs the US
// English model.
const DefaultPocketsphinxModel = "/usr/share/pocketsphinx/model/en-us"

// pocketsphinxRate is the sample rate of the Debian model (16 kHz wideband). Telephone audio
// is upsampled to it by repeating each sample (a zero-order hold), not by media's band-limited
// resampler: the hold folds the 2–4 kHz band into 4–6 kHz, a crude bandwidth extension. The
// wideband model looks for fricatives (the /s/ of "yes", "sales", "six") above 4 kHz; with a
// clean upsampling they are missing and, in tests with espeak-ng speech through an 8 kHz path,
// "sales" was heard as "one" or not at all, while with the hold the hint words of the tests
// were all recognised. Running the model at 8 kHz (-samprate 8000) is not possible: its
// feat.params fixes the filter bank at 130–6800 Hz.
const pocketsphinxRate = 16000

// pocketsphinxSettle is how long after a hypothesis line the session waits for its word lines
// (printed right after it) before delivering the result.
const pocketsphinxSettle = 100 * time.Millisecond

// PocketsphinxOptions configure NewPocketsphinx.
type PocketsphinxOptions struct {
	// Command is the program, looked up on PATH unless it holds a slash. Default
	// "pocketsphinx_continuous" (Debian package pocketsphinx, version 5prealpha).
	Command string
	// Models maps a BCP-47 tag or primary subtag to a model directory laid out like
	// DefaultPocketsphinxModel: an acoustic model directory (holding mdef), a language model
	// *.lm.bin and a pronunciation dictionary *.dict. Default {"en": DefaultPocketsphinxModel}.
	Models map[string]string
	// MaxDuration bounds one session's process. Default 2 minutes.
	MaxDuration time.Duration
}

// Pocketsphinx recognises with CMU pocketsphinx_continuous run as an external program, one
// process per session: audio goes to its standard input as raw 16 kHz PCM
// (-infile /dev/stdin), hypotheses come from its standard output, one line per utterance it
// segments, each followed by its word segments (-time yes: "word start end posterior").
//
// Hints: when some hint words are in the model's dictionary, the session runs a JSGF grammar
// "one or more of the hint phrases" with a dictionary of just those words instead of the full
// language model. Recognition is then restricted to the hints (reliable for yes/no/menu words
// and digits, and the process starts in about 0.1 s instead of 1.5 s); hint phrases with a
// word missing from the dictionary are left out. Without usable hints the full en-US language
// model runs.
//
// Confidence: the mean posterior probability of the recognised words (fillers and silences
// excluded) that pocketsphinx prints. Under a grammar the posteriors are close to 1 for any
// path through it, so a grammar result's confidence says little; under the language model it
// is meaningful. The program gives no partial hypotheses, so Interim yields nothing.
// Safe for concurrent use.
type Pocketsphinx struct {
	opts PocketsphinxOptions
}

// NewPocketsphinx returns the engine. It does not look for the program or the model until
// Start (see Check), so a server starts where they are missing.
func NewPocketsphinx(opts PocketsphinxOptions) *Pocketsphinx {
	if opts.Command == "" {
		opts.Command = "pocketsphinx_continuous"
	}
	if len(opts.Models) == 0 {
		opts.Models = map[string]string{"en": DefaultPocketsphinxModel}
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = 2 * time.Minute
	}
	return &Pocketsphinx{opts: opts}
}

// Supports reports whether a model is configured for the language.
func (p *Pocketsphinx) Supports(language string) bool {
	_, ok := ModelFor(p.opts.Models, language)
	return ok
}

// Check reports whether the program and the model for en-US can be found.
func (p *Pocketsphinx) Check() error {
	if _, err := p.lookPath(); err != nil {
		return err
	}
	dir, ok := ModelFor(p.opts.Models, "en-US")
	if !ok {
		return nil
	}
	_, err := findModel(dir)
	return err
}

func (p *Pocketsphinx) lookPath() (string, error) {
	path, err := exec.LookPath(p.opts.Command)
	if err != nil {
		return "", fmt.Errorf("pocketsphinx program %q: %w", p.opts.Command, ErrNotInstalled)
	}
	return path, nil
}

// sphinxModel is the files of one model directory.
type sphinxModel struct {
	hmm, lm, dict string
}

// findModel locates the acoustic model (a directory holding mdef: dir itself or a
// subdirectory), the language model (*.lm.bin, not the phonetic one) and the dictionary
// (*.dict) in dir.
func findModel(dir string) (sphinxModel, error) {
	var m sphinxModel
	entries, err := os.ReadDir(dir)
	if err != nil {
		return m, fmt.Errorf("pocketsphinx model %s: %w (%w)", dir, err, ErrNotInstalled)
	}
	if _, err := os.Stat(filepath.Join(dir, "mdef")); err == nil {
		m.hmm = dir
	}
	for _, e := range entries {
		name, full := e.Name(), filepath.Join(dir, e.Name())
		switch {
		case e.IsDir() && m.hmm == "":
			if _, err := os.Stat(filepath.Join(full, "mdef")); err == nil {
				m.hmm = full
			}
		case strings.HasSuffix(name, ".lm.bin") && !strings.Contains(name, "phone") && m.lm == "":
			m.lm = full
		case strings.HasSuffix(name, ".dict") && m.dict == "":
			m.dict = full
		}
	}
	if m.hmm == "" || m.lm == "" || m.dict == "" {
		return m, fmt.Errorf("pocketsphinx model %s lacks an acoustic model, *.lm.bin or *.dict: %w", dir, ErrNotInstalled)
	}
	return m, nil
}

// Start runs pocketsphinx_continuous for one recognition.
func (p *Pocketsphinx) Start(ctx context.Context, opts Options) (Session, error) {
	dir, ok := ModelFor(p.opts.Models, opts.Language)
	if !ok {
		return nil, fmt.Errorf("pocketsphinx: %w %q", ErrNoModel, opts.Language)
	}
	path, err := p.lookPath()
	if err != nil {
		return nil, err
	}
	model, err := findModel(dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "parley-asr-")
	if err != nil {
		return nil, fmt.Errorf("pocketsphinx: %w", err)
	}
	// -remove_noise no: the spectral noise subtraction is tuned for wideband microphones and
	// ate the quiet starts of digits in telephone audio.
	args := []string{"-hmm", model.hmm, "-infile", "/dev/stdin", "-samprate", strconv.Itoa(pocketsphinxRate),
		"-time", "yes", "-remove_noise", "no", "-logfn", filepath.Join(tmp, "log")}
	grammar, dict, err := writeHintGrammar(tmp, model.dict, opts.Hints)
	switch {
	case err != nil:
		os.RemoveAll(tmp)
		return nil, err
	case grammar != "":
		args = append(args, "-jsgf", grammar, "-dict", dict)
	default:
		// The full language model costs about half a core per real-time session with
		// pocketsphinx's defaults; without the second (flat) search pass and with narrower
		// beams it costs about a third of that, with transcripts of the same quality on
		// telephone audio (docs/BENCHMARKS.md).
		args = append(args, "-lm", model.lm, "-dict", model.dict,
			"-fwdflat", "no", "-maxhmmpf", "3000", "-maxwpf", "5", "-pl_window", "5")
	}

	ctx, cancel := context.WithTimeout(ctx, p.opts.MaxDuration)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		var stdout io.ReadCloser
		if stdout, err = cmd.StdoutPipe(); err == nil {
			if err = cmd.Start(); err == nil {
				s := &sphinxSession{queue: newAudioQueue(queueFrames), emit: newEmitter(ctx, opts), cancel: cancel, tmp: tmp}
				go s.feed(ctx, stdin)
				go s.run(ctx, cmd, stdout)
				return s, nil
			}
		}
	}
	cancel()
	os.RemoveAll(tmp)
	return nil, fmt.Errorf("pocketsphinx: starting %s: %w", path, err)
}

// writeHintGrammar writes a JSGF grammar accepting one or more hint phrases, and a dictionary
// holding just their words (with alternative pronunciations), into dir. It returns empty paths
// when no hint phrase has all its words in the model's dictionary.
func writeHintGrammar(dir, modelDict string, hints []string) (grammar, dict string, err error) {
	phrases := make([][]string, 0, len(hints))
	want := map[string]bool{}
	for _, h := range cleanHints(hints) {
		var words []string
		for _, w := range strings.Fields(h) {
			w = strings.TrimFunc(w, func(r rune) bool { return !(r >= 'a' && r <= 'z') && r != '\'' })
			if w != "" {
				words = append(words, w)
				want[w] = true
			}
		}
		if len(words) > 0 {
			phrases = append(phrases, words)
		}
	}
	if len(phrases) == 0 {
		return "", "", nil
	}
	f, err := os.Open(modelDict)
	if err != nil {
		return "", "", fmt.Errorf("pocketsphinx: reading the dictionary: %w", err)
	}
	defer f.Close()
	var entries strings.Builder
	have := map[string]bool{}
	variants := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		head, _, _ := strings.Cut(line, " ")
		word, _, _ := strings.Cut(head, "(") // "one(2)" is a second pronunciation of "one"
		if want[word] {
			have[word] = true
			entries.WriteString(line)
			entries.WriteByte('\n')
			variants[word] = append(variants[word], line)
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("pocketsphinx: reading the dictionary: %w", err)
	}
	for word, lines := range variants {
		entries.WriteString(telephoneVariants(word, lines))
	}
	var alts []string
	seen := map[string]bool{}
	for _, words := range phrases {
		usable := true
		for _, w := range words {
			usable = usable && have[w]
		}
		alt := strings.Join(words, " ")
		if usable && !seen[alt] {
			seen[alt] = true
			alts = append(alts, alt)
		}
	}
	if len(alts) == 0 {
		return "", "", nil
	}
	grammar, dict = filepath.Join(dir, "hints.gram"), filepath.Join(dir, "hints.dict")
	jsgf := "#JSGF V1.0;\ngrammar hints;\npublic <utterance> = <hint>+;\n<hint> = " + strings.Join(alts, " | ") + ";\n"
	if err := os.WriteFile(grammar, []byte(jsgf), 0o600); err != nil {
		return "", "", fmt.Errorf("pocketsphinx: %w", err)
	}
	if err := os.WriteFile(dict, []byte(entries.String()), 0o600); err != nil {
		return "", "", fmt.Errorf("pocketsphinx: %w", err)
	}
	return grammar, dict, nil
}

// telephoneVariants returns extra dictionary lines for word, given its lines of the model's
// dictionary: for each pronunciation that starts with S or Z followed by at least two more
// phones, the same without that first phone ("sales(9) EY L Z"). A word-initial /s/ has most of
// its energy above the telephone band, and without the variant such words lost to shorter
// hint words. Variants are numbered after the existing pronunciations.
func telephoneVariants(word string, lines []string) string {
	var b strings.Builder
	next := len(lines) + 1
	for _, line := range lines {
		_, phones, _ := strings.Cut(line, " ")
		phones, _, _ = strings.Cut(phones, "#")
		f := strings.Fields(phones)
		if len(f) >= 3 && (f[0] == "S" || f[0] == "Z") {
			fmt.Fprintf(&b, "%s(%d) %s\n", word, next, strings.Join(f[1:], " "))
			next++
		}
	}
	return b.String()
}

type sphinxSession struct {
	queue  *audioQueue
	emit   *emitter
	cancel context.CancelFunc
	tmp    string

	mu      sync.Mutex
	feedErr error
}

func (s *sphinxSession) Write(frame []int16) error { return s.queue.write(frame) }
func (s *sphinxSession) Results() <-chan Result    { return s.emit.out }
func (s *sphinxSession) Close() error              { s.queue.close(); return nil }

// feed upsamples queued frames to 16 kHz (upsample16k) and writes them to the program's
// input, which it closes when the queue is closed (end of audio: the program finishes the
// utterance).
func (s *sphinxSession) feed(ctx context.Context, stdin io.WriteCloser) {
	defer stdin.Close()
	var buf []byte
	for {
		select {
		case frame, ok := <-s.queue.ch:
			if !ok {
				return
			}
			buf = upsample16k(buf[:0], frame)
			if _, err := stdin.Write(buf); err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					s.feedErr = err
					s.mu.Unlock()
				}
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// upsample16k appends 8 kHz samples to buf as 16 kHz little-endian PCM, each sample twice (see
// pocketsphinxRate for why a hold and not a filter).
func upsample16k(buf []byte, pcm []int16) []byte {
	for _, x := range pcm {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(x))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(x))
	}
	return buf
}

// run turns the program's output into results and cleans up when it exits.
func (s *sphinxSession) run(ctx context.Context, cmd *exec.Cmd, stdout io.Reader) {
	defer os.RemoveAll(s.tmp)
	defer close(s.emit.out)
	defer s.cancel()
	defer s.queue.close()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var hyp *sphinxHypothesis
	flush := func() {
		if hyp != nil {
			s.emit.final(hyp.text, hyp.confidence())
			hyp = nil
		}
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if word, prob, isWord := parseWordLine(line); isWord {
				if hyp != nil {
					hyp.add(word, prob)
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			flush()
			hyp = &sphinxHypothesis{text: line}
			settle.Reset(pocketsphinxSettle)
		case <-settle.C:
			flush()
		case <-ctx.Done():
			break loop
		}
	}
	err := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.emit.fail(fmt.Errorf("pocketsphinx: session longer than the limit: %w", ctx.Err()))
		}
		return
	case err != nil:
		s.emit.fail(fmt.Errorf("pocketsphinx: %w%s", err, s.logTail()))
		return
	}
	s.mu.Lock()
	feedErr := s.feedErr
	s.mu.Unlock()
	if feedErr != nil {
		s.emit.fail(fmt.Errorf("pocketsphinx: writing audio: %w%s", feedErr, s.logTail()))
		return
	}
	flush()
}

// logTail returns the ERROR lines of the program's log, for error messages.
func (s *sphinxSession) logTail() string {
	data, err := os.ReadFile(filepath.Join(s.tmp, "log"))
	if err != nil {
		return ""
	}
	var errs []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "FATAL") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) > 3 {
		errs = errs[len(errs)-3:]
	}
	if len(errs) == 0 {
		return ""
	}
	return ": " + strings.Join(errs, "; ")
}

// sphinxHypothesis is one utterance's hypothesis line and the posteriors of its words.
type sphinxHypothesis struct {
	text  string
	sum   float64
	words int
}

func (h *sphinxHypothesis) add(word string, prob float64) {
	if isSphinxFiller(word) {
		return
	}
	h.sum += clamp01(prob)
	h.words++
}

func (h *sphinxHypothesis) confidence() float64 {
	if h.words == 0 {
		return 0
	}
	return h.sum / float64(h.words)
}

// parseWordLine recognises a word segment line: "word start end posterior".
func parseWordLine(line string) (word string, prob float64, ok bool) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return "", 0, false
	}
	for _, num := range f[1:3] {
		if _, err := strconv.ParseFloat(num, 64); err != nil {
			return "", 0, false
		}
	}
	prob, err := strconv.ParseFloat(f[3], 64)
	if err != nil {
		return "", 0, false
	}
	return f[0], prob, true
}

// isSphinxFiller reports segments that are not words: sentence marks <s> </s> <sil>, noise
// fillers such as [NOISE] or ++BREATH++, and the grammar's null transitions (NULL).
func isSphinxFiller(word string) bool {
	return strings.HasPrefix(word, "<") || strings.HasPrefix(word, "[") || strings.HasPrefix(word, "++") || word == "(NULL)"
}
