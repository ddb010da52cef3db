package flow

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/call"
)

// CallRecording is a recording of one leg started by the REST API (calls-more §A.7): what the
// leg's party says and what it hears (the bridged party, the room, prompts, overlays), from
// its start until Stop or the leg's end. It observes the leg through taps, so it survives
// element changes, transfers, rooms and bridges.
type CallRecording struct {
	ID     string
	Format string
	Start  time.Time

	r       *Runner
	c       *call.Call
	rec     *recording
	removes []func()
	once    sync.Once
	meta    RecordingMeta
	done    chan struct{}
}

// StartCallRecording starts recording c in format ("mp3" or "wav"; WAV when the MP3 encoder
// is missing): stereo puts what the party says on channel 1 and what it hears on channel 2,
// mono their sum.
func (r *Runner) StartCallRecording(c *call.Call, format string, stereo bool) (*CallRecording, error) {
	id := uuid.NewString()
	format = r.recordingFormat(format)
	channels := 1
	if stereo {
		channels = 2
	}
	file, path, err := createAudioFile(r.RecordingsDir, id, format, r.MP3Command, channels)
	if err != nil {
		return nil, err
	}
	w := newRecWriter(file, true)
	w.sum = !stereo
	cr := &CallRecording{ID: id, Format: format, Start: time.Now(), r: r, c: c, done: make(chan struct{}),
		rec: &recording{id: id, format: format, path: path, start: time.Now(), w: w}}
	cr.removes = []func(){c.AddTap(call.TapReceived, w.in), c.AddTap(call.TapSent, w.out)}
	return cr, nil
}

// Stopped is closed once the recording has been stopped and its file is final.
func (cr *CallRecording) Stopped() <-chan struct{} { return cr.done }

// Stop ends the recording, makes the file final, stores its row and returns its metadata.
// Later calls return the same metadata once the first has finished.
func (cr *CallRecording) Stop() RecordingMeta {
	cr.once.Do(func() {
		for _, remove := range cr.removes {
			remove()
		}
		dur, err := cr.rec.w.close()
		log := cr.c.Logger().With("recording_id", cr.ID)
		if err != nil {
			log.Warn("writing the call recording failed", "err", err)
		}
		id := cr.c.Identity()
		cr.meta = RecordingMeta{ID: cr.ID, AccountID: id.AccountID, CallUUID: id.UUID, From: id.From, To: id.To,
			Format: cr.Format, Path: cr.rec.path, Start: cr.Start, End: time.Now(), Duration: dur}
		if cr.r.SaveRecording != nil {
			if err := cr.r.SaveRecording(context.Background(), cr.meta); err != nil {
				log.Warn("storing the call recording failed", "err", err)
			}
		}
		close(cr.done)
	})
	<-cr.done
	return cr.meta
}
