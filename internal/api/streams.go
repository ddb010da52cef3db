package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/streamspec"
)

// Streams is what the Audio Stream routes (streams.md §5) need from the stream sessions of live
// calls. A call is addressed as by Calls: Start, List, Get, Stop and StopAll return
// ErrCallNotFound for a CallUUID that is unknown, ended, or of another account.
//
// Streams started by <Stream> in a document are part of the call's streams too: List, Get, Stop
// and StopAll see them.
type Streams interface {
	// Start records a new stream on the live, answered leg callUUID (status in-progress) and
	// returns its stream_id at once; the WebSocket is opened after the response, and a failure to
	// open it later shows as status "failed". ErrCallNotAnswered when the leg is still ringing;
	// ErrStreamURLInUse when an in-progress stream of this call already uses p.ServiceURL.
	// A REST stream never blocks or advances the call's document.
	Start(ctx context.Context, accountID, callUUID string, p StreamParams) (streamID string, err error)
	// List returns every stream of the call, in progress or ended, oldest first.
	List(ctx context.Context, accountID, callUUID string) ([]StreamInfo, error)
	// Get returns one stream of the call; ErrStreamNotFound when the id is unknown or belongs
	// to another call.
	Get(ctx context.Context, accountID, callUUID, streamID string) (StreamInfo, error)
	// Stop ends one in-progress stream (close 1000, StopStream callback) before it returns;
	// ErrStreamNotFound when the id is unknown, already ended, or belongs to another call.
	Stop(ctx context.Context, accountID, callUUID, streamID string) error
	// StopAll ends every in-progress stream of the call; no error when there is none.
	StopAll(ctx context.Context, accountID, callUUID string) error
}

// StreamParams is the configuration of a stream: the validated parameters of POST
// …/Call/{call_uuid}/Stream/ (streams.md §5.1) with defaults applied, or the attributes of a
// <Stream> element.
type StreamParams struct {
	// ServiceURL is the ws:// or wss:// URL as given, query included.
	ServiceURL string
	// Bidirectional accepts playAudio, checkpoint and clearAudio from the app.
	Bidirectional bool
	// AudioTrack is "inbound" (default), "outbound" or "both"; bidirectional streams are
	// inbound only (§5.1 conflict rule already applied).
	AudioTrack string
	// Encoding is the inbound format, "audio/x-l16" (default) or "audio/x-mulaw", and
	// SampleRate its rate: 8000 (default), 16000 or 24000 for L16, 8000 for μ-law.
	Encoding   string
	SampleRate int
	// StreamTimeout is the longest the stream may run from its connect (default 86400 s).
	StreamTimeout time.Duration
	// StatusCallbackURL receives the stream events of §6; "" for none. StatusCallbackMethod is
	// "GET" or "POST" (default).
	StatusCallbackURL    string
	StatusCallbackMethod string
	// ExtraHeaders is the raw extra_headers string as given ("" for none), echoed in the
	// Stream object and in the callbacks' extraHeaders; Headers are its parsed pairs (§2.3).
	ExtraHeaders string
	Headers      []StreamHeader
}

// StreamHeader is one pair of StreamParams.Headers: sent on the WebSocket upgrade, in the
// extra_headers JSON of the messages, and as X-VH-<Name> in the status callbacks.
type StreamHeader = streamspec.Header

// The values of StreamInfo.Status.
const (
	StreamInProgress = "in-progress" // connecting, retrying or connected
	StreamCompleted  = "completed"   // ended by Parley or by the app
	StreamFailed     = "failed"      // the socket could not be opened or was lost for good
)

// StreamInfo is a snapshot of one stream for the Stream object (§5.6).
type StreamInfo struct {
	StreamParams
	StreamID string
	CallUUID string
	// Status is StreamInProgress, StreamCompleted or StreamFailed.
	Status string
	// StartTime is when the stream was created (the REST start or the <Stream> element).
	StartTime time.Time
	// EndTime is when it ended; zero while in progress.
	EndTime time.Time
}

// Parley-side bounds of the stream parameters.
const (
	defaultStreamTimeout = 86400
	// maxStreamTimeout is the largest 32-bit integer: the contract sets no maximum, and no
	// call lives that long.
	maxStreamTimeout = 1<<31 - 1
)

// streamRoutes registers the Audio Stream resource on live calls, and the Parley start route
// on a conference member (which needs the Conferences interface to find the member's call).
func (s *server) streamRoutes() {
	s.route(http.MethodPost, "/Call/{cid}/Stream", s.startStream)
	s.route(http.MethodGet, "/Call/{cid}/Stream", s.listStreams)
	s.routeWith(http.MethodDelete, "/Call/{cid}/Stream", s.stopAllStreams, routeOptions{ignoreBody: true})
	s.route(http.MethodGet, "/Call/{cid}/Stream/{sid}", s.getStream)
	s.routeWith(http.MethodDelete, "/Call/{cid}/Stream/{sid}", s.stopStream, routeOptions{ignoreBody: true})
	if s.opts.Conferences != nil {
		s.route(http.MethodPost, "/Conference/{name}/Member/{mid}/Stream", s.startMemberStream)
	}
}

