package api

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/voice"
)

// Conferences is what the conference routes (§2) need from the conference domain. Methods that
// address a room return ErrConferenceNotFound when the account has no room of that name with
// members; those that address members return a *MemberNotFoundError naming the missing ids
// (and change nothing) when a listed id is not a current member. A selector with All set on a
// room without members is ErrConferenceNotFound. Every method that changes state returns once
// the change is applied, so that a read after the response sees it; the hang-ups return once
// the members' calls have ended (out of the live calls, BYE sent), bounded by a short timeout.
type Conferences interface {
	// List returns the names of the account's rooms that have members, oldest instance first.
	List(ctx context.Context, accountID string) ([]string, error)
	// Get returns a snapshot of one room.
	Get(ctx context.Context, accountID, name string) (ConferenceView, error)
	// HangupAll ends the call of every member of every room of the account.
	HangupAll(ctx context.Context, accountID string) error
	// HangupRoom ends the call of every member of one room.
	HangupRoom(ctx context.Context, accountID, name string) error
	// HangupMembers ends the calls of the addressed members.
	HangupMembers(ctx context.Context, accountID, name string, sel MemberSelector) error
	// Kick removes the addressed members from the room; their calls go on.
	Kick(ctx context.Context, accountID, name string, sel MemberSelector) error
	// Mute, Unmute, Deaf and Undeaf set or clear the members' flags.
	Mute(ctx context.Context, accountID, name string, sel MemberSelector) error
	Unmute(ctx context.Context, accountID, name string, sel MemberSelector) error
	Deaf(ctx context.Context, accountID, name string, sel MemberSelector) error
	Undeaf(ctx context.Context, accountID, name string, sel MemberSelector) error
	// Play queues the audio file at url on the members' private audio.
	Play(ctx context.Context, accountID, name string, sel MemberSelector, url string) error
	// StopPlay removes current and queued Play items of the members.
	StopPlay(ctx context.Context, accountID, name string, sel MemberSelector) error
	// Speak queues synthesised text (voice "WOMAN"|"MAN", language as §7.3) on the members'
	// private audio.
	Speak(ctx context.Context, accountID, name string, sel MemberSelector, text, voice, language string) error
	// StopSpeak removes current and queued Speak items of the members.
	StopSpeak(ctx context.Context, accountID, name string, sel MemberSelector) error
	// StartRecording starts recording the room mix; ErrRecordingInProgress when it already is.
	StartRecording(ctx context.Context, accountID, name string, p RecordParams) (RecordingStarted, error)
	// StopRecording stops and finalises the room's recording, if any, before it returns.
	StopRecording(ctx context.Context, accountID, name string) error
}

// ConferenceView is a snapshot of a room for GET /Conference/{name}/.
type ConferenceView struct {
	Name string
	// StartedAt is when this room instance began.
	StartedAt time.Time
	// Members are all calls in the room, waiting ones included (any order; sorted on output).
	Members []MemberView
}

// MemberView is one member of a ConferenceView.
type MemberView struct {
	ID         int64
	Muted      bool
	Deaf       bool
	From       string
	To         string
	CallerName string
	// Direction is "inbound" or "outbound".
	Direction string
	CallUUID  string
	// JoinedAt is when the member entered the room.
	JoinedAt time.Time
}

// RecordParams are the parameters of POST /Conference/{name}/Record/ (§2.4.5).
type RecordParams struct {
	// FileFormat is "mp3" or "wav".
	FileFormat string
	// CallbackURL is notified when the file is final; "" for none.
	CallbackURL string
	// CallbackMethod is "GET" or "POST".
	CallbackMethod string
	// TimeLimit stops the recording after this long; 0 for none.
	TimeLimit time.Duration
	// APIID is the api_id of the start response, sent again in the callback (§9.6.5).
	APIID string
}

// RecordingStarted identifies a recording that has started.
type RecordingStarted struct {
	RecordingID string
	// FileFormat is the container of the file, "mp3" or "wav".
	FileFormat string
}

