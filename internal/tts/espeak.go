package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/voice"
)

// ErrNotInstalled is returned when the espeak-ng program cannot be found.
var ErrNotInstalled = errors.New("espeak-ng not found on PATH: install the espeak-ng package")

// EspeakOptions configure NewEspeak.
type EspeakOptions struct {
	// Command is the espeak-ng program, looked up on PATH unless it holds a slash.
	// Default "espeak-ng".
	Command string
	// Timeout bounds one synthesis. Default 30 s.
	Timeout time.Duration
	// MaxConcurrent bounds how many espeak-ng processes run at once. Default: the CPU count.
	MaxConcurrent int
	// MaxOutputBytes bounds the WAV read from espeak-ng. Default 64 MiB (about 25 minutes).
	MaxOutputBytes int
}

// Espeak synthesises with the espeak-ng program. It is safe for concurrent use.
type Espeak struct {
	opts EspeakOptions
	sem  chan struct{}
}

// NewEspeak returns an espeak-ng synthesiser. It does not look for the program until the first
// request (see Check), so a server starts even where espeak-ng is missing.
func NewEspeak(opts EspeakOptions) *Espeak {
	if opts.Command == "" {
		opts.Command = "espeak-ng"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = runtime.NumCPU()
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = 64 << 20
	}
	return &Espeak{opts: opts, sem: make(chan struct{}, opts.MaxConcurrent)}
}

// Check reports whether the espeak-ng program can be found.
func (e *Espeak) Check() error {
	_, err := e.lookPath()
	return err
}

func (e *Espeak) lookPath() (string, error) {
	p, err := exec.LookPath(e.opts.Command)
	if err != nil {
		if e.opts.Command == "espeak-ng" {
			return "", ErrNotInstalled
		}
		return "", fmt.Errorf("%s not found (tts_command): install the espeak-ng package or fix the path: %w", e.opts.Command, ErrNotInstalled)
	}
	return p, nil
}

// Args returns the espeak-ng arguments for a normalised request. The text itself is never an
// argument: it goes to standard input.
func espeakArgs(r Request) []string {
	variant := "+f3"
	if r.Voice == voice.Man {
		variant = "+m3"
	}
	args := []string{"--stdout", "--stdin", "-b", "1", "-v", espeakVoices[r.Language] + variant}
	if r.SSML {
		args = append(args, "-m")
	}
	return args
}

// Synthesize runs espeak-ng and returns its speech as 8 kHz mono PCM. Empty text (after
// markup is removed) gives no samples and no error.
func (e *Espeak) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	r, err := Normalize(r)
	if err != nil {
		return nil, err
	}
	input, spoken := r.Text, r.Text
	if r.SSML {
		input, spoken, r.SSML = cleanSSML(r.Text)
	}
	if strings.TrimSpace(spoken) == "" {
		return nil, nil
	}
	path, err := e.lookPath()
	if err != nil {
		return nil, err
	}

	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("speech synthesis: %w", ctx.Err())
	}

	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, espeakArgs(r)...)
	cmd.Stdin = strings.NewReader(input)
	out := &limitedBuffer{max: e.opts.MaxOutputBytes}
	stderr := &limitedBuffer{max: 4096, truncate: true}
	cmd.Stdout, cmd.Stderr = out, stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("speech synthesis with %s: %w", filepath.Base(path), ctx.Err())
		}
		if out.overflow {
			return nil, fmt.Errorf("speech synthesis: espeak-ng produced more than %d bytes", e.opts.MaxOutputBytes)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("speech synthesis with %s (voice %s) failed: %s", filepath.Base(path), espeakVoices[r.Language], msg)
	}
	pcm, err := media.DecodeWAV(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("speech synthesis: reading espeak-ng's WAV output: %w", err)
	}
	return pcm, nil
}

// limitedBuffer keeps at most max bytes. Past that it fails the write, which stops the
// process, or with truncate set quietly drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	truncate bool
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Buffer.Len(); len(p) > room {
		if b.truncate {
			b.Buffer.Write(p[:max(room, 0)])
			return len(p), nil
		}
		b.overflow = true
		return 0, errors.New("output too large")
	}
	return b.Buffer.Write(p)
}
