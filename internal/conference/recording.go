package conference

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// RecordingOptions describe a room recording started by REST.
type RecordingOptions struct {
	Format    string        // "mp3" or "wav"; "" means mp3
	TimeLimit time.Duration // 0 means until stopped or the room ends
	// CallbackURL, CallbackMethod and Tag are not used by the room; they come back in the
	// RecordingDone event (Tag can carry the api_id of the start request).
	CallbackURL    string
	CallbackMethod string
	Tag            string
}

// RecordingInfo describes a room recording.
type RecordingInfo struct {
	ID     string
	Format string // the format actually written (see ManagerOptions.Sinks)
	Path   string
	// ByAttribute is true for a recording started by record="true", false for REST.
	ByAttribute    bool
	CallbackURL    string
	CallbackMethod string
	Tag            string

	Start    time.Time
	End      time.Time     // zero until final
	Duration time.Duration // audio written; final once End is set
	// FramesDropped counts frames lost because the disk could not keep up.
	FramesDropped int64
	// Err is set when writing the file failed.
	Err error
}

// RecordingSink receives the room mix, one 20 ms frame of 8 kHz mono PCM at a time, on a
// writer goroutine of its own (never on the room goroutine). Close finalises the file.
type RecordingSink interface {
	WriteFrame(pcm []int16) error
	Close() error
}

// SinkFactory creates the sink of one recording at path.
type SinkFactory func(path string) (RecordingSink, error)

// NewWAVSink writes an 8 kHz 16-bit mono WAV file at path through a buffered writer.
func NewWAVSink(path string) (RecordingSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating recording file: %w", err)
	}
	bw := &bufferedFile{f: f, w: bufio.NewWriterSize(f, 32<<10)}
	w, err := media.NewWAVWriter(bw, 1)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &wavSink{f: bw, w: w}, nil
}

type wavSink struct {
	f *bufferedFile
	w *media.WAVWriter
}

func (s *wavSink) WriteFrame(pcm []int16) error { return s.w.WriteFrame(pcm) }

func (s *wavSink) Close() error {
	err := s.w.Close()
	if ferr := s.f.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing recording file: %w", ferr)
	}
	if cerr := s.f.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing recording file: %w", cerr)
	}
	return err
}

// bufferedFile is an io.WriteSeeker that buffers writes and flushes before seeking.
type bufferedFile struct {
	f *os.File
	w *bufio.Writer
}

func (b *bufferedFile) Write(p []byte) (int, error) { return b.w.Write(p) }

func (b *bufferedFile) Seek(off int64, whence int) (int64, error) {
	if err := b.w.Flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(off, whence)
}

var _ io.WriteSeeker = (*bufferedFile)(nil)

// recQueue is how many frames (20 ms each) may wait for the disk before frames are dropped.
const recQueue = 250

// recorder runs one recording: the room goroutine hands it frames without blocking and a
// writer goroutine writes them to the sink. Stopping is a hand-off too (see room.stopRecording):
// the room goroutine never waits for the sink.
type recorder struct {
	info    RecordingInfo
	limit   time.Duration
	samples int64 // frames handed over, in samples (owned by the room goroutine)
	frames  chan *[media.FrameSamples]int16
	free    chan *[media.FrameSamples]int16
	done    chan error
	dropped int64
	// final is closed once the file is final and RecordingDone emitted; result is set before.
	final  chan struct{}
	result *RecordingInfo
}

func startRecorder(sink RecordingSink, info RecordingInfo, limit time.Duration) *recorder {
	r := &recorder{
		info:   info,
		limit:  limit,
		frames: make(chan *[media.FrameSamples]int16, recQueue),
		free:   make(chan *[media.FrameSamples]int16, recQueue),
		done:   make(chan error, 1),
		final:  make(chan struct{}),
	}
	go r.write(sink)
	return r
}

func (r *recorder) write(sink RecordingSink) {
	var werr error
	for f := range r.frames {
		if werr == nil {
			werr = sink.WriteFrame(f[:])
		}
		select {
		case r.free <- f:
		default:
		}
	}
	err := sink.Close()
	if werr != nil {
		err = werr
	}
	r.done <- err
}

// push hands one frame to the writer; it never blocks.
func (r *recorder) push(pcm *[media.FrameSamples]int16) {
	var f *[media.FrameSamples]int16
	select {
	case f = <-r.free:
	default:
		f = new([media.FrameSamples]int16)
	}
	*f = *pcm
	select {
	case r.frames <- f:
		r.samples += media.FrameSamples
	default:
		r.dropped++
	}
}

// expired reports whether the recording reached its time limit.
func (r *recorder) expired() bool {
	return r.limit > 0 && time.Duration(r.samples)*time.Second/media.SampleRate >= r.limit
}

// handOff ends the writer's input and fixes what the room goroutine owns (duration, drops,
// end); it returns at once. Called once, on the room goroutine.
func (r *recorder) handOff(end time.Time) {
	close(r.frames)
	r.info.End = end
	r.info.Duration = time.Duration(r.samples) * time.Second / media.SampleRate
	r.info.FramesDropped = r.dropped
}

// wait blocks until the writer has drained and closed the sink, and returns the final info.
// Called once after handOff, never on the room goroutine.
func (r *recorder) wait() *RecordingInfo {
	err := <-r.done
	info := r.info
	if err != nil {
		info.Err = fmt.Errorf("recording %s: %w", info.ID, err)
	}
	return &info
}

// awaitFinal waits, outside the room goroutine, until the recording is final.
func (r *recorder) awaitFinal(ctx context.Context) (*RecordingInfo, error) {
	select {
	case <-r.final:
		return r.result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for recording %s to be final: %w", r.info.ID, ctx.Err())
	}
}