func (s *server) conferenceRoutes() {
	s.route(http.MethodGet, "/Conference", s.listConferences)
	s.route(http.MethodDelete, "/Conference", s.hangupAllConferences)
	s.route(http.MethodGet, "/Conference/{name}", s.getConference)
	s.route(http.MethodDelete, "/Conference/{name}", s.hangupConference)
	s.route(http.MethodPost, "/Conference/{name}/Record", s.startConferenceRecording)
	s.route(http.MethodDelete, "/Conference/{name}/Record", s.stopConferenceRecording)
	s.route(http.MethodDelete, "/Conference/{name}/Member/{mid}", s.memberCommand(s.opts.Conferences.HangupMembers))
	s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Kick", s.memberAction("kicked", nil, s.opts.Conferences.Kick))
	s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Mute", s.memberAction("muted", nil, s.opts.Conferences.Mute))
	s.route(http.MethodDelete, "/Conference/{name}/Member/{mid}/Mute", s.memberCommand(s.opts.Conferences.Unmute))
	s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Deaf", s.memberAction("deaf", nil, s.opts.Conferences.Deaf))
	s.route(http.MethodDelete, "/Conference/{name}/Member/{mid}/Deaf", s.memberCommand(s.opts.Conferences.Undeaf))
	s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Play", s.memberAction("play queued into conference", s.bindPlay, nil))
	s.route(http.MethodDelete, "/Conference/{name}/Member/{mid}/Play", s.memberCommand(s.opts.Conferences.StopPlay))
	s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Speak", s.memberAction("speak queued into conference", s.bindSpeak, nil))
	s.route(http.MethodDelete, "/Conference/{name}/Member/{mid}/Speak", s.memberCommand(s.opts.Conferences.StopSpeak))
}

type conferenceListBody struct {
	APIID       string   `json:"api_id"`
	Conferences []string `json:"conferences"`
}

func (s *server) listConferences(w http.ResponseWriter, r *http.Request, q *request) error {
	names, err := s.opts.Conferences.List(r.Context(), q.account)
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	s.writeJSON(w, http.StatusOK, conferenceListBody{APIID: s.newID(), Conferences: names})
	return nil
}

