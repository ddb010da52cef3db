package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/mp3enc"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/webhook"
)

// newConferences builds the room manager: events become callbacks and Recording rows, sounds
// are resolved by the flow, MP3 recordings go through lame.
func (s *Server) newConferences() *conference.Manager {
	if err := os.MkdirAll(s.cfg.RecordingsDir, 0o700); err != nil {
		s.log.Error("creating the recordings directory", "dir", s.cfg.RecordingsDir, "err", err)
	}
	sinks := map[string]conference.SinkFactory{}
	if err := mp3enc.Available(""); err == nil {
		sinks["mp3"] = func(path string) (conference.RecordingSink, error) { return mp3enc.New("", path) }
	} else {
		s.log.Warn("MP3 recordings will be written as WAV", "err", err)
	}
	return conference.NewManager(conference.ManagerOptions{
		Events:        s.onConferenceEvent,
		Sounds:        s.runner,
		RecordingsDir: s.cfg.RecordingsDir,
		Sinks:         sinks,
		Logger:        s.log,
		Observer:      s.metrics,
	})
}

// onConferenceEvent turns room events into callbacks and recording rows. It runs on the room's
// event goroutine, not the mixer's, so the outbox write may take a database round trip; the
// room delivers a member's Exit before its Join returns, so the call's hangup webhook, queued
// after the flow ends, always follows it in the outbox (spec §9.4).
func (s *Server) onConferenceEvent(ev conference.Event) {
	defer s.consoleEvent(ev) // last: a console that re-reads then sees the recording row
	if ev.Kind == conference.EventEnter {
		s.lastRooms.set(ev.Call.CallUUID, ev.ConferenceUUID)
	}
	if ev.Kind == conference.EventExit && ev.LastMember {
		s.rooms.roomEnded(ev.AccountID, ev.ConferenceName)
	}
	if ev.Kind == conference.EventRecordingDone {
		s.conferenceRecordingDone(ev)
		return
	}
	n, ok := conferenceNotification(ev)
	if !ok {
		return
	}
	if err := s.dispatcher.Notify(context.Background(), n); err != nil {
		s.log.Error("queueing conference callback failed", "conference", ev.ConferenceName, "member_id", ev.MemberID, "err", err)
	}
}

// conferenceNotification is the callback of a room event. It is ordered under the room, so
// the events of one room are first attempted in event order across its members (spec §9.4),
// e.g. one member's ConferenceEnter before the next one's, and under the member's call, so its
// ConferenceExit is first attempted before the call's hangup webhook (keyed by the call alone)
// however busy the room is.
func conferenceNotification(ev conference.Event) (webhook.Notification, bool) {
	params, ok := flow.ConferenceEventParams(ev)
	if !ok {
		return webhook.Notification{}, false
	}
	method := ev.CallbackMethod
	if method == "" {
		method = http.MethodPost
	}
	key := webhook.JoinOrderKeys(ev.ConferenceUUID, ev.Call.CallUUID)
	return webhookNotification(ev.AccountID, ev.CallbackURL, method, params, key), true
}

