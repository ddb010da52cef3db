package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/media"
)

// Session is one audio stream: its sockets over time (a new one, with a new streamId, after an
// abnormal drop while retries remain), the media it sends and the app audio it plays.
type Session struct {
	cfg    Config
	id     string // the first streamId: the stream's handle
	tracks []string
	inIdx  int // index of the inbound track in tracks, -1 when not streamed
	outIdx int
	limit  int // media items the backlog may hold
	log    *slog.Logger

	stopOnce sync.Once
	stopCh   chan struct{} // closed by Stop
	stopCtx  context.Context
	stopFn   context.CancelFunc

	mu       sync.Mutex
	streamID string  // the current socket's streamId
	sock     *socket // the socket media goes to; nil while (re)connecting or ended
	mq       []outItem
	mqHead   int
	ctrl     []outItem
	dropped  uint64
	sent     uint64

	play playout

	evMu     sync.Mutex
	evQueue  []func()
	evWake   chan struct{}
	evClosed bool
	evDone   chan struct{}

	done chan struct{}
	end  EndReason // set before done is closed
}

// socket is one connected WebSocket and the state tied to it.
type socket struct {
	conn     *websocket.Conn
	id       string
	cut      atomic.Bool   // Parley is closing the connection: a failed read or write is no news
	quit     chan struct{} // closed to stop the writer between two messages
	wake     chan struct{}
	endOnce  sync.Once
	ended    chan struct{}
	cause    EndReason
	closing  bool // set under Session.mu when Parley ends the socket
	draining bool // set under Session.mu: write what is queued, then report drained
	drained  chan struct{}
	lastPush [2]time.Time // per track index: when the last frame was queued
	degraded int          // backlog thresholds passed (30, 60, 90 %)
	dec      *playDecoder
}

// finish records why the socket ended (first cause wins) without blocking.
func (k *socket) finish(r EndReason) {
	k.endOnce.Do(func() {
		k.cause = r
		close(k.ended)
	})
}

// outItem is one message waiting for the writer.
type outItem struct {
	kind  itemKind
	track int // index into Session.tracks
	ts    int64
	name  string
	digit byte
	pcm   [media.FrameSamples]int16
}

type itemKind uint8

const (
	itemMedia itemKind = iota
	itemPlayed
	itemCleared
	itemDTMF
)

// gapFill is how long a track may go without a frame before the writer sends silence for it:
// media flows without a break (§3.2) even when the call side pushes nothing. With the writer's
// 20 ms tick, the longest gap an app sees is gapFill + 20 ms = 60 ms, the bound of issue 8; a
// caller's RTP that arrives later than that is sent too, after the silence.
const gapFill = 40 * time.Millisecond

// Start begins the stream in the background: it connects (retrying per MaxRetries), and runs
// until an end of §1.5. It never blocks on the network; watch Done.
func Start(cfg Config) *Session {
	c := cfg.withDefaults()
	s := &Session{
		cfg:    c,
		id:     c.StreamID,
		tracks: tracks(c.AudioTrack),
		inIdx:  -1,
		outIdx: -1,
		stopCh: make(chan struct{}),
		evWake: make(chan struct{}, 1),
		evDone: make(chan struct{}),
		done:   make(chan struct{}),
	}
	if s.id == "" {
		s.id = uuid.NewString() // every streamId is a UUID v4
	}
	for i, t := range s.tracks {
		if t == TrackInbound {
			s.inIdx = i
		} else {
			s.outIdx = i
		}
	}
	s.limit = max(1, int(c.MaxBacklog/media.FrameDuration)*len(s.tracks))
	s.streamID = s.id
	s.log = c.Logger.With("call_uuid", c.CallUUID)
	s.stopCtx, s.stopFn = context.WithCancel(context.Background())
	go s.deliver()
	go s.run()
	return s
}

// ID is the first streamId, the stream's handle for REST; StreamID is the current one.
func (s *Session) ID() string { return s.id }

// StreamID returns the streamId of the current (or last) socket.
func (s *Session) StreamID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamID
}

// Config returns the session's configuration with the defaults applied.
func (s *Session) Config() Config { return s.cfg }

// Done is closed when the stream has ended and its end event has been handed to OnEvent.
func (s *Session) Done() <-chan struct{} { return s.done }

// EndReason says why the stream ended; EndNone until Done is closed.
func (s *Session) EndReason() EndReason {
	select {
	case <-s.done:
		return s.end
	default:
		return EndNone
	}
}

