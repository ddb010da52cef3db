package flow

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/vxml"
)

// RecordingMeta describes a final call recording, for its Recording row.
type RecordingMeta struct {
	ID        string
	AccountID string
	CallUUID  string
	From, To  string
	Format    string
	Path      string
	Start     time.Time
	End       time.Time
	Duration  time.Duration
}

// Record end reasons of spec §9.6.4.
const (
	endSilence   = "RecordingTimeout"
	endMaxLength = "maxLength"
	endKey       = "FinishedOnKey"
	endHungUp    = "HungUp"
)

// recording is one call recording in progress.
type recording struct {
	id     string
	format string
	path   string
	start  time.Time
	w      *recWriter
}

func (x *run) startRecording(format string, stereo bool) (*recording, error) {
	id := uuid.NewString()
	format = x.r.recordingFormat(format)
	channels := 1
	if stereo {
		channels = 2
	}
	file, path, err := createAudioFile(x.r.RecordingsDir, id, format, x.r.MP3Command, channels)
	if err != nil {
		return nil, err
	}
	return &recording{id: id, format: format, path: path, start: time.Now(), w: newRecWriter(file, stereo)}, nil
}

// finish makes the file final and stores its row; it returns the metadata.
func (x *run) finishRecording(rec *recording) RecordingMeta {
	dur, err := rec.w.close()
	end := time.Now()
	if err != nil {
		x.warn("writing the recording failed", "recording_id", rec.id, "err", err)
	}
	if rec.w.dropped > 0 {
		x.warn("recording lost frames: the disk could not keep up", "recording_id", rec.id, "frames", rec.w.dropped)
	}
	id := x.c.Identity()
	meta := RecordingMeta{ID: rec.id, AccountID: id.AccountID, CallUUID: id.UUID, From: id.From, To: id.To,
		Format: rec.format, Path: rec.path, Start: rec.start, End: end, Duration: dur}
	if x.r.SaveRecording != nil {
		if err := x.r.SaveRecording(context.Background(), meta); err != nil {
			x.warn("storing the recording failed", "recording_id", rec.id, "err", err)
		}
	}
	return meta
}

// recordingParams are the fields of spec §9.6.4; meta nil means a background recording that has
// just started (durations -1).
func (x *run) recordingParams(rec *recording, meta *RecordingMeta, reason string) url.Values {
	v := CallParams(x.c, "")
	u := RecordingURL(x.r.PublicBaseURL, x.c.Identity().AccountID, rec.id, rec.format)
	v.Set("RecordingID", rec.id)
	v.Set("RecordUrl", u)
	v.Set("RecordFile", u)
	v.Set("RecordingStartMs", strconv.FormatInt(rec.start.UnixMilli(), 10))
	if meta == nil {
		v.Set("RecordingDuration", "-1")
		v.Set("RecordingDurationMs", "-1")
		v.Set("RecordingEndMs", "-1")
		v.Set("RecordingEndReason", "")
		return v
	}
	v.Set("RecordingDuration", strconv.FormatInt(int64(meta.Duration/time.Second), 10))
	v.Set("RecordingDurationMs", strconv.FormatInt(meta.Duration.Milliseconds(), 10))
	v.Set("RecordingEndMs", strconv.FormatInt(meta.End.UnixMilli(), 10))
	v.Set("RecordingEndReason", reason)
	return v
}

// record runs <Record> (spec §7.11).
func (x *run) record(e *vxml.Record) (*vxml.Document, error) {
	if err := x.answer(); err != nil {
		return nil, err
	}
	if e.RecordSession {
		return nil, x.recordSession(e)
	}
	if e.StartOnDialAnswer {
		x.dialRecord = e
		return nil, nil
	}
	x.blocking()
	ctx := x.ctx
	if e.PlayBeep {
		if err := x.c.Play(ctx, media.BeepRecord()); err != nil {
			return nil, x.ended(err)
		}
	}
	rec, err := x.startRecording(e.FileFormat, false)
	if err != nil {
		x.warn("cannot record; Record skipped", "err", err)
		return nil, nil
	}
	ended := make(chan string, 1)
	end := func(reason string) {
		select {
		case ended <- reason:
		default:
		}
	}
	silence := media.NewSilenceDetector(media.DefaultSilenceDBFS, e.Timeout)
	x.c.SetAudioSink(func(pcm []int16) {
		rec.w.mono(pcm)
		if silence.Feed(pcm) {
			end(endSilence)
		}
	})
	if e.FinishOnKey != "" {
		x.c.SetDigitSink(func(d rune) {
			if strings.ContainsRune(e.FinishOnKey, d) {
				end(endKey)
			}
		})
	}
	maxLen := time.NewTimer(e.MaxLength)
	var reason string
	select {
	case reason = <-ended:
	case <-maxLen.C:
		reason = endMaxLength
	case <-ctx.Done():
		reason = endHungUp
	}
	maxLen.Stop()
	x.c.SetAudioSink(nil)
	x.c.SetDigitSink(nil)
	meta := x.finishRecording(rec)
	params := x.recordingParams(rec, &meta, reason)
	if e.CallbackURL != "" {
		stopParams := x.recordingParams(rec, &meta, reason)
		stopParams.Set("Event", "RecordStop")
		x.notify(e.CallbackURL, e.CallbackMethod, stopParams)
	}
	if reason == endHungUp {
		if e.Action != "" {
			x.notify(e.Action, e.Method, params)
		}
		return nil, errCallEnded
	}
	if e.Action == "" {
		return nil, nil
	}
	if e.Redirect {
		return x.fetchDocument(actionDoc, e.Action, e.Method, params)
	}
	x.notify(e.Action, e.Method, params)
	return nil, nil
}

// recordSession records the whole call in the background, in stereo: channel 1 the caller,
// channel 2 what the caller hears. It ends with the call.
func (x *run) recordSession(e *vxml.Record) error {
	rec, err := x.startRecording(e.FileFormat, true)
	if err != nil {
		x.warn("cannot record the session; Record skipped", "err", err)
		return nil
	}
	removeIn := x.c.AddTap(call.TapReceived, rec.w.in)
	removeOut := x.c.AddTap(call.TapSent, rec.w.out)
	if e.Action != "" {
		x.notify(e.Action, e.Method, x.recordingParams(rec, nil, ""))
	}
	go func() {
		<-x.c.Done()
		removeIn()
		removeOut()
		meta := x.finishRecording(rec)
		if e.CallbackURL != "" {
			p := x.recordingParams(rec, &meta, endHungUp)
			p.Set("Event", "RecordStop")
			x.notify(e.CallbackURL, e.CallbackMethod, p)
		}
	}()
	return nil
}
