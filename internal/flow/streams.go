package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/stream"
	"github.com/parley-voice/parley/internal/webhook"
)

// StreamRequest is one audio stream to start on a call (spec/streams.md): the attributes of a
// <Stream> element or the parameters of a REST start, before interpretation.
type StreamRequest struct {
	URL           string
	Bidirectional bool
	// AudioTrack is stream.TrackInbound, TrackOutbound or TrackBoth; the conflict rules
	// (§1.3, §5.1) are applied by whoever built the request.
	AudioTrack string
	// Timeout is streamTimeout; 0 means the default.
	Timeout time.Duration
	// ContentType is the inbound format as given; "" or a value not understood means
	// audio/x-l16;rate=8000 (the latter with a warning).
	ContentType string
	// StatusCallbackURL receives the events of §6 ("" for none), with StatusCallbackMethod
	// (GET or POST, the default).
	StatusCallbackURL    string
	StatusCallbackMethod string
	// ExtraHeaders is the raw extraHeaders / extra_headers value ("" for none).
	ExtraHeaders  string
	MaxRetries    int
	KeepCallAlive bool
	// UniqueURL refuses the start (ErrStreamURLInUse) when a running stream of the call already
	// uses URL: the REST rule of §5.1. A document's <Stream> is not refused.
	UniqueURL bool
}

// The values of StreamInfo.Status (the Stream object's status, §5.6).
const (
	StreamInProgress = "in-progress"
	StreamCompleted  = "completed"
	StreamFailed     = "failed"
)

// StreamInfo is a snapshot of one stream of a call.
type StreamInfo struct {
	ID       string // the first streamId, the stream's REST handle
	CallUUID string
	Request  StreamRequest
	// Format is the inbound format in use (ContentType interpreted).
	Format stream.Format
	// Status is StreamInProgress, StreamCompleted or StreamFailed.
	Status string
	// Start is when the stream was created; End when it ended (zero while in progress).
	Start, End time.Time
}

// Errors of Streams.
var (
	ErrStreamCallEnded = errors.New("the call has ended")
	ErrStreamURLInUse  = errors.New("a running stream of this call already uses this URL")
	ErrStreamNotFound  = errors.New("no such stream on this call")
)

// streamStopWait bounds how long stopping a stream waits for its end event: a stopped session
// writes the media already queued (at most 2 s), then closes the socket.
const streamStopWait = 5 * time.Second

// Streams owns the live audio streams of every call: <Stream> elements and REST starts both
// go through it, so the REST list of a call shows both, and a call's end stops all of them.
//
// Each stream is a stream.Session wired to the call's per-leg seams: taps of the received
// and/or sent audio push 20 ms frames into it, an overlay of the call's output pulls the app's
// playAudio from it (bidirectional streams), a digit tap forwards the caller's DTMF, the app's
// sendDTMF is played on the call, and the session's events become signed status callbacks in
// the durable outbox, ordered with the call's other notifications. Nothing on the audio path
// waits: the taps and the overlay only copy.
type Streams struct {
	// Notifier queues the status callbacks.
	Notifier Notifier
	// Configure, when set, adjusts the configuration of every session before it starts (the
	// app's per-account byte orders, a test's backoff).
	Configure func(c *call.Call, cfg *stream.Config)
	// Logger is the sessions' logger; nil means slog.Default().
	Logger *slog.Logger

	mu    sync.Mutex
	calls map[string]*callStreams
}

// callStreams are the streams of one call, oldest first.
type callStreams struct {
	c       *call.Call
	streams []*liveStream
	ended   bool          // the call has ended: no new stream, all are being stopped
	gone    chan struct{} // closed once every stream of the ended call has sent its end event
}

// liveStream is one stream and the seams it holds on its call.
type liveStream struct {
	sess   *stream.Session
	req    StreamRequest
	format stream.Format
	start  time.Time
	end    time.Time // guarded by Streams.mu; set when the session is done
}

