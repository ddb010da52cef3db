package kit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// The audio encodings of the stream protocol (start.mediaFormat.encoding, playAudio
// media.contentType).
const (
	EncodingMulaw = "audio/x-mulaw"
	EncodingL16   = "audio/x-l16"
)

// AgentProfile is how a test agent behaves on the wire: the formats it expects and sends and
// the way it sends audio, modelled on a real client.
type AgentProfile struct {
	Name string
	// ContentType is what the bot's document (or REST start) asks for as the inbound format.
	ContentType string
	// InboundBigEndian says how L16 media from Parley is decoded (μ-law ignores it).
	InboundBigEndian bool
	// PlayEncoding, PlayRate and PlayBigEndian are the playAudio format.
	PlayEncoding  string
	PlayRate      int
	PlayBigEndian bool
	// PlayChunk is the audio in one playAudio message; PlayPace how many times faster than
	// real time chunks are sent (0 or less: all at once).
	PlayChunk time.Duration
	PlayPace  float64
	// EndWithStop makes End send {"event":"stop"} and wait for Parley's close; otherwise End
	// closes the socket with 1000.
	EndWithStop bool
}

// PipecatSerializer behaves like the VobizFrameSerializer inside Pipecat: μ-law at 8 kHz both
// ways, playAudio in 40 ms chunks (audio_out_10ms_chunks = 4) at about twice real time,
// clearAudio on barge-in, a close with 1000 when the pipeline ends.
var PipecatSerializer = AgentProfile{
	Name: "PipecatSerializer", ContentType: "audio/x-mulaw;rate=8000",
	PlayEncoding: EncodingMulaw, PlayRate: 8000,
	PlayChunk: 40 * time.Millisecond, PlayPace: 2,
}

// VobizPipecat behaves like Vobiz's pipecat-vobiz package with L16: 16 kHz in, 24 kHz out,
// big-endian both ways, 20 ms chunks at about twice real time, `stop` then the close at the end.
var VobizPipecat = AgentProfile{
	Name: "VobizPipecat", ContentType: "audio/x-l16;rate=16000", InboundBigEndian: true,
	PlayEncoding: EncodingL16, PlayRate: 24000, PlayBigEndian: true,
	PlayChunk: 20 * time.Millisecond, PlayPace: 2, EndWithStop: true,
}

// Agent is a WebSocket server playing the customer's bot for Parley's media streams (the
// contract's §2-§4): every upgrade it accepts becomes an AgentConn that records what Parley
// sends and lets the test answer. It listens on 127.0.0.1 until the test ends.
type Agent struct {
	Profile AgentProfile
	t       testing.TB
	srv     *httptest.Server
	opts    agentOptions

	mu       sync.Mutex
	requests []AgentRequest
	conns    []*AgentConn
	refuse   int // status to refuse upgrades with, 0 = accept
	newConn  chan struct{}
}

// AgentRequest is one upgrade request the Agent received.
type AgentRequest struct {
	At      time.Time
	Path    string // with the query, as requested
	Header  http.Header
	Refused bool
}

type agentOptions struct {
	refuse     int
	slowAfter  time.Duration // < 0: read normally
	smallRcv   bool
	onConnect  func(*AgentConn)
	noStreamID bool
	summary    bool
	onMedia    func(*AgentConn, MediaFrame)
}

// AgentOption configures NewAgent.
type AgentOption func(*agentOptions)

// RefuseUpgrade makes the Agent answer every upgrade with status (e.g. 503) until SetRefuse
// says otherwise.
func RefuseUpgrade(status int) AgentOption { return func(o *agentOptions) { o.refuse = status } }

// SlowReader makes every connection stop reading after it has read for d (0: right after the
// start message), and shrinks the socket's receive buffer so that Parley's backlog grows
// within seconds, not minutes.
func SlowReader(d time.Duration) AgentOption {
	return func(o *agentOptions) { o.slowAfter, o.smallRcv = d, true }
}

// OnConnect runs f in its own goroutine for each accepted connection, right after the upgrade.
func OnConnect(f func(c *AgentConn)) AgentOption { return func(o *agentOptions) { o.onConnect = f } }