// conferenceRecordingDone stores the Recording row of a final room recording and notifies the
// REST callback_url (spec §9.6.5).
func (s *Server) conferenceRecordingDone(ev conference.Event) {
	rec := ev.Recording
	if rec == nil {
		return
	}
	log := s.log.With("conference", ev.ConferenceName, "recording_id", rec.ID)
	if rec.Err != nil {
		log.Error("conference recording failed", "err", rec.Err)
		return
	}
	name := ev.ConferenceName
	row := store.Recording{
		RecordingID:    rec.ID,
		AuthID:         ev.AccountID,
		CallUUID:       ev.ConferenceUUID,
		ConferenceName: &name,
		Format:         rec.Format,
		Type:           "conference",
		StartMs:        rec.Start.UnixMilli(),
		EndMs:          rec.End.UnixMilli(),
		DurationMs:     rec.Duration.Milliseconds(),
		FilePath:       rec.Path,
		NodeID:         s.recordingNode(),
	}
	if _, err := s.store.InsertRecording(context.Background(), row); err != nil {
		log.Error("storing the recording failed", "err", err)
		return
	}
	if rec.FramesDropped > 0 {
		log.Warn("recording lost frames: the disk could not keep up", "frames", rec.FramesDropped)
	}
	if rec.ByAttribute || rec.CallbackURL == "" {
		return
	}
	params := map[string][]string{
		"api_id":                {rec.Tag},
		"conference_name":       {ev.ConferenceName},
		"recording_id":          {rec.ID},
		"record_url":            {flow.RecordingURL(s.routes.baseURL, ev.AccountID, rec.ID, rec.Format)},
		"recording_duration":    {strconv.FormatInt(int64(rec.Duration/time.Second), 10)},
		"recording_duration_ms": {strconv.FormatInt(rec.Duration.Milliseconds(), 10)},
		"recording_start_ms":    {strconv.FormatInt(rec.Start.UnixMilli(), 10)},
		"recording_end_ms":      {strconv.FormatInt(rec.End.UnixMilli(), 10)},
	}
	method := rec.CallbackMethod
	if method == "" {
		method = http.MethodPost
	}
	if err := s.dispatcher.Notify(context.Background(), webhookNotification(ev.AccountID, rec.CallbackURL, method, params, ev.ConferenceUUID)); err != nil {
		log.Error("queueing recording callback failed", "err", err)
	}
}

// saveCallRecording stores the row of a final <Record> file.
func (s *Server) saveCallRecording(ctx context.Context, m flow.RecordingMeta) error {
	_, err := s.store.InsertRecording(ctx, store.Recording{
		RecordingID: m.ID, AuthID: m.AccountID, CallUUID: m.CallUUID, FromNumber: m.From, ToNumber: m.To,
		Format: m.Format, Type: "call", StartMs: m.Start.UnixMilli(), EndMs: m.End.UnixMilli(),
		DurationMs: m.Duration.Milliseconds(), FilePath: m.Path, NodeID: s.recordingNode(),
	})
	return err
}

// conferenceAPI adapts the room manager to the REST API's interface.
type conferenceAPI struct {
	m     *conference.Manager
	audio flow.AudioSource
	synth flow.Synthesizer
	// awaitEnded returns once the calls have ended (or a short bound has passed): hang-ups
	// answer only then.
	awaitEnded func(ctx context.Context, acct string, uuids []string)
}

// endCalls waits for the calls of the members a hang-up removed to end.
func (c conferenceAPI) endCalls(ctx context.Context, acct string, calls []conference.CallInfo, err error) error {
	if len(calls) > 0 {
		uuids := make([]string, len(calls))
		for i, ci := range calls {
			uuids[i] = ci.CallUUID
		}
		c.awaitEnded(ctx, acct, uuids)
	}
	return apiErr(err)
}

func apiErr(err error) error {
	var mnf *conference.MemberNotFoundError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, conference.ErrConferenceNotFound):
		return api.ErrConferenceNotFound
	case errors.Is(err, conference.ErrRecordingInProgress):
		return api.ErrRecordingInProgress
	case errors.Is(err, conference.ErrInvalidSelector):
		return api.ErrInvalidMemberSelector
	case errors.As(err, &mnf):
		ids := make([]int64, 0, len(mnf.IDs))
		for _, id := range mnf.IDs {
			if n, perr := strconv.ParseInt(id, 10, 64); perr == nil {
				ids = append(ids, n)
			}
		}
		return &api.MemberNotFoundError{IDs: ids}
	}
	return err
}

func selector(sel api.MemberSelector) conference.Selector {
	if sel.All {
		return conference.All()
	}
	return conference.IDs(sel.IDs...)
}

func (c conferenceAPI) List(_ context.Context, acct string) ([]string, error) {
	return c.m.List(acct), nil
}