func (m *Streams) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// Start starts a stream on c and returns its session at once; the socket is opened in the
// background. ErrStreamCallEnded when c has ended, ErrStreamURLInUse per req.UniqueURL.
func (m *Streams) Start(c *call.Call, req StreamRequest) (*stream.Session, error) {
	log := c.Logger()
	format := stream.DefaultFormat
	if req.ContentType != "" {
		f, ok := stream.ParseContentType(req.ContentType)
		if !ok {
			log.Warn("stream contentType not supported; using audio/x-l16;rate=8000", "content_type", req.ContentType)
		}
		format = f
	}
	headers, dropped, tooLong := stream.ParseExtraHeaders(req.ExtraHeaders)
	if tooLong {
		log.Warn("stream extraHeaders longer than 512 bytes; ignored")
	}
	if len(dropped) > 0 {
		log.Warn("stream extraHeaders pairs dropped: only [A-Za-z0-9_.-] keys and values are allowed", "dropped", len(dropped))
	}
	if req.StatusCallbackMethod == "" {
		req.StatusCallbackMethod = http.MethodPost
	}
	ls := &liveStream{req: req, format: format, start: time.Now()}
	id := c.Identity()
	cfg := stream.Config{
		URL:           req.URL,
		Bidirectional: req.Bidirectional,
		AudioTrack:    req.AudioTrack,
		Timeout:       req.Timeout,
		Format:        format,
		ExtraHeaders:  headers,
		MaxRetries:    req.MaxRetries,
		KeepCallAlive: req.KeepCallAlive,
		CallUUID:      id.UUID,
		AccountID:     id.AccountID,
		StreamID:      stream.NewStreamID(),
		OnEvent:       func(ev stream.Event) { m.notify(c, ls, headers, ev) },
		OnSendDTMF: func(digits string) {
			if err := c.SendDigits(c.Context(), digits, false); err != nil && c.Context().Err() == nil {
				log.Warn("stream sendDTMF: sending digits failed", "err", err)
			}
		},
		Logger: m.logger(), // the session adds call_uuid itself
	}
	if m.Configure != nil {
		m.Configure(c, &cfg)
	}

	m.mu.Lock()
	if m.calls == nil {
		m.calls = make(map[string]*callStreams)
	}
	cs := m.calls[id.UUID]
	if cs == nil {
		if c.Context().Err() != nil {
			m.mu.Unlock()
			return nil, ErrStreamCallEnded
		}
		cs = &callStreams{c: c, gone: make(chan struct{})}
		m.calls[id.UUID] = cs
		go m.watchCall(cs)
	}
	if cs.ended {
		m.mu.Unlock()
		return nil, ErrStreamCallEnded
	}
	if req.UniqueURL {
		for _, o := range cs.streams {
			if o.req.URL == req.URL && !isDone(o.sess) {
				m.mu.Unlock()
				return nil, ErrStreamURLInUse
			}
		}
	}
	ls.sess = stream.Start(cfg)
	cs.streams = append(cs.streams, ls)
	m.mu.Unlock()

	removers := attachStream(c, ls.sess, cfg)
	log.Info("stream started", "stream_id", ls.sess.ID(), "url", redactURL(req.URL), "bidirectional", req.Bidirectional,
		"audio_track", cfg.AudioTrack, "content_type", format.String(), "keep_call_alive", req.KeepCallAlive)
	go func() {
		<-ls.sess.Done()
		for _, remove := range removers {
			remove()
		}
		m.mu.Lock()
		ls.end = time.Now()
		m.mu.Unlock()
	}()
	return ls.sess, nil
}

// attachStream wires a session to the call's seams and returns their removers.
func attachStream(c *call.Call, s *stream.Session, cfg stream.Config) []func() {
	var removers []func()
	track := cfg.AudioTrack
	if track == "" {
		track = stream.TrackInbound
	}
	if track == stream.TrackInbound || track == stream.TrackBoth {
		ch := &frameChunker{push: s.PushInbound}
		removers = append(removers, c.AddTap(call.TapReceived, ch.write))
	}
	if track == stream.TrackOutbound || track == stream.TrackBoth {
		ch := &frameChunker{push: s.PushOutbound}
		removers = append(removers, c.AddTap(call.TapSent, ch.write))
	}
	if cfg.Bidirectional {
		removers = append(removers, c.AddOverlay(&playoutOverlay{s: s}))
	}
	removers = append(removers, c.AddDigitTap(s.PushDTMF))
	return removers
}