type streamStartedBody struct {
	APIID    string `json:"api_id"`
	Message  string `json:"message"`
	StreamID string `json:"stream_id"`
}

// memberStreamStartedBody adds the member's call_uuid, the address of the stream's other
// routes.
type memberStreamStartedBody struct {
	APIID    string `json:"api_id"`
	Message  string `json:"message"`
	StreamID string `json:"stream_id"`
	CallUUID string `json:"call_uuid"`
}

const msgStreamStarted = "audio streaming started"

// bindStream validates the parameters of a stream start in the order of the §5.1 table.
func (s *server) bindStream(b *binder) StreamParams {
	p := StreamParams{AudioTrack: "inbound", Encoding: streamspec.EncodingL16, SampleRate: 8000,
		StreamTimeout: defaultStreamTimeout * time.Second, StatusCallbackMethod: http.MethodPost}
	if u, ok := b.String("service_url", true, 0); ok {
		if !isWebSocketURL(u) {
			b.invalid("service_url")
		}
		p.ServiceURL = u
	}
	p.Bidirectional, _ = b.Bool("bidirectional", false)
	track, explicitTrack := b.Enum("audio_track", false, "inbound", "outbound", "both")
	if explicitTrack {
		p.AudioTrack = track
	}
	var fromContentType bool
	if ct, ok := b.String("content_type", false, 0); ok {
		f, valid := streamspec.ParseContentType(ct)
		if !valid {
			b.invalid("content_type")
		}
		p.Encoding, p.SampleRate, fromContentType = f.Encoding, f.SampleRate, true
	}
	// audio_format is the official Python SDK's spelling; content_type wins when both are given.
	if f, ok := b.Enum("audio_format", false, "pcm", "mulaw"); ok && !fromContentType {
		if f == "mulaw" {
			p.Encoding = streamspec.EncodingMulaw
		}
	}
	if n, ok := b.Int("stream_timeout", false, 1, maxStreamTimeout); ok {
		p.StreamTimeout = time.Duration(n) * time.Second
	}
	p.StatusCallbackURL, _ = b.URL("status_callback_url", false)
	p.StatusCallbackMethod = b.Method("status_callback_method")
	if h, ok := b.String("extra_headers", false, 0); ok {
		// Where <Stream> drops a bad pair with a warning, REST refuses it: the caller sees
		// the 400.
		hs, dropped, tooLong := streamspec.ParseExtraHeaders(h)
		if tooLong || len(dropped) > 0 {
			b.invalid("extra_headers")
		}
		p.ExtraHeaders, p.Headers = h, hs
	}
	// A bidirectional stream carries the inbound track only (§5.1): an explicit outbound or
	// both keeps the tracks and makes the stream one-way, which is what hosted Vobiz does for
	// the SDK's own example.
	if b.err == nil && p.Bidirectional && p.AudioTrack != "inbound" {
		s.log.Warn("api: bidirectional stream with audio_track other than inbound; starting a one-way stream",
			"audio_track", p.AudioTrack)
		p.Bidirectional = false
	}
	return p
}

func (s *server) startStream(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	p := s.bindStream(b)
	if b.err != nil {
		return b.err
	}
	id, err := s.opts.Streams.Start(r.Context(), q.account, pathVar(r, "cid"), p)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, streamStartedBody{APIID: s.newID(), Message: msgStreamStarted, StreamID: id})
	return nil
}

// startMemberStream serves POST /Conference/{name}/Member/{member_id}/Stream/, a Parley
// extension: it starts a stream on the member's call leg, exactly as the call route would on
// that leg's call_uuid. One member only: a stream belongs to one leg.
func (s *server) startMemberStream(w http.ResponseWriter, r *http.Request, q *request) error {
	sel, _, err := memberSelector(r)
	if err != nil {
		return err
	}
	if sel.All || len(sel.IDs) != 1 {
		return invalidParam("member_id")
	}
	b := q.bind()
	p := s.bindStream(b)
	if b.err != nil {
		return b.err
	}
	room, err := s.opts.Conferences.Get(r.Context(), q.account, pathVar(r, "name"))
	if err != nil {
		return err
	}
	callUUID := ""
	for _, m := range room.Members {
		if m.ID == sel.IDs[0] {
			callUUID = m.CallUUID
			break
		}
	}
	if callUUID == "" {
		return &MemberNotFoundError{IDs: sel.IDs}
	}
	id, err := s.opts.Streams.Start(r.Context(), q.account, callUUID, p)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, memberStreamStartedBody{APIID: s.newID(), Message: msgStreamStarted, StreamID: id, CallUUID: callUUID})
	return nil
}

