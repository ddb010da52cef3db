package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/voice"
)

// CallMedia is what the call-level media routes (calls-more.md §A) need from live calls. A leg
// is addressed as by Calls: every method returns ErrCallNotFound for a CallUUID that is
// unknown, ended, or of another account. The POST methods return ErrCallNotAnswered for a leg
// still ringing, then ErrNotBridged when the parameters name the bleg and the leg is not in a
// <Dial> bridge (§A.2 check order). The Stop methods succeed on a ringing leg (nothing runs).
type CallMedia interface {
	// Play starts a Play overlay (§A.3–§A.4) on the legs p names, replacing their current
	// Play overlay; the files are fetched after the response.
	Play(ctx context.Context, accountID, callUUID string, p CallPlayParams) error
	// StopPlay removes the Play overlays of the leg and, when it is bridged, of the other leg.
	StopPlay(ctx context.Context, accountID, callUUID string) error
	// Speak starts a Speak overlay (§A.5) on the legs p names, replacing their Speak overlay.
	Speak(ctx context.Context, accountID, callUUID string, p CallSpeakParams) error
	// StopSpeak is StopPlay for Speak overlays.
	StopSpeak(ctx context.Context, accountID, callUUID string) error
	// SendDigits queues digits ([0-9A-D*#wW]) for the party of the legs leg names ("aleg",
	// "bleg" or "both", §A.6); it returns once they are queued.
	SendDigits(ctx context.Context, accountID, callUUID, digits, leg string) error
	// StartRecording starts recording the leg (§A.7) and returns the recording's id and file
	// format. ErrRecordingLimit when the leg already has its maximum of REST recordings.
	StartRecording(ctx context.Context, accountID, callUUID string, p CallRecordParams) (RecordingStarted, error)
	// StopRecording stops the recording recordingID of the leg (started by this route or by
	// a background <Record>), or with "" every recording this route started on the leg; it
	// returns once the files are final. Unknown ids are no error.
	StopRecording(ctx context.Context, accountID, callUUID, recordingID string) error
}

// ErrRecordingLimit: the leg already has max_call_recordings REST recordings running (409).
var ErrRecordingLimit = errors.New("recording limit reached")

// CallPlayParams are the validated parameters of POST /Call/{call_uuid}/Play/ (§A.4).
type CallPlayParams struct {
	// URLs are 1–10 absolute http(s) URLs, played in order.
	URLs []string
	// Length bounds the playing time of the whole Play; 0 for none.
	Length time.Duration
	// Legs is "aleg", "bleg" or "both".
	Legs string
	Loop bool
	// Mix false replaces the leg's normal audio while the overlay sounds.
	Mix bool
}

// CallSpeakParams are the validated parameters of POST /Call/{call_uuid}/Speak/ (§A.5).
type CallSpeakParams struct {
	Text string
	// Voice is "WOMAN" or "MAN"; Language one of voice.Languages().
	Voice    string
	Language string
	Legs     string
	Loop     bool
	Mix      bool
}

// CallRecordParams are the validated parameters of POST /Call/{call_uuid}/Record/ (§A.7).
type CallRecordParams struct {
	// TimeLimit stops the recording after this long (default 60 s).
	TimeLimit time.Duration
	// FileFormat is "mp3" or "wav".
	FileFormat string
	// CallbackURL is notified when the file is final; "" for none.
	CallbackURL    string
	CallbackMethod string
	// Stereo puts what the leg's party says on channel 1 and what it hears on channel 2.
	Stereo bool
	// APIID is the api_id of the start response, sent again in the callback.
	APIID string
}

// Bounds of §A.4–§A.7.
const (
	maxPlayURLs    = 10
	maxSpeakText   = 5000
	maxDigits      = 256
	maxMediaLength = 86400
)