// Stop ends the stream from Parley's side (REST stop, transfer, hangup): the media already
// queued is sent, the socket is closed with 1000, and StopStream follows. It returns at once.
func (s *Session) Stop() {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		s.stopFn()
	})
}

// Stats are counters for logs and tests.
type Stats struct {
	// Sent is the number of media messages written; Dropped the frames refused because the
	// backlog was full.
	Sent, Dropped uint64
	// Playout is the app audio waiting to be played.
	Playout time.Duration
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	st := Stats{Sent: s.sent, Dropped: s.dropped}
	s.mu.Unlock()
	st.Playout = time.Duration(s.play.pending()) * time.Second / media.SampleRate
	return st
}

// PushInbound queues one 20 ms frame (8 kHz, media.FrameSamples; shorter is padded) the call
// party sent, for the inbound track. It copies the frame and never blocks; it does nothing
// when the inbound track is not streamed or no socket is up.
func (s *Session) PushInbound(frame []int16) { s.push(s.inIdx, frame) }

// PushOutbound queues one 20 ms frame Parley sent to the call party, for the outbound track.
func (s *Session) PushOutbound(frame []int16) { s.push(s.outIdx, frame) }

func (s *Session) push(track int, frame []int16) {
	if track < 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	k := s.sock
	if k == nil || k.closing {
		s.mu.Unlock()
		return
	}
	if !s.enqueueMediaLocked(k, track, now, frame) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	wake(k.wake)
}

// enqueueMediaLocked queues a frame, checks the backlog and reports whether it was queued.
func (s *Session) enqueueMediaLocked(k *socket, track int, now time.Time, frame []int16) bool {
	backlog := len(s.mq) - s.mqHead
	if backlog >= s.limit {
		s.dropped++
		k.closing = true
		s.log.Warn("stream backlog full: the app reads too slowly; dropping the stream",
			"stream_id", k.id, "backlog", backlog)
		k.finish(EndBacklog)
		return false
	}
	if s.mqHead > 0 && s.mqHead >= len(s.mq)/2 {
		n := copy(s.mq, s.mq[s.mqHead:])
		s.mq = s.mq[:n]
		s.mqHead = 0
	}
	s.mq = append(s.mq, outItem{kind: itemMedia, track: track, ts: now.UnixMilli()})
	copy(s.mq[len(s.mq)-1].pcm[:], frame)
	k.lastPush[track] = now
	backlog++
	for k.degraded < 3 && backlog*10 > s.limit*3*(k.degraded+1) {
		k.degraded++
		s.log.Warn("stream degraded: outgoing media is backing up", "stream_id", k.id,
			"backlog_percent", 30*k.degraded)
		s.emit(Event{Kind: DegradedStream, StreamID: k.id, Error: ErrorDegraded, Time: now})
	}
	return true
}

// PushDTMF sends a `dtmf` event (§3.5) for a key the call party pressed (0-9 * # A-D). It
// never blocks.
func (s *Session) PushDTMF(digit rune) {
	if s.cfg.NoDTMFEvents {
		return
	}
	d := dtmfDigits(string(digit))
	if d == "" {
		return
	}
	s.enqueueCtrl(outItem{kind: itemDTMF, digit: d[0], ts: time.Now().UnixMilli()})
}

// enqueueCtrl queues a control message for the current socket, if any; it reports the
// socket's streamId ("" when none).
func (s *Session) enqueueCtrl(it outItem) string {
	s.mu.Lock()
	k := s.sock
	if k == nil || k.closing {
		s.mu.Unlock()
		return ""
	}
	s.ctrl = append(s.ctrl, it)
	s.mu.Unlock()
	wake(k.wake)
	return k.id
}