// MediaSummaryOnly makes connections keep no media messages or audio, only each track's
// TrackStats and the continuity checks: for load, where hundreds of streams run for minutes.
func MediaSummaryOnly() AgentOption { return func(o *agentOptions) { o.summary = true } }

// OnMedia runs f for every media frame (with its 8 kHz PCM), on the connection's read
// goroutine: f must return quickly.
func OnMedia(f func(c *AgentConn, f MediaFrame)) AgentOption {
	return func(o *agentOptions) { o.onMedia = f }
}

// WithoutStreamID makes the agent's messages leave streamId out, as some Plivo-style bots do.
func WithoutStreamID() AgentOption { return func(o *agentOptions) { o.noStreamID = true } }

type connKey struct{}

// NewAgent starts an Agent with profile p on 127.0.0.1.
func NewAgent(t testing.TB, p AgentProfile, opts ...AgentOption) *Agent {
	t.Helper()
	a := &Agent{Profile: p, t: t, opts: agentOptions{slowAfter: -1}, newConn: make(chan struct{}, 1)}
	for _, o := range opts {
		o(&a.opts)
	}
	a.refuse = a.opts.refuse
	lc := net.ListenConfig{}
	if a.opts.smallRcv {
		// Accepted sockets inherit the listener's buffer size, and the window scale is
		// negotiated from it: set it before listening.
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	_ = a.srv.Listener.Close()
	a.srv.Listener = ln
	a.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	a.srv.Start()
	t.Cleanup(func() {
		for _, c := range a.Conns() {
			c.Drop()
		}
		a.srv.Close()
	})
	return a
}

// URL is the ws:// URL of path (query allowed) on the Agent.
func (a *Agent) URL(path string) string { return "ws" + strings.TrimPrefix(a.srv.URL, "http") + path }

// SetRefuse makes later upgrades fail with status (0: accept them).
func (a *Agent) SetRefuse(status int) {
	a.mu.Lock()
	a.refuse = status
	a.mu.Unlock()
}

// Requests returns every upgrade request so far, refused ones included.
func (a *Agent) Requests() []AgentRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AgentRequest(nil), a.requests...)
}

// Conns returns the accepted connections so far, oldest first.
func (a *Agent) Conns() []*AgentConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*AgentConn(nil), a.conns...)
}

// WaitConn waits until the Agent has accepted n connections and returns the nth (1-based).
func (a *Agent) WaitConn(t testing.TB, n int, timeout time.Duration) *AgentConn {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if cs := a.Conns(); len(cs) >= n {
			return cs[n-1]
		}
		select {
		case <-a.newConn:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("agent: %d connections within %v, want %d (%d upgrade requests)", len(a.Conns()), timeout, n, len(a.Requests()))
		}
	}
}

// WaitRequests waits until the Agent has received n upgrade requests (refused ones included).
func (a *Agent) WaitRequests(t testing.TB, n int, timeout time.Duration) []AgentRequest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if rs := a.Requests(); len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent: %d upgrade requests within %v, want %d", len(a.Requests()), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	refuse := a.refuse
	a.requests = append(a.requests, AgentRequest{At: time.Now(), Path: r.URL.RequestURI(), Header: r.Header.Clone(), Refused: refuse != 0})
	a.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "agent refuses", refuse)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		a.t.Logf("agent: upgrade failed: %v", err)
		return
	}
	ws.SetReadLimit(1 << 20)
	raw, _ := r.Context().Value(connKey{}).(net.Conn)
	c := &AgentConn{Profile: a.Profile, ws: ws, raw: raw, Header: r.Header.Clone(), Path: r.URL.RequestURI(),
		noStreamID: a.opts.noStreamID, summary: a.opts.summary, onMedia: a.opts.onMedia, closed: make(chan struct{}), started: make(chan struct{}),
		stall: make(chan struct{}), dropped: make(chan struct{}),
		changed: make(chan struct{}), resamplers: map[string]*media.Resampler{}, stats: map[string]*trackState{}}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
	select {
	case a.newConn <- struct{}{}:
	default:
	}
	if a.opts.onConnect != nil {
		go a.opts.onConnect(c)
	}
	c.readLoop(a.opts.slowAfter)
}

