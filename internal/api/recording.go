package api

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Recordings is what the recording routes (§6) need from the recording store. Get, Delete and
// Open return ErrRecordingNotFound for an id that is unknown, not final, or of another account.
type Recordings interface {
	// List returns one page of the account's final recordings matching f, newest first, and
	// the number of all matching recordings.
	List(ctx context.Context, accountID string, f RecordingFilter) ([]Recording, int, error)
	// Get returns one recording.
	Get(ctx context.Context, accountID, id string) (Recording, error)
	// Delete removes the recording and its file.
	Delete(ctx context.Context, accountID, id string) error
	// Open opens the file of a recording in format ("mp3" or "wav"); ErrRecordingNotFound
	// when the recording has no file in that format; a *RecordingElsewhere when another
	// process holds the file and answers the download.
	Open(ctx context.Context, accountID, id, format string) (f io.ReadSeekCloser, size int64, modTime time.Time, err error)
}

// RecordingElsewhere is the error Recordings.Open returns when another process holds the
// file (another node of a cluster): Serve answers the download request that asked for it.
type RecordingElsewhere struct {
	Serve http.Handler
}

func (e *RecordingElsewhere) Error() string { return "the recording file is held elsewhere" }

// RecordingFilter selects recordings for List. Empty strings and nil times do not filter.
type RecordingFilter struct {
	Page
	CallUUID       string
	ConferenceName string
	ConferenceUUID string
	// FromNumber and ToNumber are compared without a leading '+'.
	FromNumber string
	ToNumber   string
	// RecordingType is "", "call" or "conference".
	RecordingType string
	// AddTime bounds (UTC) on the time the file became final.
	AddTimeGT, AddTimeGTE, AddTimeLT, AddTimeLTE *time.Time
}

// Recording is one final recording (§6.2).
type Recording struct {
	ID string
	// Type is "call" or "conference".
	Type string
	// CallUUID is the recorded call, or the room's ConferenceUUID for a conference recording.
	CallUUID string
	// ConferenceName is the room name of a conference recording.
	ConferenceName string
	FromNumber     string
	ToNumber       string
	// Format is "mp3" or "wav".
	Format   string
	Start    time.Time
	End      time.Time
	Duration time.Duration
	// AddTime is when the file became final.
	AddTime time.Time
}

func (s *server) recordingRoutes() {
	s.route(http.MethodGet, "/Recording", s.listRecordings)
	s.route(http.MethodGet, "/Recording/{rid}", s.getRecording)
	s.route(http.MethodDelete, "/Recording/{rid}", s.deleteRecording)
}

type recordingBody struct {
	AddTime                       string  `json:"add_time"`
	CallUUID                      string  `json:"call_uuid"`
	ConferenceName                *string `json:"conference_name"`
	FromNumber                    string  `json:"from_number"`
	MonthlyRecordingStorageAmount int     `json:"monthly_recording_storage_amount"`
	RecordingDurationMS           string  `json:"recording_duration_ms"`
	RecordingEndMS                string  `json:"recording_end_ms"`
	RecordingFormat               string  `json:"recording_format"`
	RecordingID                   string  `json:"recording_id"`
	RecordingStartMS              string  `json:"recording_start_ms"`
	RecordingStorageDuration      int64   `json:"recording_storage_duration"`
	RecordingStorageRate          int     `json:"recording_storage_rate"`
	RecordingType                 string  `json:"recording_type"`
	RecordingURL                  string  `json:"recording_url"`
	ResourceURI                   string  `json:"resource_uri"`
	RoundedRecordingDuration      int64   `json:"rounded_recording_duration"`
	ToNumber                      string  `json:"to_number"`
}

type recordingGetBody struct {
	recordingBody
	APIID string `json:"api_id"`
}

type recordingListBody struct {
	APIID   string          `json:"api_id"`
	Meta    metaBody        `json:"meta"`
	Objects []recordingBody `json:"objects"`
}

// msString formats microseconds as milliseconds with five decimals ("10080.00000").
func msString(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	frac := strconv.FormatInt(micros%1000, 10)
	return sign + strconv.FormatInt(micros/1000, 10) + "." + strings.Repeat("0", 3-len(frac)) + frac + "00"
}

// recordingURL is the download URL of a recording file (§6.2 recording_url).
func (s *server) recordingURL(account, id, format string) string {
	return strings.TrimRight(s.opts.PublicBaseURL, "/") + "/api/v1/Account/" + url.PathEscape(account) +
		"/Recording/" + url.PathEscape(id) + "." + format
}