func (s *server) hangupAllConferences(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Conferences.HangupAll(r.Context(), q.account); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

type conferenceBody struct {
	ConferenceName        string       `json:"conference_name"`
	ConferenceRunTime     string       `json:"conference_run_time"`
	ConferenceMemberCount string       `json:"conference_member_count"`
	Members               []memberBody `json:"members"`
	APIID                 string       `json:"api_id"`
}

type memberBody struct {
	Muted      bool   `json:"muted"`
	MemberID   string `json:"member_id"`
	Deaf       bool   `json:"deaf"`
	From       string `json:"from"`
	To         string `json:"to"`
	CallerName string `json:"caller_name"`
	Direction  string `json:"direction"`
	CallUUID   string `json:"call_uuid"`
	JoinTime   string `json:"join_time"`
}

// secondsSince is the whole number of seconds from t to now, never negative.
func secondsSince(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 || t.IsZero() {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

func (s *server) getConference(w http.ResponseWriter, r *http.Request, q *request) error {
	view, err := s.opts.Conferences.Get(r.Context(), q.account, pathVar(r, "name"))
	if err != nil {
		return err
	}
	now := s.now()
	members := append([]MemberView(nil), view.Members...)
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	body := conferenceBody{
		ConferenceName:        view.Name,
		ConferenceRunTime:     secondsSince(now, view.StartedAt),
		ConferenceMemberCount: strconv.Itoa(len(members)),
		Members:               make([]memberBody, len(members)),
		APIID:                 s.newID(),
	}
	for i, m := range members {
		body.Members[i] = memberBody{
			Muted: m.Muted, MemberID: strconv.FormatInt(m.ID, 10), Deaf: m.Deaf,
			From: m.From, To: m.To, CallerName: m.CallerName, Direction: m.Direction,
			CallUUID: m.CallUUID, JoinTime: secondsSince(now, m.JoinedAt),
		}
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *server) hangupConference(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Conferences.HangupRoom(r.Context(), q.account, pathVar(r, "name")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

type recordingStartedBody struct {
	APIID       string `json:"api_id"`
	Message     string `json:"message"`
	RecordingID string `json:"recording_id"`
	URL         string `json:"url"`
}

func (s *server) startConferenceRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := RecordParams{FileFormat: "mp3", CallbackMethod: http.MethodPost, APIID: s.newID()}
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
	if n, ok := b.Int("time_limit", false, 1, 86400); ok {
		p.TimeLimit = time.Duration(n) * time.Second
	}
	if b.err != nil {
		return b.err
	}
	started, err := s.opts.Conferences.StartRecording(r.Context(), q.account, pathVar(r, "name"), p)
	if err != nil {
		return err
	}
	format := started.FileFormat
	if format == "" {
		format = p.FileFormat
	}
	s.writeJSON(w, http.StatusOK, recordingStartedBody{
		APIID:       p.APIID,
		Message:     "conference recording started",
		RecordingID: started.RecordingID,
		URL:         s.recordingURL(q.account, started.RecordingID, format),
	})
	return nil
}

func (s *server) stopConferenceRecording(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Conferences.StopRecording(r.Context(), q.account, pathVar(r, "name")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// memberSelector parses the {mid} path segment or fails with 400.
func memberSelector(r *http.Request) (MemberSelector, string, error) {
	seg := pathVar(r, "mid")
	sel, ok := parseMemberSelector(seg)
	if !ok {
		return sel, seg, ErrInvalidMemberSelector
	}
	return sel, seg, nil
}

type memberCmd func(ctx context.Context, accountID, name string, sel MemberSelector) error

// memberCommand builds a DELETE member route: 204 with no body in both profiles.
func (s *server) memberCommand(cmd memberCmd) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *request) error {
		sel, _, err := memberSelector(r)
		if err != nil {
			return err
		}
		if err := cmd(r.Context(), q.account, pathVar(r, "name"), sel); err != nil {
			return err
		}
		writeNoContent(w)
		return nil
	}
}

type memberActionBody struct {
	Message  string `json:"message"`
	MemberID any    `json:"member_id"`
	APIID    string `json:"api_id"`
}

// boundAction validates a POST member action's parameters and returns the command to run.
type boundAction func(b *binder) memberCmd

// memberAction builds a POST member action route (§1.5 profiles). Either cmd (no parameters)
// or bind (parameters, validated after the selector) is set.
func (s *server) memberAction(message string, bind boundAction, cmd memberCmd) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *request) error {
		sel, seg, err := memberSelector(r)
		if err != nil {
			return err
		}
		if bind != nil {
			b := q.bind()
			cmd = bind(b)
			if b.err != nil {
				return b.err
			}
		}
		if err := cmd(r.Context(), q.account, pathVar(r, "name"), sel); err != nil {
			return err
		}
		status := http.StatusOK
		if s.opts.Profile == ProfileCurrent {
			status = http.StatusAccepted
		}
		s.writeJSON(w, status, memberActionBody{Message: message, MemberID: memberEcho(s.opts.Profile, seg), APIID: s.newID()})
		return nil
	}
}

func (s *server) bindPlay(b *binder) memberCmd {
	url, _ := b.URL("url", true)
	return func(ctx context.Context, accountID, name string, sel MemberSelector) error {
		return s.opts.Conferences.Play(ctx, accountID, name, sel, url)
	}
}

func (s *server) bindSpeak(b *binder) memberCmd {
	text, _ := b.String("text", true, 1000)
	speaker, ok := b.Enum("voice", false, voice.Woman, voice.Man)
	if !ok {
		speaker = voice.Woman
	}
	lang, ok := b.Enum("language", false, voice.Languages()...)
	if !ok {
		lang = voice.DefaultLanguage
	}
	return func(ctx context.Context, accountID, name string, sel MemberSelector) error {
		return s.opts.Conferences.Speak(ctx, accountID, name, sel, text, speaker, lang)
	}
}