func (c conferenceAPI) Get(ctx context.Context, acct, name string) (api.ConferenceView, error) {
	snap, err := c.m.Get(ctx, acct, name)
	if err != nil {
		return api.ConferenceView{}, apiErr(err)
	}
	v := api.ConferenceView{Name: snap.Name, StartedAt: snap.Started}
	for _, m := range snap.Members {
		v.Members = append(v.Members, api.MemberView{
			ID: m.ID, Muted: m.Muted, Deaf: m.Deaf, From: m.Call.From, To: m.Call.To,
			CallerName: m.Call.CallerName, Direction: m.Call.Direction, CallUUID: m.Call.CallUUID, JoinedAt: m.Joined,
		})
	}
	return v, nil
}

func (c conferenceAPI) HangupAll(ctx context.Context, acct string) error {
	calls, err := c.m.HangupAll(ctx, acct)
	return c.endCalls(ctx, acct, calls, err)
}

func (c conferenceAPI) HangupRoom(ctx context.Context, acct, name string) error {
	calls, err := c.m.HangupRoom(ctx, acct, name)
	return c.endCalls(ctx, acct, calls, err)
}

func (c conferenceAPI) HangupMembers(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	calls, err := c.m.HangupMembers(ctx, acct, name, selector(sel))
	return c.endCalls(ctx, acct, calls, err)
}