// streamBody is the Stream object of §5.6: the current Vobiz fields and the older and Plivo
// ones, all of them.
type streamBody struct {
	AccountID            string  `json:"account_id"`
	AudioTrack           string  `json:"audio_track"`
	BillDuration         int64   `json:"bill_duration"`
	BilledAmount         string  `json:"billed_amount"`
	Bidirectional        bool    `json:"bidirectional"`
	CallUUID             string  `json:"call_uuid"`
	ContentType          string  `json:"content_type"`
	CreatedAt            string  `json:"created_at"`
	EndTime              *string `json:"end_time"`
	ExtraHeaders         string  `json:"extra_headers"`
	ResourceURI          string  `json:"resource_uri"`
	RoundedBillDuration  int64   `json:"rounded_bill_duration"`
	SamplingRate         int     `json:"sampling_rate"`
	ServiceURL           string  `json:"service_url"`
	StartTime            string  `json:"start_time"`
	Status               string  `json:"status"`
	StatusCallbackMethod string  `json:"status_callback_method"`
	StatusCallbackURL    string  `json:"status_callback_url"`
	StreamID             string  `json:"stream_id"`
	StreamTimeout        int64   `json:"stream_timeout"`
}

type streamGetBody struct {
	streamBody
	APIID string `json:"api_id"`
}

// streamMetaBody is the Plivo-style meta of the stream list: unlike the other lists, next is
// null (not "") on the last page, as §5.2 shows.
type streamMetaBody struct {
	Limit      int     `json:"limit"`
	Next       *string `json:"next"`
	Offset     int     `json:"offset"`
	Previous   *string `json:"previous"`
	TotalCount int     `json:"total_count"`
}

// streamListBody is the union of the two documented list shapes (§5.2).
type streamListBody struct {
	APIID   string         `json:"api_id"`
	Meta    streamMetaBody `json:"meta"`
	Page    int            `json:"page"`
	PerPage int            `json:"per_page"`
	Total   int            `json:"total"`
	Objects []streamBody   `json:"objects"`
}

// streamTimeLayout is ISO 8601 in UTC, the current docs' form (2026-04-24T09:25:00Z).
const streamTimeLayout = "2006-01-02T15:04:05Z07:00"

func (s *server) streamObject(account string, st StreamInfo) streamBody {
	start := st.StartTime.UTC().Format(streamTimeLayout)
	var end *string
	until := s.now()
	if !st.EndTime.IsZero() {
		e := st.EndTime.UTC().Format(streamTimeLayout)
		end, until = &e, st.EndTime
	}
	secs := int64(0)
	if d := until.Sub(st.StartTime); d > 0 && !st.StartTime.IsZero() {
		secs = int64(d / time.Second)
	}
	method := st.StatusCallbackMethod
	if method == "" {
		method = http.MethodPost
	}
	return streamBody{
		AccountID:            account,
		AudioTrack:           st.AudioTrack,
		BillDuration:         secs,
		BilledAmount:         "0.00000",
		Bidirectional:        st.Bidirectional,
		CallUUID:             st.CallUUID,
		ContentType:          st.Encoding + ";rate=" + strconv.Itoa(st.SampleRate),
		CreatedAt:            start,
		EndTime:              end,
		ExtraHeaders:         st.ExtraHeaders,
		ResourceURI:          resourcePath(account, "Call", st.CallUUID, "Stream", st.StreamID),
		RoundedBillDuration:  (secs + 59) / 60 * 60,
		SamplingRate:         st.SampleRate,
		ServiceURL:           st.ServiceURL,
		StartTime:            start,
		Status:               st.Status,
		StatusCallbackMethod: method,
		StatusCallbackURL:    st.StatusCallbackURL,
		StreamID:             st.StreamID,
		StreamTimeout:        int64(st.StreamTimeout / time.Second),
	}
}

func (s *server) listStreams(w http.ResponseWriter, r *http.Request, q *request) error {
	b := q.bind()
	page := bindPage(b)
	if b.err != nil {
		return b.err
	}
	callUUID := pathVar(r, "cid")
	all, err := s.opts.Streams.List(r.Context(), q.account, callUUID)
	if err != nil {
		return err
	}
	m := pageMeta(resourcePath(q.account, "Call", callUUID, "Stream"), page, len(all), url.Values{})
	body := streamListBody{
		APIID: s.newID(),
		Meta: streamMetaBody{Limit: m.Limit, Offset: m.Offset, Previous: m.Previous,
			TotalCount: m.TotalCount},
		Page:    page.Offset/page.Limit + 1,
		PerPage: page.Limit,
		Total:   len(all),
		Objects: []streamBody{},
	}
	if m.Next != "" {
		body.Meta.Next = &m.Next
	}
	lo := min(page.Offset, len(all))
	hi := min(lo+page.Limit, len(all))
	for _, st := range all[lo:hi] {
		body.Objects = append(body.Objects, s.streamObject(q.account, st))
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *server) getStream(w http.ResponseWriter, r *http.Request, q *request) error {
	st, err := s.opts.Streams.Get(r.Context(), q.account, pathVar(r, "cid"), pathVar(r, "sid"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, streamGetBody{streamBody: s.streamObject(q.account, st), APIID: s.newID()})
	return nil
}

func (s *server) stopStream(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Streams.Stop(r.Context(), q.account, pathVar(r, "cid"), pathVar(r, "sid")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

func (s *server) stopAllStreams(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.opts.Streams.StopAll(r.Context(), q.account, pathVar(r, "cid")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// isWebSocketURL reports whether s is an absolute ws:// or wss:// URL with a host.
func isWebSocketURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "ws" || scheme == "wss"
}
