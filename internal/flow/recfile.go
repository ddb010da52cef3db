package flow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/mp3enc"
)

// recQueueFrames is how much audio (20 ms frames) may wait for the disk before frames are
// dropped; the RTP reader never blocks on a file.
const recQueueFrames = 500

// audioFile is a recording file being written, mono or stereo.
type audioFile interface {
	WriteFrame(pcm []int16) error
	WriteStereo(left, right []int16) error
	Close() error
}

// wavFile is a WAV recording on disk.
type wavFile struct {
	f *os.File
	w *media.WAVWriter
}

func (f *wavFile) WriteFrame(pcm []int16) error          { return f.w.WriteFrame(pcm) }
func (f *wavFile) WriteStereo(left, right []int16) error { return f.w.WriteStereo(left, right) }
func (f *wavFile) Close() error {
	err := f.w.Close()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordingFormat is the format a recording asked for as format is written in: MP3 needs the
// lame encoder, and without it the recording is written as WAV (docs/operations.md) rather
// than not at all.
func (r *Runner) recordingFormat(format string) string {
	if format != "mp3" {
		return format
	}
	if err := mp3enc.Available(r.MP3Command); err != nil {
		r.logger().Warn("MP3 recording written as WAV", "err", err)
		return "wav"
	}
	return format
}

// createAudioFile opens <dir>/<id>.<format> for a recording of 1 or 2 channels; mp3Command
// is the lame program ("" for lame on PATH).
func createAudioFile(dir, id, format, mp3Command string, channels int) (audioFile, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating recordings directory: %w", err)
	}
	path := filepath.Join(dir, id+"."+format)
	switch format {
	case "mp3":
		if channels == 2 {
			enc, err := mp3enc.NewStereo(mp3Command, path)
			return enc, path, err
		}
		enc, err := mp3enc.New(mp3Command, path)
		return enc, path, err
	case "wav":
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("creating recording file: %w", err)
		}
		w, err := media.NewWAVWriter(f, channels)
		if err != nil {
			f.Close()
			os.Remove(path)
			return nil, "", err
		}
		return &wavFile{f: f, w: w}, path, nil
	}
	return nil, "", fmt.Errorf("unknown recording format %q", format)
}

// recWriter feeds an audioFile from the media goroutines through a queue and a writer
// goroutine. Stereo pairs the two directions frame by frame; a direction that falls silent (no
// RTP) is padded so the channels stay aligned.
type recWriter struct {
	file   audioFile
	stereo bool // pairs the two directions (in, out)
	// sum writes each pair as one mono frame, the two directions added (a mono recording
	// of what a leg says and hears).
	sum     bool
	frames  chan [2][]int16
	done    chan error
	mu      sync.Mutex
	left    [][]int16 // stereo: frames waiting for their partner
	right   [][]int16
	closed  bool
	written int64 // frames written (writer goroutine only, read after done)
	dropped int64
}

// stereoLag is how many frames one direction may run ahead before the other is padded.
const stereoLag = 5

func newRecWriter(file audioFile, stereo bool) *recWriter {
	w := &recWriter{file: file, stereo: stereo, frames: make(chan [2][]int16, recQueueFrames), done: make(chan error, 1)}
	go w.run()
	return w
}

func (w *recWriter) run() {
	var err error
	for pair := range w.frames {
		if err != nil {
			continue
		}
		switch {
		case w.sum:
			err = w.file.WriteFrame(sumFrames(pair[0], pair[1]))
		case w.stereo:
			err = w.file.WriteStereo(pair[0], pair[1])
		default:
			err = w.file.WriteFrame(pair[0])
		}
		w.written++
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	w.done <- err
}

// sumFrames adds b into a (clamped) and returns a; a frame shorter than the other is padded.
func sumFrames(a, b []int16) []int16 {
	if len(b) > len(a) {
		a, b = b, a
	}
	for i, v := range b {
		a[i] = int16(max(min(int32(a[i])+int32(v), 32767), -32768))
	}
	return a
}

func (w *recWriter) enqueue(pair [2][]int16) {
	select {
	case w.frames <- pair:
	default:
		w.dropped++
	}
}

// mono queues one frame of a mono recording.
func (w *recWriter) mono(pcm []int16) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.enqueue([2][]int16{append([]int16(nil), pcm...)})
	}
}

// in and out queue one frame of each direction of a stereo recording.
func (w *recWriter) in(pcm []int16)  { w.side(&w.left, &w.right, pcm, true) }
func (w *recWriter) out(pcm []int16) { w.side(&w.right, &w.left, pcm, false) }

func (w *recWriter) side(mine, other *[][]int16, pcm []int16, isLeft bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	frame := append([]int16(nil), pcm...)
	if len(*other) > 0 {
		partner := (*other)[0]
		*other = (*other)[1:]
		if isLeft {
			w.enqueue([2][]int16{frame, partner})
		} else {
			w.enqueue([2][]int16{partner, frame})
		}
		return
	}
	*mine = append(*mine, frame)
	if len(*mine) > stereoLag {
		f := (*mine)[0]
		*mine = (*mine)[1:]
		silence := make([]int16, len(f))
		if isLeft {
			w.enqueue([2][]int16{f, silence})
		} else {
			w.enqueue([2][]int16{silence, f})
		}
	}
}

// close flushes what is queued and returns once the file is final, with the audio length.
func (w *recWriter) close() (time.Duration, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, errors.New("recording already closed")
	}
	w.closed = true
	for _, f := range w.left {
		w.enqueue([2][]int16{f, make([]int16, len(f))})
	}
	for _, f := range w.right {
		w.enqueue([2][]int16{make([]int16, len(f)), f})
	}
	w.left, w.right = nil, nil
	close(w.frames)
	w.mu.Unlock()
	err := <-w.done
	return time.Duration(w.written) * media.FrameDuration, err
}