func (c conferenceAPI) Kick(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.Kick(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) Mute(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.Mute(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) Unmute(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.Unmute(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) Deaf(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.Deaf(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) Undeaf(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.Undeaf(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) StopPlay(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.StopPlay(ctx, acct, name, selector(sel)))
}

func (c conferenceAPI) StopSpeak(ctx context.Context, acct, name string, sel api.MemberSelector) error {
	return apiErr(c.m.StopSpeak(ctx, acct, name, selector(sel)))
}

// Play queues a file for the members; it is fetched after the response, off the room goroutine.
func (c conferenceAPI) Play(ctx context.Context, acct, name string, sel api.MemberSelector, rawURL string) error {
	audio := conference.Audio{Load: func(ctx context.Context) (media.Source, error) {
		pcm, err := c.audio.Fetch(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return media.NewPCMSource(pcm), nil
	}}
	return apiErr(c.m.Play(ctx, acct, name, selector(sel), audio))
}

// speechRequest is the synthesis of a REST Speak (member Speak and call Speak): text with
// markup is spoken as SSML, like <Speak> content.
func speechRequest(text, voice, language string) tts.Request {
	return tts.Request{Text: text, SSML: strings.Contains(text, "<"), Voice: voice, Language: language}
}

// Speak queues synthesised speech for the members.
func (c conferenceAPI) Speak(ctx context.Context, acct, name string, sel api.MemberSelector, text, voice, language string) error {
	audio := conference.Audio{Load: func(ctx context.Context) (media.Source, error) {
		pcm, err := c.synth.Synthesize(ctx, speechRequest(text, voice, language))
		if err != nil {
			return nil, err
		}
		return media.NewPCMSource(pcm), nil
	}}
	return apiErr(c.m.Speak(ctx, acct, name, selector(sel), audio))
}

func (c conferenceAPI) StartRecording(ctx context.Context, acct, name string, p api.RecordParams) (api.RecordingStarted, error) {
	info, err := c.m.StartRecording(ctx, acct, name, conference.RecordingOptions{
		Format: p.FileFormat, TimeLimit: p.TimeLimit, CallbackURL: p.CallbackURL, CallbackMethod: p.CallbackMethod, Tag: p.APIID,
	})
	if err != nil {
		return api.RecordingStarted{}, apiErr(err)
	}
	return api.RecordingStarted{RecordingID: info.ID, FileFormat: info.Format}, nil
}

func (c conferenceAPI) StopRecording(ctx context.Context, acct, name string) error {
	_, err := c.m.StopRecording(ctx, acct, name)
	return apiErr(err)
}

// recordingAPI adapts the store and the recording files to the REST API.
type recordingAPI struct {
	st store.RecordingStore
	// open opens a file on this node's disk.
	open func(path string) (*os.File, error)
	// elsewhere, for a row whose file is not on this node's disk, returns the
	// *api.RecordingElsewhere that fetches it from the node holding it, or nil (not found).
	// nil: only this node's files are found.
	elsewhere func(row store.Recording) error
}

// recordingAPI is the REST API's: it fetches the files other nodes hold.
func (s *Server) recordingAPI() recordingAPI {
	return recordingAPI{st: s.store, open: s.openRecordingFile, elsewhere: s.recordingElsewhere}
}

func recordingView(r store.Recording) api.Recording {
	v := api.Recording{
		ID: r.RecordingID, Type: r.Type, CallUUID: r.CallUUID, FromNumber: r.FromNumber, ToNumber: r.ToNumber,
		Format: r.Format, Start: time.UnixMilli(r.StartMs).UTC(), End: time.UnixMilli(r.EndMs).UTC(),
		Duration: time.Duration(r.DurationMs) * time.Millisecond, AddTime: r.AddTime,
	}
	if r.ConferenceName != nil {
		v.ConferenceName = *r.ConferenceName
	}
	return v
}

func (r recordingAPI) List(ctx context.Context, acct string, f api.RecordingFilter) ([]api.Recording, int, error) {
	rows, total, err := r.st.ListRecordings(ctx, acct, store.RecordingFilter{
		CallUUID: f.CallUUID, ConferenceName: f.ConferenceName, ConferenceUUID: f.ConferenceUUID,
		FromNumber: f.FromNumber, ToNumber: f.ToNumber, Type: f.RecordingType,
		AddTimeGT: f.AddTimeGT, AddTimeGTE: f.AddTimeGTE, AddTimeLT: f.AddTimeLT, AddTimeLTE: f.AddTimeLTE,
		Limit: f.Limit, Offset: f.Offset,
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.Recording, len(rows))
	for i, row := range rows {
		out[i] = recordingView(row)
	}
	return out, total, nil
}

func (r recordingAPI) Get(ctx context.Context, acct, id string) (api.Recording, error) {
	row, err := r.st.GetRecording(ctx, acct, id)
	if errors.Is(err, store.ErrNotFound) {
		return api.Recording{}, api.ErrRecordingNotFound
	}
	if err != nil {
		return api.Recording{}, err
	}
	return recordingView(row), nil
}

func (r recordingAPI) Delete(ctx context.Context, acct, id string) error {
	row, err := r.st.DeleteRecording(ctx, acct, id)
	if errors.Is(err, store.ErrNotFound) {
		return api.ErrRecordingNotFound
	}
	if err != nil {
		return err
	}
	if err := os.Remove(row.FilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting recording file: %w", err)
	}
	return nil
}

func (r recordingAPI) Open(ctx context.Context, acct, id, format string) (io.ReadSeekCloser, int64, time.Time, error) {
	row, err := r.st.GetRecording(ctx, acct, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.Format != format) {
		return nil, 0, time.Time{}, api.ErrRecordingNotFound
	}
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	// A file on this node's disk first: the recordings_dir of every node may be one shared
	// directory, and then no file is ever fetched from another node.
	f, err := r.open(row.FilePath)
	if errors.Is(err, os.ErrNotExist) {
		if r.elsewhere == nil {
			return nil, 0, time.Time{}, api.ErrRecordingNotFound
		}
		if err := r.elsewhere(row); err != nil {
			return nil, 0, time.Time{}, err
		}
		return nil, 0, time.Time{}, api.ErrRecordingNotFound
	}
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, time.Time{}, err
	}
	return f, st.Size(), row.AddTime, nil
}

// accountsAPI answers the REST API's credential lookups from the configuration.
type accountsAPI struct{ s *Server }

func (a accountsAPI) Lookup(authID string) (string, bool) { return a.s.token(authID) }