// watchCall stops every stream of a call when the call ends, and forgets the call once they
// have all sent their end events (an ended call's streams are not readable).
func (m *Streams) watchCall(cs *callStreams) {
	<-cs.c.Done()
	m.mu.Lock()
	cs.ended = true
	list := append([]*liveStream(nil), cs.streams...)
	m.mu.Unlock()
	for _, ls := range list {
		ls.sess.Stop()
	}
	timeout := time.NewTimer(streamStopWait)
	defer timeout.Stop()
	for _, ls := range list {
		select {
		case <-ls.sess.Done():
		case <-timeout.C:
			cs.c.Logger().Warn("streams did not end in time after the call ended")
		}
	}
	close(cs.gone)
	m.mu.Lock()
	if m.calls[cs.c.UUID()] == cs {
		delete(m.calls, cs.c.UUID())
	}
	m.mu.Unlock()
}

// AwaitCallEnd returns once every stream of the ended call callUUID has sent its end event
// (at once when it had none), or when ctx ends: the hangup webhook is queued after the
// streams' end callbacks (spec/streams.md §9).
func (m *Streams) AwaitCallEnd(ctx context.Context, callUUID string) {
	m.mu.Lock()
	cs := m.calls[callUUID]
	m.mu.Unlock()
	if cs == nil {
		return
	}
	select {
	case <-cs.gone:
	case <-ctx.Done():
	}
}

// List returns the streams of a call, oldest first (none for a call without streams).
func (m *Streams) List(callUUID string) []StreamInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := m.calls[callUUID]
	if cs == nil {
		return nil
	}
	out := make([]StreamInfo, 0, len(cs.streams))
	for _, ls := range cs.streams {
		out = append(out, ls.infoLocked(callUUID))
	}
	return out
}

// Get returns one stream of a call by its ID; ErrStreamNotFound when the call has no such
// stream.
func (m *Streams) Get(callUUID, streamID string) (StreamInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ls := m.findLocked(callUUID, streamID); ls != nil {
		return ls.infoLocked(callUUID), nil
	}
	return StreamInfo{}, ErrStreamNotFound
}

// Stop ends one running stream of a call (close 1000, StopStream) and returns once its end
// event has been queued, or ctx has ended. ErrStreamNotFound when the call has no such stream
// or it has already ended.
func (m *Streams) Stop(ctx context.Context, callUUID, streamID string) error {
	m.mu.Lock()
	ls := m.findLocked(callUUID, streamID)
	m.mu.Unlock()
	if ls == nil || isDone(ls.sess) {
		return ErrStreamNotFound
	}
	ls.sess.Stop()
	awaitSessions(ctx, []*stream.Session{ls.sess})
	return nil
}

// StopAll ends every running stream of a call, like Stop for each.
func (m *Streams) StopAll(ctx context.Context, callUUID string) {
	m.mu.Lock()
	var list []*stream.Session
	if cs := m.calls[callUUID]; cs != nil {
		for _, ls := range cs.streams {
			list = append(list, ls.sess)
		}
	}
	m.mu.Unlock()
	for _, s := range list {
		s.Stop()
	}
	awaitSessions(ctx, list)
}

func awaitSessions(ctx context.Context, list []*stream.Session) {
	ctx, cancel := context.WithTimeout(ctx, streamStopWait)
	defer cancel()
	for _, s := range list {
		select {
		case <-s.Done():
		case <-ctx.Done():
			return
		}
	}
}

func (m *Streams) findLocked(callUUID, streamID string) *liveStream {
	cs := m.calls[callUUID]
	if cs == nil {
		return nil
	}
	for _, ls := range cs.streams {
		if ls.sess.ID() == streamID {
			return ls
		}
	}
	return nil
}

func (ls *liveStream) infoLocked(callUUID string) StreamInfo {
	info := StreamInfo{ID: ls.sess.ID(), CallUUID: callUUID, Request: ls.req, Format: ls.format,
		Status: StreamInProgress, Start: ls.start}
	if r := ls.sess.EndReason(); r != stream.EndNone {
		info.Status = StreamCompleted
		if r.Failed() {
			info.Status = StreamFailed
		}
		info.End = ls.end
		if info.End.IsZero() { // done a moment ago; the watcher has not stamped it yet
			info.End = time.Now()
		}
	}
	return info
}