// AgentConn is one accepted WebSocket: what Parley sent on it and the test's side of it.
type AgentConn struct {
	Profile AgentProfile
	Header  http.Header // of the upgrade request
	Path    string      // with the query

	ws         *websocket.Conn
	raw        net.Conn
	noStreamID bool
	summary    bool
	onMedia    func(*AgentConn, MediaFrame)
	closed     chan struct{}
	started    chan struct{}
	stopRead   sync.Once
	stall      chan struct{} // closed by StopReading
	dropOnce   sync.Once
	dropped    chan struct{} // closed by Drop

	mu         sync.Mutex
	msgs       []Message
	media      map[string][]MediaFrame
	resamplers map[string]*media.Resampler
	start      *StartInfo
	problems   []string
	received   int    // messages parsed
	seqErr     string // the first sequenceNumber out of order
	stats      map[string]*trackState
	closeCode  websocket.StatusCode
	closeErr   error
	changed    chan struct{} // closed and replaced on every new message
}

// Message is one message Parley sent, parsed leniently; Raw keeps the original text.
type Message struct {
	At             time.Time
	Raw            []byte
	Event          string
	SequenceNumber int
	StreamID       string // top level
	Name           string // playedStream
	ExtraHeaders   string
	Start          *StartInfo
	Media          *MediaFrame
	DTMF           *DTMFInfo
}

// StartInfo is the `start` object.
type StartInfo struct {
	CallID      string   `json:"callId"`
	StreamID    string   `json:"streamId"`
	AccountID   string   `json:"accountId"`
	Tracks      []string `json:"tracks"`
	MediaFormat struct {
		Encoding   string `json:"encoding"`
		SampleRate int    `json:"sampleRate"`
	} `json:"mediaFormat"`
}

// MediaFrame is one `media` message: the payload as sent and decoded to 8 kHz PCM.
type MediaFrame struct {
	At             time.Time
	SequenceNumber int
	Track          string
	Timestamp      string
	Chunk          int
	Payload        []byte
	PCM            []int16 // 8 kHz (the resampler's output for this frame, so ±1 sample)
}

// DTMFInfo is the `dtmf` object.
type DTMFInfo struct {
	Track     string `json:"track"`
	Digit     string `json:"digit"`
	Timestamp string `json:"timestamp"`
}

