// Package mp3enc writes recordings as MP3 files: MPEG-2 Layer III at 16 kHz, mono, constant
// bit rate (spec §6.3), by piping PCM into Debian's lame encoder, run as an external program
// the way espeak-ng is for speech. No pure-Go MP3 encoder was found that we could trust for
// conformance, and lame is the reference encoder.
//
// It must not know about calls, rooms or storage: it turns 8 kHz frames into an MP3 file.
package mp3enc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/parley-voice/parley/internal/media"
)

// Encoding parameters of spec §6.3: 8 kHz audio is resampled to 16 kHz, because 8 kHz MP3 is
// MPEG-2.5, which many decoders refuse.
const (
	OutputRate  = 16000
	BitRateKbps = 32
)

// ErrNotInstalled is returned when the lame program cannot be found.
var ErrNotInstalled = errors.New("lame not found on PATH: install the lame package to record MP3")

// Encoder writes one MP3 file. It is not safe for concurrent use.
type Encoder struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	stderr    *bytes.Buffer
	rs        *media.Resampler
	rs2       *media.Resampler // right channel of a stereo file
	buf       []int16
	buf2      []int16
	raw       []byte
	closeOnce sync.Once
	err       error
}

// Available reports whether the encoder program can be run.
func Available(command string) error {
	if command == "" {
		command = "lame"
	}
	if _, err := exec.LookPath(command); err != nil {
		return ErrNotInstalled
	}
	return nil
}

// New starts encoding mono audio into path with the lame program named by command ("" means
// "lame").
func New(command, path string) (*Encoder, error) { return open(command, path, 1) }

// NewStereo starts encoding two channels (WriteStereo) into path.
func NewStereo(command, path string) (*Encoder, error) { return open(command, path, 2) }

func open(command, path string, channels int) (*Encoder, error) {
	if command == "" {
		command = "lame"
	}
	bin, err := exec.LookPath(command)
	if err != nil {
		return nil, ErrNotInstalled
	}
	mode, rate := "m", BitRateKbps
	if channels == 2 {
		mode, rate = "s", 2*BitRateKbps
	}
	cmd := exec.Command(bin, "--quiet", "-r", "-s", "16", "--bitwidth", "16", "--signed",
		"--little-endian", "-m", mode, "--cbr", "-b", fmt.Sprint(rate), "--resample", "16",
		"-", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting lame: %w", err)
	}
	e := &Encoder{cmd: cmd, stdin: stdin, stderr: &bytes.Buffer{}, rs: media.NewResampler(media.SampleRate, OutputRate)}
	if channels == 2 {
		e.rs2 = media.NewResampler(media.SampleRate, OutputRate)
	}
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting lame: %w", err)
	}
	return e, nil
}

// WriteFrame encodes one frame of 8 kHz PCM.
func (e *Encoder) WriteFrame(pcm []int16) error {
	if e.err != nil {
		return e.err
	}
	e.buf = e.rs.Write(e.buf[:0], pcm)
	e.raw = toBytes(e.raw[:0], e.buf)
	if _, err := e.stdin.Write(e.raw); err != nil {
		e.err = fmt.Errorf("mp3 encoder: %w%s", err, e.detail())
	}
	return e.err
}

// WriteStereo encodes one frame of each channel of a stereo file (left and right have the same
// length).
func (e *Encoder) WriteStereo(left, right []int16) error {
	if e.err != nil {
		return e.err
	}
	if e.rs2 == nil {
		return errors.New("mp3 encoder: WriteStereo on a mono file")
	}
	e.buf = e.rs.Write(e.buf[:0], left)
	e.buf2 = e.rs2.Write(e.buf2[:0], right)
	e.raw = e.raw[:0]
	for i := range min(len(e.buf), len(e.buf2)) {
		l, r := e.buf[i], e.buf2[i]
		e.raw = append(e.raw, byte(l), byte(uint16(l)>>8), byte(r), byte(uint16(r)>>8))
	}
	if _, err := e.stdin.Write(e.raw); err != nil {
		e.err = fmt.Errorf("mp3 encoder: %w%s", err, e.detail())
	}
	return e.err
}

// Close flushes the encoder and waits until the file is complete.
func (e *Encoder) Close() error {
	e.closeOnce.Do(func() {
		if e.err == nil && e.rs2 == nil {
			e.buf = e.rs.Flush(e.buf[:0])
			if _, err := e.stdin.Write(toBytes(e.raw[:0], e.buf)); err != nil {
				e.err = fmt.Errorf("mp3 encoder: %w%s", err, e.detail())
			}
		}
		_ = e.stdin.Close()
		if err := e.cmd.Wait(); err != nil && e.err == nil {
			e.err = fmt.Errorf("mp3 encoder: %w%s", err, e.detail())
		}
	})
	return e.err
}

func (e *Encoder) detail() string {
	if s := bytes.TrimSpace(e.stderr.Bytes()); len(s) > 0 {
		return ": " + string(s)
	}
	return ""
}

func toBytes(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, byte(s), byte(uint16(s)>>8))
	}
	return dst
}

// Remove deletes a partial file after a failed encoding.
func Remove(path string) { _ = os.Remove(path) }