func isDone(s *stream.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// streamTimeLayout is the Timestamp of a stream callback (§6.2), in UTC.
const streamTimeLayout = "2006-01-02 15:04:05"

// notify queues one status callback (spec/streams.md §6.2) in the outbox, ordered with the
// call's other notifications.
func (m *Streams) notify(c *call.Call, ls *liveStream, headers []stream.Header, ev stream.Event) {
	req := ls.req
	if req.StatusCallbackURL == "" || m.Notifier == nil {
		return
	}
	id := c.Identity()
	v := url.Values{}
	v.Set("Event", string(ev.Kind))
	v.Set("StreamID", ev.StreamID)
	v.Set("CallUUID", id.UUID)
	v.Set("From", id.From)
	v.Set("To", id.To)
	v.Set("ParentAuthID", id.AccountID)
	v.Set("Timestamp", ev.Time.UTC().Format(streamTimeLayout))
	v.Set("Error", ev.Error)
	v.Set("ServiceURL", req.URL)
	v.Set("status_callback_url", req.StatusCallbackURL)
	v.Set("status_callback_method", req.StatusCallbackMethod)
	if ev.Kind == stream.PlayedStream {
		v.Set("Name", ev.Name)
	}
	// The configured values, which the older docs list as sent to the callback (§6.2).
	v.Set("bidirectional", strconv.FormatBool(req.Bidirectional))
	track := req.AudioTrack
	if track == "" {
		track = stream.TrackInbound
	}
	v.Set("audioTrack", track)
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = stream.DefaultTimeout
	}
	v.Set("streamTimeout", strconv.Itoa(int(timeout/time.Second)))
	v.Set("contentType", ls.format.String())
	v.Set("maxRetries", strconv.Itoa(min(max(req.MaxRetries, 0), stream.MaxRetries)))
	v.Set("keepCallAlive", strconv.FormatBool(req.KeepCallAlive))
	if req.ExtraHeaders != "" {
		v.Set("extraHeaders", req.ExtraHeaders)
	}
	for _, h := range headers {
		v.Set("X-VH-"+h.Name, h.Value)
	}
	n := webhook.Notification{AuthID: id.AccountID, URL: req.StatusCallbackURL, Method: req.StatusCallbackMethod,
		Params: v, OrderKey: id.UUID}
	if err := m.Notifier.Notify(context.Background(), n); err != nil {
		c.Logger().Error("queueing stream status callback failed", "stream_id", ev.StreamID, "event", ev.Kind, "err", err)
	}
}

// redactURL drops a URL's query for logs: apps carry secrets there (§1.1).
func redactURL(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// frameChunker regroups a tap's frames, whatever their size (a bridge relays 30 ms), into the
// 20 ms frames a session takes, so that nothing is lost or padded.
type frameChunker struct {
	mu   sync.Mutex // a sent-audio tap may move between goroutines with the output's owner
	buf  [media.FrameSamples]int16
	n    int
	push func([]int16)
}

func (f *frameChunker) write(pcm []int16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(pcm) > 0 {
		if f.n == 0 && len(pcm) >= media.FrameSamples {
			f.push(pcm[:media.FrameSamples])
			pcm = pcm[media.FrameSamples:]
			continue
		}
		k := copy(f.buf[f.n:], pcm)
		f.n += k
		pcm = pcm[k:]
		if f.n == media.FrameSamples {
			f.push(f.buf[:])
			f.n = 0
		}
	}
}

// playoutOverlay is a session's playAudio as an overlay of the call's output. The call pulls
// as many samples as the frame it sends (160, or 240 for a bridge's 30 ms); the session plays
// out whole 20 ms frames, so what a pull leaves of a frame is kept for the next one.
type playoutOverlay struct {
	s *stream.Session

	mu      sync.Mutex // pulls may come from two owners around a hand-over
	frame   [media.FrameSamples]int16
	off     int  // next unread sample of frame; len(frame) when empty
	audible bool // frame holds app audio
	primed  bool
}

func (o *playoutOverlay) PullOverlay(dst []int16) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.primed {
		o.off, o.primed = len(o.frame), true
	}
	heard := false
	for n := 0; n < len(dst); {
		if o.off == len(o.frame) {
			o.audible = o.s.NextFrame(o.frame[:])
			o.off = 0
		}
		k := copy(dst[n:], o.frame[o.off:])
		if !o.audible {
			clear(dst[n : n+k])
		}
		heard = heard || o.audible
		o.off += k
		n += k
	}
	if !heard {
		return 0
	}
	return len(dst)
}