type wireMessage struct {
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	StreamID       string          `json:"streamId"`
	Name           string          `json:"name"`
	ExtraHeaders   string          `json:"extra_headers"`
	Start          *StartInfo      `json:"start"`
	Media          *struct {
		Track     string          `json:"track"`
		Timestamp json.RawMessage `json:"timestamp"`
		Chunk     int             `json:"chunk"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	DTMF *DTMFInfo `json:"dtmf"`
}

// ParseMessage parses one message from Parley. Deviations from the contract's shapes that do
// not stop the parse (a number where a string belongs, a missing sequenceNumber) are returned
// as problems.
func ParseMessage(data []byte) (m Message, problems []string, err error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return m, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if w.Event == "" {
		return m, nil, errors.New(`no "event"`)
	}
	m = Message{Raw: append([]byte(nil), data...), Event: w.Event, StreamID: w.StreamID, Name: w.Name,
		ExtraHeaders: w.ExtraHeaders, Start: w.Start, DTMF: w.DTMF, SequenceNumber: -1}
	if n, err := strconv.Atoi(string(w.SequenceNumber)); err == nil {
		m.SequenceNumber = n
	} else {
		problems = append(problems, fmt.Sprintf("%s: sequenceNumber %s is not an int", w.Event, w.SequenceNumber))
	}
	switch w.Event {
	case "start":
		if w.Start == nil {
			return m, problems, errors.New(`start without "start"`)
		}
	case "media":
		if w.Media == nil {
			return m, problems, errors.New(`media without "media"`)
		}
		var ts string
		if json.Unmarshal(w.Media.Timestamp, &ts) != nil {
			problems = append(problems, fmt.Sprintf("media.timestamp %s is not a string", w.Media.Timestamp))
			ts = string(w.Media.Timestamp)
		}
		p, err := base64.StdEncoding.DecodeString(w.Media.Payload)
		if err != nil {
			return m, problems, fmt.Errorf("media.payload: %w", err)
		}
		m.Media = &MediaFrame{SequenceNumber: m.SequenceNumber, Track: w.Media.Track, Timestamp: ts, Chunk: w.Media.Chunk, Payload: p}
	case "dtmf":
		if w.DTMF == nil {
			return m, problems, errors.New(`dtmf without "dtmf"`)
		}
	}
	return m, problems, nil
}

// DecodeAudio turns a payload of encoding (at any rate) into samples: μ-law bytes, or L16 in
// the given byte order.
func DecodeAudio(payload []byte, encoding string, bigEndian bool) []int16 {
	if encoding == EncodingMulaw {
		out := make([]int16, len(payload))
		media.PCMU.Decode(out, payload)
		return out
	}
	out := make([]int16, len(payload)/2)
	for i := range out {
		if bigEndian {
			out[i] = int16(binary.BigEndian.Uint16(payload[2*i:]))
		} else {
			out[i] = int16(binary.LittleEndian.Uint16(payload[2*i:]))
		}
	}
	return out
}

// EncodeAudio is DecodeAudio's inverse.
func EncodeAudio(pcm []int16, encoding string, bigEndian bool) []byte {
	if encoding == EncodingMulaw {
		out := make([]byte, len(pcm))
		media.PCMU.Encode(out, pcm)
		return out
	}
	out := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		if bigEndian {
			binary.BigEndian.PutUint16(out[2*i:], uint16(s))
		} else {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
		}
	}
	return out
}

func (c *AgentConn) readLoop(slowAfter time.Duration) {
	defer close(c.closed)
	var stallAt <-chan time.Time
	for {
		select {
		case <-stallAt:
			c.StopReading()
			stallAt = nil
		default:
		}
		select {
		case <-c.stall:
			// A slow reader reads no more; Parley's messages pile up. Drop ends the wait,
			// and the read after it fails at once.
			<-c.dropped
		default:
		}
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.closeCode, c.closeErr = websocket.CloseStatus(err), err
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		c.record(typ, data, time.Now())
		if slowAfter >= 0 && stallAt == nil && c.Start() != nil {
			stallAt = time.After(slowAfter)
			slowAfter = -1
		}
	}
}

// StopReading makes the connection stop reading from the socket (a slow reader): Parley's
// messages pile up in the socket buffers and then in Parley. A stalled connection notices
// Parley's close only when the test drops it (Drop, or the test's end).
func (c *AgentConn) StopReading() { c.stopRead.Do(func() { close(c.stall) }) }

func (c *AgentConn) record(typ websocket.MessageType, data []byte, at time.Time) {
	m, problems, err := ParseMessage(data)
	c.mu.Lock()
	if typ != websocket.MessageText {
		c.problems = append(c.problems, "binary frame from Parley")
	}
	if err != nil {
		c.problems = append(c.problems, fmt.Sprintf("message %d: %v: %.200s", c.received, err, data))
		c.notifyLocked()
		c.mu.Unlock()
		return
	}
	c.problems = append(c.problems, problems...)
	m.At = at
	if c.received == 0 && m.Event != "start" {
		c.problems = append(c.problems, "first message is "+m.Event+", not start")
	}
	if m.SequenceNumber != c.received && c.seqErr == "" {
		c.seqErr = fmt.Sprintf("message %d (%s) has sequenceNumber %d", c.received, m.Event, m.SequenceNumber)
	}
	c.received++
	var hook *MediaFrame
	switch {
	case m.Event == "start" && c.start == nil:
		c.start = m.Start
		close(c.started)
	case m.Event == "media" && c.start != nil:
		f := m.Media
		f.At = at
		c.trackLocked(f.Track).add(f)
		if !c.summary || c.onMedia != nil {
			f.PCM = c.decodeLocked(f.Track, f.Payload)
		}
		if c.onMedia != nil {
			hook = f
		}
		if c.summary {
			break
		}
		if c.media == nil {
			c.media = map[string][]MediaFrame{}
		}
		c.media[f.Track] = append(c.media[f.Track], *f)
	}
	if !c.summary || m.Event != "media" {
		c.msgs = append(c.msgs, m)
	}
	c.notifyLocked()
	c.mu.Unlock()
	if hook != nil {
		c.onMedia(c, *hook)
	}
}

// TrackStats sums up one track's media as it arrived.
type TrackStats struct {
	Frames      int
	First, Last time.Time     // arrival of the first and last frame
	LongestGap  time.Duration // longest time between two consecutive frames
}

// trackState is a track's TrackStats and its continuity check, kept as frames arrive.
type trackState struct {
	TrackStats
	lastTS int64
	err    string // the first gap in chunks or timestamps
}

func (c *AgentConn) trackLocked(track string) *trackState {
	st := c.stats[track]
	if st == nil {
		st = &trackState{}
		c.stats[track] = st
	}
	return st
}

func (st *trackState) add(f *MediaFrame) {
	if st.Frames == 0 {
		st.First = f.At
	} else {
		st.LongestGap = max(st.LongestGap, f.At.Sub(st.Last))
	}
	i := st.Frames
	st.Frames++
	st.Last = f.At
	if st.err != "" {
		return
	}
	ts, err := strconv.ParseInt(f.Timestamp, 10, 64)
	switch {
	case f.Chunk != i+1:
		st.err = fmt.Sprintf("frame %d has chunk %d, want %d", i, f.Chunk, i+1)
	case err != nil:
		st.err = fmt.Sprintf("frame %d: timestamp %q: %v", i, f.Timestamp, err)
	case ts < st.lastTS:
		st.err = fmt.Sprintf("frame %d: timestamp %d before %d", i, ts, st.lastTS)
	}
	st.lastTS = ts
}

// Stats returns track's TrackStats so far.
func (c *AgentConn) Stats(track string) TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stats[track]; st != nil {
		return st.TrackStats
	}
	return TrackStats{}
}

// decodeLocked turns a media payload into 8 kHz PCM with the track's own resampler.
func (c *AgentConn) decodeLocked(track string, payload []byte) []int16 {
	mf := c.start.MediaFormat
	pcm := DecodeAudio(payload, mf.Encoding, c.Profile.InboundBigEndian)
	if mf.SampleRate == media.SampleRate || mf.SampleRate <= 0 {
		return pcm
	}
	r := c.resamplers[track]
	if r == nil {
		r = media.NewResampler(mf.SampleRate, media.SampleRate)
		c.resamplers[track] = r
	}
	return r.Write(nil, pcm)
}

func (c *AgentConn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Start returns the start message's object, nil before it arrived.
func (c *AgentConn) Start() *StartInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start
}

// WaitStart waits for the start message.
func (c *AgentConn) WaitStart(t testing.TB, timeout time.Duration) *StartInfo {
	t.Helper()
	select {
	case <-c.started:
		return c.Start()
	case <-time.After(timeout):
		t.Fatalf("agent: no start within %v", timeout)
	case <-c.closed:
		select {
		case <-c.started:
			return c.Start()
		default:
		}
		t.Fatalf("agent: socket closed before start (%v)", c.CloseErr())
	}
	return nil
}

// StreamID is the streamId of the connection's start, "" before it.
func (c *AgentConn) StreamID() string {
	if s := c.Start(); s != nil {
		return s.StreamID
	}
	return ""
}

// Messages returns every message received so far, in order (without media messages when
// MediaSummaryOnly).
func (c *AgentConn) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// Events returns the messages of event so far.
func (c *AgentConn) Events(event string) []Message {
	var out []Message
	for _, m := range c.Messages() {
		if m.Event == event {
			out = append(out, m)
		}
	}
	return out
}

// Media returns the media frames of track received so far.
func (c *AgentConn) Media(track string) []MediaFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]MediaFrame(nil), c.media[track]...)
}

// MediaPCM joins the 8 kHz PCM of track's frames that arrived in [from, to).
func (c *AgentConn) MediaPCM(track string, from, to time.Time) []int16 {
	var pcm []int16
	for _, f := range c.Media(track) {
		if !f.At.Before(from) && f.At.Before(to) {
			pcm = append(pcm, f.PCM...)
		}
	}
	return pcm
}

// Digits joins the digits of the dtmf messages so far.
func (c *AgentConn) Digits() string {
	var b strings.Builder
	for _, m := range c.Events("dtmf") {
		b.WriteString(m.DTMF.Digit)
	}
	return b.String()
}

// Problems lists what did not parse or broke the contract's shapes so far.
func (c *AgentConn) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...)
}

// WaitEvent waits for a message of event for which ok (nil: any) holds and returns it.
func (c *AgentConn) WaitEvent(t testing.TB, event string, timeout time.Duration, ok func(Message) bool) Message {
	t.Helper()
	m, found := c.AwaitEvent(event, timeout, ok)
	if !found {
		t.Fatalf("agent: no %s within %v (closed: %v)", event, timeout, c.CloseErr())
	}
	return m
}

// AwaitEvent is WaitEvent reporting instead of failing.
func (c *AgentConn) AwaitEvent(event string, timeout time.Duration, ok func(Message) bool) (Message, bool) {
	deadline := time.After(timeout)
	seen := 0
	for {
		c.mu.Lock()
		msgs, changed := c.msgs[seen:], c.changed
		for _, m := range msgs {
			if m.Event == event && (ok == nil || ok(m)) {
				c.mu.Unlock()
				return m, true
			}
		}
		seen += len(msgs)
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return Message{}, false
		}
	}
}

// WaitMedia waits until track has n frames.
func (c *AgentConn) WaitMedia(t testing.TB, track string, n int, timeout time.Duration) []MediaFrame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if fs := c.Media(track); len(fs) >= n {
			return fs
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent: %d %s media frames within %v, want %d", len(c.Media(track)), track, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Closed is closed once the socket is closed, by either side.
func (c *AgentConn) Closed() <-chan struct{} { return c.closed }

// WaitClosed waits for the socket to close and returns the close code Parley sent (-1 when
// none: the socket dropped).
func (c *AgentConn) WaitClosed(t testing.TB, timeout time.Duration) websocket.StatusCode {
	t.Helper()
	select {
	case <-c.closed:
		return c.CloseStatus()
	case <-time.After(timeout):
		t.Fatalf("agent: socket still open after %v", timeout)
	}
	return 0
}

// CloseStatus is the close code of the socket's close frame (-1 before the close or without
// one).
func (c *AgentConn) CloseStatus() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return -1
	}
	return c.closeCode
}

// CloseErr is the error that ended the read loop, nil while the socket is open.
func (c *AgentConn) CloseErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Send writes one text message.
func (c *AgentConn) Send(msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, msg)
}

// SendJSON marshals v and sends it.
func (c *AgentConn) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(b)
}

func (c *AgentConn) event(event string, fields map[string]any) error {
	m := map[string]any{"event": event}
	if !c.noStreamID && c.StreamID() != "" {
		m["streamId"] = c.StreamID()
	}
	for k, v := range fields {
		m[k] = v
	}
	return c.SendJSON(m)
}

// PlayFormat is the wire format and pacing of a Play; zero fields take the profile's.
type PlayFormat struct {
	Encoding  string
	Rate      int
	BigEndian *bool
	Chunk     time.Duration
	Pace      float64 // <0: all at once
}

// PlayAudioMessage is one playAudio message carrying payload.
func PlayAudioMessage(streamID, encoding string, rate int, payload []byte) map[string]any {
	m := map[string]any{"event": "playAudio", "media": map[string]any{
		"contentType": encoding, "sampleRate": rate, "payload": base64.StdEncoding.EncodeToString(payload)}}
	if streamID != "" {
		m["streamId"] = streamID
	}
	return m
}

// Play sends pcm (at rate Hz) as the profile's playAudio: resampled to the play rate, encoded,
// in chunks at the profile's pace. It returns when the last chunk is sent, with the time the
// first one was.
func (c *AgentConn) Play(pcm []int16, rate int) (first time.Time, err error) {
	return c.PlayWith(pcm, rate, PlayFormat{})
}

// PlayTone plays a tone of freq Hz at -10 dBFS lasting d, as Play.
func (c *AgentConn) PlayTone(freq float64, d time.Duration) (first time.Time, err error) {
	return c.Play(TonePCM(freq, c.Profile.PlayRate, d, -10), c.Profile.PlayRate)
}

// PlayWith is Play in format f.
func (c *AgentConn) PlayWith(pcm []int16, rate int, f PlayFormat) (first time.Time, err error) {
	p := c.Profile
	enc, prate, be, chunk, pace := p.PlayEncoding, p.PlayRate, p.PlayBigEndian, p.PlayChunk, p.PlayPace
	if f.Encoding != "" {
		enc = f.Encoding
	}
	if f.Rate > 0 {
		prate = f.Rate
	}
	if f.BigEndian != nil {
		be = *f.BigEndian
	}
	if f.Chunk > 0 {
		chunk = f.Chunk
	}
	if f.Pace != 0 {
		pace = f.Pace
	}
	if rate != prate {
		pcm = media.Resample(pcm, rate, prate)
	}
	per := max(1, int(chunk.Seconds()*float64(prate)))
	if chunk <= 0 {
		per = len(pcm)
	}
	sid := c.StreamID()
	if c.noStreamID {
		sid = ""
	}
	start := time.Now()
	for i := 0; i < len(pcm); i += per {
		part := pcm[i:min(i+per, len(pcm))]
		if pace > 0 && i > 0 {
			// Pipecat sleeps between chunks; keep to the schedule rather than drift.
			due := start.Add(time.Duration(float64(i) / float64(prate) / pace * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		if i == 0 {
			first = time.Now()
		}
		if err := c.SendJSON(PlayAudioMessage(sid, enc, prate, EncodeAudio(part, enc, be))); err != nil {
			return first, err
		}
	}
	return first, nil
}

// Checkpoint sends a checkpoint named name.
func (c *AgentConn) Checkpoint(name string) error {
	return c.event("checkpoint", map[string]any{"name": name})
}

// ClearAudio sends clearAudio (a barge-in).
func (c *AgentConn) ClearAudio() error { return c.event("clearAudio", nil) }

// StopStream sends the app's stop.
func (c *AgentConn) StopStream() error { return c.event("stop", nil) }

// SendDTMF sends sendDTMF with digits.
func (c *AgentConn) SendDTMF(digits string) error {
	return c.event("sendDTMF", map[string]any{"dtmf": digits})
}

// Close closes the socket with code and reason (the close handshake, up to 5 s).
func (c *AgentConn) Close(code websocket.StatusCode, reason string) error {
	return c.ws.Close(code, reason)
}

// Drop closes the TCP connection under the socket without a close frame (an abnormal drop).
func (c *AgentConn) Drop() {
	c.dropOnce.Do(func() { close(c.dropped) })
	if c.raw != nil {
		_ = c.raw.Close()
	}
	_ = c.ws.CloseNow()
}

// End ends the conversation as the profile's client does: `stop` and then waiting for
// Parley's close (pipecat-vobiz), or a close with 1000 (Pipecat).
func (c *AgentConn) End() error {
	if c.Profile.EndWithStop {
		if err := c.StopStream(); err != nil {
			return err
		}
		select {
		case <-c.closed:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("agent: Parley did not close the socket within 5 s of stop")
		}
	}
	return c.Close(websocket.StatusNormalClosure, "pipeline ended")
}

// CheckContinuity reports the first gaps in what the connection received: the sequence
// numbers of all messages must run 0, 1, 2… without a hole, each track's chunks 1, 2, 3…,
// and media timestamps (epoch ms, strings) must never go back. It returns nil when all is
// continuous.
func (c *AgentConn) CheckContinuity() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.seqErr != "" {
		errs = append(errs, errors.New(c.seqErr))
	}
	tracks := make([]string, 0, len(c.stats))
	for tr := range c.stats {
		tracks = append(tracks, tr)
	}
	sort.Strings(tracks)
	for _, tr := range tracks {
		if e := c.stats[tr].err; e != "" {
			errs = append(errs, fmt.Errorf("track %s: %s", tr, e))
		}
	}
	return errors.Join(errs...)
}

// Cadence measures frames' arrival: the mean interval and the longest gap between two
// consecutive frames.
func Cadence(fs []MediaFrame) (mean, longest time.Duration) {
	if len(fs) < 2 {
		return 0, 0
	}
	for i := 1; i < len(fs); i++ {
		longest = max(longest, fs[i].At.Sub(fs[i-1].At))
	}
	return fs[len(fs)-1].At.Sub(fs[0].At) / time.Duration(len(fs)-1), longest
}