func (s *server) recordingObject(account string, rec Recording) recordingBody {
	var confName *string
	if rec.Type == "conference" {
		name := rec.ConferenceName
		confName = &name
	}
	days := int64(0)
	if age := s.now().Sub(rec.AddTime); age > 0 {
		days = int64(age / (24 * time.Hour))
	}
	secs := int64(math.Ceil(rec.Duration.Seconds()/60)) * 60
	return recordingBody{
		AddTime:                  rec.AddTime.UTC().Format("2006-01-02 15:04:05.000000-07:00"),
		CallUUID:                 rec.CallUUID,
		ConferenceName:           confName,
		FromNumber:               rec.FromNumber,
		RecordingDurationMS:      msString(rec.Duration.Microseconds()),
		RecordingEndMS:           msString(rec.End.UnixMicro()),
		RecordingFormat:          rec.Format,
		RecordingID:              rec.ID,
		RecordingStartMS:         msString(rec.Start.UnixMicro()),
		RecordingStorageDuration: days,
		RecordingType:            rec.Type,
		RecordingURL:             s.recordingURL(account, rec.ID, rec.Format),
		ResourceURI:              resourcePath(account, "Recording", rec.ID),
		RoundedRecordingDuration: secs,
		ToNumber:                 rec.ToNumber,
	}
}

// addTimeLayouts are the accepted add_time__* filter values (UTC).
var addTimeLayouts = []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05"}

func (b *binder) addTime(name string) *time.Time {
	v, ok := b.String(name, false, 0)
	if !ok {
		return nil
	}
	for _, layout := range addTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return &t
		}
	}
	b.invalid(name)
	return nil
}

func (s *server) listRecordings(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	f := RecordingFilter{Page: bindPage(b)}
	filters := url.Values{}
	str := func(name string) string {
		v, ok := b.String(name, false, 0)
		if ok {
			filters.Set(name, v)
		}
		return v
	}
	f.CallUUID = str("call_uuid")
	f.ConferenceName = str("conference_name")
	f.ConferenceUUID = str("conference_uuid")
	f.FromNumber = strings.TrimPrefix(str("from_number"), "+")
	f.ToNumber = strings.TrimPrefix(str("to_number"), "+")
	if t, ok := b.Enum("recording_type", false, "call", "conference"); ok {
		f.RecordingType = t
		filters.Set("recording_type", t)
	}
	for _, at := range []struct {
		name string
		dst  **time.Time
	}{{"add_time__gt", &f.AddTimeGT}, {"add_time__gte", &f.AddTimeGTE}, {"add_time__lt", &f.AddTimeLT}, {"add_time__lte", &f.AddTimeLTE}} {
		if *at.dst = b.addTime(at.name); *at.dst != nil {
			v, _ := q.params.Text(at.name)
			filters.Set(at.name, v)
		}
	}
	if b.err != nil {
		return b.err
	}
	recs, total, err := s.opts.Recordings.List(r.Context(), q.account, f)
	if err != nil {
		return err
	}
	body := recordingListBody{
		APIID:   s.newID(),
		Meta:    pageMeta(resourcePath(q.account, "Recording"), f.Page, total, filters),
		Objects: make([]recordingBody, len(recs)),
	}
	for i, rec := range recs {
		body.Objects[i] = s.recordingObject(q.account, rec)
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

// splitDownload recognises the download form "{id}.mp3" / "{id}.wav".
func splitDownload(seg string) (id, format string, ok bool) {
	for _, ext := range []string{"mp3", "wav"} {
		if base, found := strings.CutSuffix(seg, "."+ext); found && base != "" {
			return base, ext, true
		}
	}
	return "", "", false
}

// getRecording serves both GET /Recording/{id}/ (the object) and GET /Recording/{id}.mp3|.wav
// (the file, §6.4).
func (s *server) getRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	seg := pathVar(r, "rid")
	if id, format, ok := splitDownload(seg); ok {
		return s.downloadRecording(w, r, q, id, format)
	}
	rec, err := s.opts.Recordings.Get(r.Context(), q.account, seg)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, recordingGetBody{recordingBody: s.recordingObject(q.account, rec), APIID: s.newID()})
	return nil
}

var audioTypes = map[string]string{"mp3": "audio/mpeg", "wav": "audio/wav"}

func (s *server) downloadRecording(w http.ResponseWriter, r *http.Request, q *request, id, format string) error {
	f, _, modTime, err := s.opts.Recordings.Open(r.Context(), q.account, id, format)
	if elsewhere := (*RecordingElsewhere)(nil); errors.As(err, &elsewhere) {
		elsewhere.Serve.ServeHTTP(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// ServeContent sets Content-Length (from seeking) and answers single ranges with 206.
	w.Header().Set("Content-Type", audioTypes[format])
	http.ServeContent(w, r, "", modTime, f)
	return nil
}

func (s *server) deleteRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Recordings.Delete(r.Context(), q.account, pathVar(r, "rid")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}