func (s *server) callMediaRoutes() {
	s.route(http.MethodPost, "/Call/{cid}/Play", s.startCallPlay)
	s.routeWith(http.MethodDelete, "/Call/{cid}/Play", s.stopCallMedia(s.opts.CallMedia.StopPlay), routeOptions{ignoreBody: true})
	s.route(http.MethodPost, "/Call/{cid}/Speak", s.startCallSpeak)
	s.routeWith(http.MethodDelete, "/Call/{cid}/Speak", s.stopCallMedia(s.opts.CallMedia.StopSpeak), routeOptions{ignoreBody: true})
	s.route(http.MethodPost, "/Call/{cid}/DTMF", s.sendCallDigits)
	s.route(http.MethodPost, "/Call/{cid}/Record", s.startCallRecording)
	s.route(http.MethodDelete, "/Call/{cid}/Record", s.stopCallRecording)
}

type mediaStartedBody struct {
	APIID   string `json:"api_id"`
	Message string `json:"message"`
}

// bindLegs reads the leg selection under name or its alias (§A.2, §A.6), default "aleg". Both
// given with different values fail on name.
func bindLegs(b *binder, name, alias string) string {
	v, ok := b.Enum(name, false, "aleg", "bleg", "both")
	w, aliasOK := b.Enum(alias, false, "aleg", "bleg", "both")
	switch {
	case ok && aliasOK && v != w:
		b.invalid(name)
	case ok:
		return v
	case aliasOK:
		return w
	}
	return "aleg"
}

// bindURLs reads Play's urls: a comma-separated string, a JSON array of strings, or a form
// field repeated once per URL.
func bindURLs(b *binder) []string {
	v, ok := b.get("urls", true)
	if !ok {
		return nil
	}
	var items []string
	switch {
	case v.kind == kindOther:
		if err := json.Unmarshal([]byte(v.text), &items); err != nil {
			b.invalid("urls")
			return nil
		}
	case v.kind != kindText:
		b.invalid("urls")
		return nil
	case len(b.p.repeated["urls"]) > 1:
		items = b.p.repeated["urls"]
	default:
		items = strings.Split(v.text, ",")
	}
	if len(items) == 0 || len(items) > maxPlayURLs {
		b.invalid("urls")
		return nil
	}
	for i, u := range items {
		items[i] = strings.TrimSpace(u)
		if !isHTTPURL(items[i]) {
			b.invalid("urls")
			return nil
		}
	}
	return items
}

func (s *server) startCallPlay(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := CallPlayParams{URLs: bindURLs(b)}
	if n, ok := b.Int("length", false, 1, maxMediaLength); ok {
		p.Length = time.Duration(n) * time.Second
	}
	p.Legs = bindLegs(b, "legs", "leg")
	p.Loop, _ = b.Bool("loop", false)
	p.Mix = true
	if mix, ok := b.Bool("mix", false); ok {
		p.Mix = mix
	}
	if b.err != nil {
		return b.err
	}
	if err := s.opts.CallMedia.Play(r.Context(), q.account, pathVar(r, "cid"), p); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, mediaStartedBody{APIID: s.newID(), Message: "play started"})
	return nil
}

func (s *server) startCallSpeak(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := CallSpeakParams{Voice: voice.Woman, Language: voice.DefaultLanguage, Mix: true}
	p.Text, _ = b.String("text", true, maxSpeakText)
	speaker, given := b.String("voice", false, 0)
	if !given {
		// The Go SDK tags its Voice field "length" (§A.5): a length that is no integer is
		// the voice.
		if l, ok := q.params.Text("length"); ok && l != "" {
			if _, err := parseDecimal(l); err != nil {
				speaker, given = l, true
			}
		}
	}
	if given {
		switch strings.ToUpper(speaker) {
		case voice.Man:
			p.Voice = voice.Man
		case voice.Woman:
		default:
			s.log.Warn("api: call Speak voice not available, speaking with WOMAN", "voice", speaker)
		}
	}
	if lang, ok := b.Enum("language", false, voice.Languages()...); ok {
		p.Language = lang
	}
	p.Legs = bindLegs(b, "legs", "leg")
	p.Loop, _ = b.Bool("loop", false)
	if mix, ok := b.Bool("mix", false); ok {
		p.Mix = mix
	}
	if b.err != nil {
		return b.err
	}
	if err := s.opts.CallMedia.Speak(r.Context(), q.account, pathVar(r, "cid"), p); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, mediaStartedBody{APIID: s.newID(), Message: "speak started"})
	return nil
}