// NextFrame fills dst (media.FrameSamples long) with the next 20 ms of the app's audio, or
// silence, and reports whether it held any audio: the call side adds it to the leg's output
// when true. It never blocks on the network. Checkpoints whose audio this frame completes are
// acknowledged (playedStream, PlayedStream) now, when their audio has really played.
func (s *Session) NextFrame(dst []int16) bool {
	var arr [4]string
	ok, names := s.play.next(dst, arr[:0])
	if len(names) > 0 {
		now := time.Now()
		for _, n := range names {
			if id := s.enqueueCtrl(outItem{kind: itemPlayed, name: n}); id != "" {
				s.emit(Event{Kind: PlayedStream, StreamID: id, Name: n, Time: now})
			}
		}
	}
	return ok
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// emit queues an event for OnEvent; the deliver goroutine calls it in order.
func (s *Session) emit(ev Event) {
	if s.cfg.OnEvent == nil {
		return
	}
	s.later(func() { s.cfg.OnEvent(ev) })
}

func (s *Session) later(f func()) {
	s.evMu.Lock()
	if !s.evClosed {
		s.evQueue = append(s.evQueue, f)
	}
	s.evMu.Unlock()
	wake(s.evWake)
}

// deliver runs the owner's callbacks one at a time until the queue is closed and empty.
func (s *Session) deliver() {
	defer close(s.evDone)
	for {
		s.evMu.Lock()
		q, closed := s.evQueue, s.evClosed
		s.evQueue = nil
		s.evMu.Unlock()
		for _, f := range q {
			f()
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-s.evWake
		}
	}
}

// run is the stream's life: connect, serve, reconnect after an abnormal drop, end.
func (s *Session) run() {
	retries := 0
	var deadline <-chan time.Time
	idEnded := false // the current streamId had its end event
	newID := false   // the next socket needs a new streamId: the current one was used
	end := EndNone
	for end == EndNone {
		k, err := s.connect(newID)
		if err != nil {
			if s.stopCtx.Err() != nil {
				end = EndStopped
				break
			}
			s.log.Warn("stream connect failed", "stream_id", s.StreamID(), "url", redact(s.cfg.URL), "err", err)
			if retries >= s.cfg.MaxRetries || !retryable(err) {
				end = EndConnectFailed
				break
			}
			retries++
			if r := s.backoff(retries, deadline); r != EndNone {
				end = r
			}
			continue
		}
		if deadline == nil {
			t := time.NewTimer(s.cfg.Timeout)
			defer t.Stop()
			deadline = t.C
		}
		idEnded, newID = false, false
		r := s.serve(k, deadline)
		if r != EndDropped || retries >= s.cfg.MaxRetries {
			end = r
			break
		}
		// An abnormal drop with retries left: this streamId ends, the next socket has a new one.
		kind, msg := r.endEvent()
		s.emit(Event{Kind: kind, StreamID: k.id, Error: msg, Time: time.Now()})
		idEnded = true
		retries++
		if r := s.backoff(retries, deadline); r != EndNone {
			end = r
			break
		}
		newID = true
	}
	if !idEnded {
		kind, msg := end.endEvent()
		s.emit(Event{Kind: kind, StreamID: s.StreamID(), Error: msg, Time: time.Now()})
	}
	s.log.Info("stream ended", "stream_id", s.StreamID(), "reason", end.String())
	s.evMu.Lock()
	s.evClosed = true
	s.evMu.Unlock()
	wake(s.evWake)
	<-s.evDone
	s.end = end
	close(s.done)
}

// backoff waits before reconnect n; it returns the end reason when the stream ends meanwhile.
func (s *Session) backoff(n int, deadline <-chan time.Time) EndReason {
	t := time.NewTimer(s.cfg.Backoff(n))
	defer t.Stop()
	select {
	case <-t.C:
		return EndNone
	case <-s.stopCh:
		return EndStopped
	case <-deadline:
		return EndTimeout
	}
}

// retryable tells a connect failure worth retrying from a URL that can never work.
func retryable(err error) bool { return !errors.Is(err, errBadURL) }

var errBadURL = errors.New("not a ws:// or wss:// URL")

// connect dials the app (§2.1). The socket takes a new streamId when newID is set, once it
// is connected: an id that never reached a socket is not replaced, so that every streamId
// the owner hears of gets exactly one end event.
func (s *Session) connect(newID bool) (*socket, error) {
	u, err := url.Parse(s.cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("%q: %w", redact(s.cfg.URL), errBadURL)
	}
	ctx, cancel := context.WithTimeout(s.stopCtx, s.cfg.ConnectTimeout)
	defer cancel()
	hdr := http.Header{}
	for _, h := range s.cfg.ExtraHeaders {
		hdr[h.Name] = append(hdr[h.Name], h.Value) // the key as written (§2.3)
	}
	client := http.Client{}
	if s.cfg.HTTPClient != nil {
		client = *s.cfg.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	conn, resp, err := websocket.Dial(ctx, s.cfg.URL, &websocket.DialOptions{
		HTTPClient:      &client,
		HTTPHeader:      hdr,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade refused with HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	conn.SetReadLimit(MaxMessage)
	s.mu.Lock()
	if newID {
		s.streamID = uuid.NewString() // every streamId is a UUID v4
	}
	id := s.streamID
	s.mu.Unlock()
	return &socket{
		conn: conn, id: id,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), ended: make(chan struct{}), drained: make(chan struct{}),
		dec: newPlayDecoder(s.cfg.Format, s.cfg.PlayByteOrder),
	}, nil
}

// drainLimit bounds how long Stop waits for queued media to be written.
const drainLimit = 2 * time.Second

// serve runs one connected socket until it ends and returns why.
func (s *Session) serve(k *socket, deadline <-chan time.Time) EndReason {
	log := s.log.With("stream_id", k.id)
	w := newMsgWriter(k.id, s.cfg.ExtraHeaders)
	start := w.start(s.cfg.CallUUID, s.cfg.AccountID, k.id, s.tracks, s.cfg.Format, s.cfg.ExtraHeaders)
	// The queue opens before `start` is written, so nothing pushed once the app has seen
	// `start` is lost; the writer, which starts after it, sends what was queued meanwhile.
	now := time.Now()
	s.mu.Lock()
	k.lastPush = [2]time.Time{now, now}
	s.mq, s.mqHead, s.ctrl = s.mq[:0], 0, s.ctrl[:0]
	s.sock = k
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
	err := k.conn.Write(wctx, websocket.MessageText, start)
	cancel()
	if err != nil {
		log.Warn("stream start could not be sent", "err", err)
		s.mu.Lock()
		s.sock = nil
		s.mu.Unlock()
		k.cut.Store(true)
		_ = k.conn.CloseNow()
		return EndDropped
	}
	s.emit(Event{Kind: StartStream, StreamID: k.id, Time: now})
	log.Info("stream connected", "url", redact(s.cfg.URL), "tracks", strings.Join(s.tracks, ","),
		"format", s.cfg.Format.String(), "bidirectional", s.cfg.Bidirectional)

	writerDone := make(chan struct{})
	go func() { defer close(writerDone); s.writer(k, w) }()
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); s.reader(k, log) }()

	var reason EndReason
	select {
	case <-k.ended:
		reason = k.cause
	case <-s.stopCh:
		reason = EndStopped
	case <-deadline:
		reason = EndTimeout
	}
	s.mu.Lock()
	k.closing = true
	if reason == EndStopped {
		k.draining = true // a hangup closes the socket after the last media frame (§1.5)
	}
	s.mu.Unlock()
	if reason == EndStopped {
		wake(k.wake)
		t := time.NewTimer(drainLimit)
		select {
		case <-k.drained:
		case <-k.ended:
		case <-t.C:
		}
		t.Stop()
	}
	k.finish(reason)
	s.play.clear()
	switch reason {
	case EndAppStop, EndTimeout, EndStopped:
		// The writer stops first (Close needs the write lock for the close frame); the
		// reader goes on reading until the close handshake is done, which ends its reads.
		close(k.quit)
		t := time.NewTimer(drainLimit)
		select {
		case <-writerDone:
		case <-t.C: // stuck on a slow socket: cut it
			k.cut.Store(true)
			_ = k.conn.CloseNow()
			<-writerDone
		}
		t.Stop()
		k.cut.Store(true)
		_ = k.conn.Close(websocket.StatusNormalClosure, "")
	default:
		k.cut.Store(true)
		close(k.quit)
		_ = k.conn.CloseNow()
		<-writerDone
	}
	<-readerDone
	s.mu.Lock()
	s.sock = nil
	s.mq, s.mqHead, s.ctrl = nil, 0, nil // a backlog's memory goes with its socket
	s.mu.Unlock()
	return reason
}

// maxIgnoredLogs is how many ignored messages a socket logs one by one; a bot that sends
// garbage 50 times a second must not flood the log. The rest are counted.
const maxIgnoredLogs = 20

// maxKeptReadBuffer is the largest read buffer a socket keeps between two messages.
const maxKeptReadBuffer = 64 << 10

// reader handles the app's messages in socket order (§4) until the socket ends.
func (s *Session) reader(k *socket, log *slog.Logger) {
	var pcm []int16
	ignored, warnedID := 0, false
	ignore := func(msg string, args ...any) {
		ignored++
		if ignored <= maxIgnoredLogs {
			log.Warn(msg, args...)
		}
	}
	defer func() {
		if ignored > maxIgnoredLogs {
			log.Warn("stream messages ignored", "count", ignored)
		}
	}()
	// The message is read into a reused buffer (Conn.Read would allocate one per message), and
	// with context.Background: a cancellable context arms a watcher around every read. The
	// reads end when serve closes the connection.
	var msgBuf bytes.Buffer
	var payloadBuf []byte
	for {
		typ, r, err := k.conn.Reader(context.Background())
		if err == nil {
			if msgBuf.Cap() > maxKeptReadBuffer {
				msgBuf = bytes.Buffer{} // one huge message does not pin its memory for the socket's life
			}
			msgBuf.Reset()
			_, err = msgBuf.ReadFrom(r)
		}
		data := msgBuf.Bytes()
		if err != nil {
			s.mu.Lock()
			closing := k.closing
			s.mu.Unlock()
			if closing {
				return
			}
			switch code := websocket.CloseStatus(err); code {
			case -1, websocket.StatusAbnormalClosure, websocket.StatusInternalError,
				websocket.StatusServiceRestart, websocket.StatusTryAgainLater, websocket.StatusBadGateway:
				log.Warn("stream socket dropped", "err", err)
				k.finish(EndDropped)
			default:
				log.Info("stream closed by the app", "code", int(code))
				k.finish(EndAppClosed)
			}
			return
		}
		if typ == websocket.MessageBinary && (!utf8.Valid(data) || !isJSONObject(data)) {
			ignore("stream message ignored", "err", errors.New("binary frame that is not JSON"), "bytes", len(data))
			continue
		}
		m, buf, fast := parsePlayAudio(data, payloadBuf)
		if cap(buf) <= maxKeptReadBuffer {
			payloadBuf = buf // m.Payload shares it; nothing keeps m.Payload past this message
		}
		if !fast {
			if m, err = parseAppMessage(data); err != nil {
				ignore("stream message ignored", "err", err, "message", clip(string(data)))
				continue
			}
		}
		if m.StreamID != "" && m.StreamID != k.id && !warnedID {
			warnedID = true // once per socket: a bot that keeps a stale id sends it every time
			log.Warn("stream message names another streamId; acting on it anyway", "message_stream_id", m.StreamID)
		}
		switch m.Event {
		case appPlayAudio, appCheckpoint, appClearAudio:
			if !s.cfg.Bidirectional {
				continue // the audio "is discarded" on a one-way stream (§4)
			}
		}
		switch m.Event {
		case appPlayAudio:
			var ok bool
			pcm, ok = k.dec.decode(pcm[:0], m)
			if !ok {
				ignore("playAudio ignored", "err", fmt.Errorf("contentType %q is not audio/x-l16 or audio/x-mulaw", clip(m.ContentType)))
				continue
			}
			s.queuePlay(pcm, log)
		case appCheckpoint:
			pcm = k.dec.flush(pcm[:0])
			s.queuePlay(pcm, log)
			s.play.checkpoint(m.Name)
		case appClearAudio:
			k.dec.reset()
			s.play.clear()
			if id := s.enqueueCtrl(outItem{kind: itemCleared}); id != "" {
				s.emit(Event{Kind: ClearedAudio, StreamID: id, Time: time.Now()})
			}
		case appStop:
			s.play.clear()
			k.finish(EndAppStop)
			return
		case appSendDTMF:
			if m.Digits == "" || s.cfg.OnSendDTMF == nil {
				continue
			}
			d := m.Digits
			s.later(func() { s.cfg.OnSendDTMF(d) })
		default:
			ignore("stream message with an unknown event ignored", "event", clip(m.Event))
		}
	}
}

func (s *Session) queuePlay(pcm []int16, log *slog.Logger) {
	if len(pcm) == 0 {
		return
	}
	if n := s.play.add(pcm); n > 0 {
		log.Warn("playAudio beyond the playout limit dropped", "dropped_ms", n/8, "limit", MaxPlayout)
	}
}

// writer sends the queued messages in order, control messages first, and fills the media
// of a track nobody pushes with silence so that frames flow without a gap.
//
// It wakes only when there is something to send: a push or a control message (k.wake), or
// the moment a track's gap fill is due (one timer, re-armed when the writer goes idle). A
// ticker would wake every writer every 20 ms on top of its pushes, which at hundreds of
// streams costs the server more than the messages do.
func (s *Session) writer(k *socket, w *msgWriter) {
	enc := newFrameEncoder(s.cfg.Format, s.cfg.InboundByteOrder, len(s.tracks))
	chunks := make([]int, len(s.tracks))
	fill := time.NewTimer(gapFill)
	defer fill.Stop()
	var it outItem
	var sent uint64 // media messages written since the last update of s.sent
	for {
		now := time.Now()
		s.mu.Lock()
		s.sent += sent
		sent = 0
		due := now.Add(time.Hour) // the next gap fill
		if !k.closing {
			for t := range s.tracks {
				if now.Sub(k.lastPush[t]) > time.Second {
					k.lastPush[t] = now.Add(-gapFill) // a stalled process: do not replay the past
				}
				for now.Sub(k.lastPush[t]) >= gapFill && !k.closing {
					s.enqueueMediaLocked(k, t, k.lastPush[t].Add(media.FrameDuration), nil)
				}
				due = minTime(due, k.lastPush[t].Add(gapFill))
			}
		}
		have := true
		switch {
		case len(s.ctrl) > 0:
			it = s.ctrl[0]
			s.ctrl = s.ctrl[1:]
		case s.mqHead < len(s.mq):
			it = s.mq[s.mqHead]
			s.mqHead++
		default:
			have = false
		}
		draining := k.draining
		s.mu.Unlock()
		if !have {
			if draining {
				close(k.drained)
				return
			}
			fill.Reset(due.Sub(now))
			select {
			case <-k.wake:
			case <-fill.C:
			case <-k.quit:
				return
			}
			continue
		}
		select {
		case <-k.quit:
			return
		default:
		}
		var msg []byte
		switch it.kind {
		case itemMedia:
			chunks[it.track]++
			msg = w.media(s.tracks[it.track], it.ts, chunks[it.track], enc.encode(it.track, it.pcm[:]))
		case itemPlayed:
			msg = w.played(it.name)
		case itemCleared:
			msg = w.cleared()
		case itemDTMF:
			msg = w.dtmf(it.digit, it.ts)
		}
		// context.Background: with a cancellable context coder/websocket arms a watcher
		// (context.AfterFunc) around every write. A write stuck on a slow app is cut by
		// closing the connection instead (serve).
		if err := k.conn.Write(context.Background(), websocket.MessageText, msg); err != nil {
			if !k.cut.Load() {
				s.log.Warn("stream write failed", "stream_id", k.id, "err", err)
			}
			k.finish(EndDropped)
			s.mu.Lock()
			s.sent += sent
			s.mu.Unlock()
			return
		}
		if it.kind == itemMedia {
			sent++
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// frameEncoder turns 8 kHz frames into the inbound wire format, one resampler per track
// for L16 at 16 or 24 kHz.
type frameEncoder struct {
	f     Format
	order ByteOrder
	rs    []*media.Resampler
	acc   [][]int16 // per track: resampled samples not yet sent
	out   []byte
}

func newFrameEncoder(f Format, order ByteOrder, ntracks int) *frameEncoder {
	e := &frameEncoder{f: f, order: order}
	if f.Encoding == EncodingL16 && f.SampleRate != media.SampleRate {
		need := f.SampleRate / 50
		// The filter delays its output; start each track with the silence that makes every
		// 20 ms frame exactly one frame at the wire rate.
		first := len(media.NewResampler(media.SampleRate, f.SampleRate).Write(nil, make([]int16, media.FrameSamples)))
		for range ntracks {
			e.rs = append(e.rs, media.NewResampler(media.SampleRate, f.SampleRate))
			e.acc = append(e.acc, make([]int16, need-first, 2*need))
		}
	}
	return e
}

// encode returns the payload of one frame of track; valid until the next call.
func (e *frameEncoder) encode(track int, pcm []int16) []byte {
	switch {
	case e.f.Encoding == EncodingMulaw:
		e.out = appendMulaw(e.out[:0], pcm)
	case e.rs == nil:
		e.out = appendL16(e.out[:0], pcm, e.order)
	default:
		need := e.f.SampleRate / 50
		acc := e.rs[track].Write(e.acc[track], pcm)
		for len(acc) < need {
			acc = append(acc, 0)
		}
		e.out = appendL16(e.out[:0], acc[:need], e.order)
		e.acc[track] = append(acc[:0], acc[need:]...)
	}
	return e.out
}

// redact drops the query of a URL for logs: apps carry secrets there (§1.1).
func redact(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}