// stopCallMedia serves DELETE …/Play/ and …/Speak/: no body is read, 204 even when nothing plays.
func (s *server) stopCallMedia(stop func(ctx context.Context, accountID, callUUID string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *request) error {
		if err := stop(r.Context(), q.account, pathVar(r, "cid")); err != nil {
			return err
		}
		writeNoContent(w)
		return nil
	}
}

// validDigits reports whether d is a digit string of §A.6.
func validDigits(d string) bool {
	for _, c := range d {
		if !strings.ContainsRune("0123456789ABCDabcd*#wW", c) {
			return false
		}
	}
	return true
}

func (s *server) sendCallDigits(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	digits, ok := b.String("digits", true, maxDigits)
	if ok && !validDigits(digits) {
		b.invalid("digits")
	}
	leg := bindLegs(b, "leg", "legs")
	if b.err != nil {
		return b.err
	}
	err := s.opts.CallMedia.SendDigits(r.Context(), q.account, pathVar(r, "cid"), upperABCD(digits), leg)
	if errors.Is(err, ErrNotBridged) {
		return invalidParam("leg")
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, mediaStartedBody{APIID: s.newID(), Message: "digits sent"})
	return nil
}

// upperABCD upper-cases the DTMF letters a-d and leaves the pauses w/W as they are.
func upperABCD(d string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'd' {
			return c - 'a' + 'A'
		}
		return c
	}, d)
}

func (s *server) startCallRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := CallRecordParams{TimeLimit: 60 * time.Second, FileFormat: "mp3", APIID: s.newID()}
	if n, ok := b.Int("time_limit", false, 1, maxMediaLength); ok {
		p.TimeLimit = time.Duration(n) * time.Second
	}
	if f, ok := b.Enum("file_format", false, "mp3", "wav"); ok {
		p.FileFormat = f
	}
	if u, ok := b.URL("callback_url", false); ok {
		p.CallbackURL = u
	} else if u, ok := b.URL("recording_callback_url", false); ok {
		p.CallbackURL = u
	}
	if q.params.Has("callback_method") {
		p.CallbackMethod = b.Method("callback_method")
	} else {
		p.CallbackMethod = b.Method("recording_callback_method")
	}
	if ct, ok := b.Enum("record_channel_type", false, "mono", "stereo"); ok {
		p.Stereo = ct == "stereo"
	}
	if b.err != nil {
		return b.err
	}
	started, err := s.opts.CallMedia.StartRecording(r.Context(), q.account, pathVar(r, "cid"), p)
	if err != nil {
		return err
	}
	format := started.FileFormat
	if format == "" {
		format = p.FileFormat
	}
	s.writeJSON(w, http.StatusOK, recordingStartedBody{
		APIID:       p.APIID,
		Message:     "recording started",
		RecordingID: started.RecordingID,
		URL:         s.recordingURL(q.account, started.RecordingID, format),
	})
	return nil
}

// stopCallRecording serves DELETE …/Record/: the selector (URL, url or recording_id, body or
// query) names one recording by the last segment of its URL; none stops them all.
func (s *server) stopCallRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	var id string
	for _, name := range []string{"URL", "url", "recording_id"} {
		if v, ok := q.params.Text(name); ok && v != "" {
			id = recordingIDOf(v)
			break
		}
	}
	if err := s.opts.CallMedia.StopRecording(r.Context(), q.account, pathVar(r, "cid"), id); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// recordingIDOf takes a recording id from a recording URL (its last path segment without the
// extension), or returns a bare id as it is.
func recordingIDOf(v string) string {
	p := v
	if u, err := url.Parse(v); err == nil && u.Path != "" {
		p = u.Path
	}
	seg := path.Base(strings.TrimRight(p, "/"))
	if ext := path.Ext(seg); ext == ".mp3" || ext == ".wav" {
		seg = strings.TrimSuffix(seg, ext)
	}
	return seg
}
