//go:build load

package load

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// The load agent: a WebSocket server for hundreds of Parley audio streams at once. It is lean
// on purpose, because it shares the 2 cores with the server and the callers: one goroutine per
// socket reads; a media message is not unmarshalled (its payload is found by a byte search, only
// the first 15 bytes of audio are decoded to read the mark); the echo goes back in 40 ms
// playAudio chunks, as Pipecat's serializer sends them, which halves the agent's writes (a
// write per message is its main cost, and the server's read too); only the few control
// messages go through encoding/json. The
// shared test agent (kit.Agent, a Pipecat-like bot for the e2e tests) parses every message,
// checks it and keeps it with its decoded audio, which is what a behaviour test wants and too
// much for 300 streams × 50 frames per second beside the server on this machine.

// agentPlan is when the agent measures and probes; it is set once by the test (open).
type agentPlan struct {
	From, To time.Time     // the measured window
	Period   time.Duration // each stream runs one probe per period, spread over the streams
	Streams  int
}

// streamAgent serves /ws/{caller} (the caller's index) for the stream benchmark.
type streamAgent struct {
	srv     *httptest.Server
	callers []*streamCaller // by index: their send times, for the latency of each frame

	measuring atomic.Bool
	started   atomic.Int64 // `start` messages received
	closed    atomic.Int64 // sockets ended

	planSet chan struct{} // closed by open
	plan    agentPlan

	mu    sync.Mutex
	conns []*agentConn // every socket, in connection order
}

// agentConn is one socket.
type agentConn struct {
	a        *streamAgent
	idx      int
	ws       *websocket.Conn
	streamID string
	echo     atomic.Bool
	events   chan agentEvent // playedStream and clearedAudio, for the probe goroutine

	mu sync.Mutex
	st connStats
}

// agentEvent is a control message from Parley and when it arrived.
type agentEvent struct {
	Event, Name string
	At          time.Time
}

// connStats is what one socket measured while the window was open.
type connStats struct {
	Media       [2]int64         // media messages per track (0 inbound, 1 outbound)
	Last        [2]time.Time     // arrival of the previous media message of the track
	MaxGap      [2]time.Duration // longest time between two media messages of the track
	Gaps60      int              // intervals over 60 ms, both tracks
	GapsAt      []span           // the first 20 of those intervals
	Silent      int64            // media frames of digital silence (Parley filled a gap of the caller)
	Foreign     int64            // frames marked by another caller
	Unknown     int64            // frames neither silence nor marked
	Lat         []int32          // µs from the caller's send of a frame to its media message here
	Echoed      int64            // playAudio echoes sent
	WriteErrors int64
	WriteMax    time.Duration // the longest echo write, window or not: a write that blocks means Parley stopped reading
	Probes      []probeResult
}

// probeResult is one probe of a stream: a checkpoint after a known piece of audio, then a long
// piece of audio cut by clearAudio.
type probeResult struct {
	N                     int
	PlayedSent, PlayedAt  time.Time // checkpoint sent; playedStream arrived (zero: never)
	ClearSent, ClearedAt  time.Time // clearAudio sent; clearedAudio arrived (zero: never)
	PlayedFrames, Cleared int       // frames of each piece of audio
}

// Probe shape: a checkpoint after 500 ms of audio; then 2 s of audio, cut after 300 ms.
const (
	probePlayedFrames = 25
	probeClearFrames  = 100
	probeClearAfter   = 300 * time.Millisecond
	probeWait         = 5 * time.Second // for playedStream / clearedAudio
	gapLimit          = 60 * time.Millisecond
	echoFrames        = 2 // frames per echoed playAudio: 40 ms, Pipecat's chunk
)

func newStreamAgent(t *testing.T, callers []*streamCaller) *streamAgent {
	t.Helper()
	a := &streamAgent{callers: callers, planSet: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/{caller}", a.serve)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// URL is the WebSocket URL of caller idx.
func (a *streamAgent) URL(idx int) string {
	return "ws" + a.srv.URL[len("http"):] + "/ws/" + strconv.Itoa(idx)
}

// open sets the plan and starts measuring and probing.
func (a *streamAgent) open(p agentPlan) {
	a.plan = p
	a.measuring.Store(true)
	close(a.planSet)
}

// stop ends the measured window (probes in flight finish; nothing more is counted).
func (a *streamAgent) stop() { a.measuring.Store(false) }

// snapshot returns every socket's stats, by caller index.
func (a *streamAgent) snapshot() map[int][]connStats {
	a.mu.Lock()
	conns := append([]*agentConn(nil), a.conns...)
	a.mu.Unlock()
	out := map[int][]connStats{}
	for _, c := range conns {
		c.mu.Lock()
		st := c.st
		st.Lat = append([]int32(nil), c.st.Lat...)
		st.Probes = append([]probeResult(nil), c.st.Probes...)
		c.mu.Unlock()
		out[c.idx] = append(out[c.idx], st)
	}
	return out
}

func (a *streamAgent) serve(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.Atoi(r.PathValue("caller"))
	if err != nil || idx < 0 || idx >= len(a.callers) {
		http.NotFound(w, r)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer a.closed.Add(1)
	ws.SetReadLimit(1 << 20)
	c := &agentConn{a: a, idx: idx, ws: ws, events: make(chan agentEvent, 16)}
	c.echo.Store(true)
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go c.probe(ctx)
	c.read()
	ws.CloseNow()
}

var (
	evMedia   = []byte(`"event":"media"`)
	keyTrack  = []byte(`"track":"`)
	keyPay    = []byte(`"payload":"`)
	echoHead  = []byte(`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"`)
	echoTail  = []byte(`"}}`)
	b64Mark   = base64.StdEncoding.EncodedLen(markLen) // markLen is a multiple of 3
	outbound  = []byte("outbound")
	quoteByte = []byte{'"'}
)

// read is the socket's reader until it ends.
func (c *agentConn) read() {
	a := c.a
	echo := make([]byte, 0, 1024)
	frame := make([]byte, base64.StdEncoding.DecodedLen(1024))
	pending := make([]byte, 0, echoFrames*media.FrameSamples)
	var mark [markLen]byte
	var buf bytes.Buffer // reused: Conn.Read would allocate every message, 15,000 a second
	for {
		// context.Background: with a cancellable context coder/websocket arms a watcher
		// (context.AfterFunc) around every read and write, 9% of this process's CPU at 300
		// streams. The socket ends when Parley closes it, which ends the reads.
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		msg := buf.Bytes()
		now := time.Now()
		if !bytes.Contains(msg, evMedia) {
			c.control(msg, now)
			continue
		}
		track := 0
		if i := bytes.Index(msg, keyTrack); i >= 0 && bytes.HasPrefix(msg[i+len(keyTrack):], outbound) {
			track = 1
		}
		var payload []byte
		if i := bytes.Index(msg, keyPay); i >= 0 {
			payload = msg[i+len(keyPay):]
			if j := bytes.Index(payload, quoteByte); j >= 0 {
				payload = payload[:j]
			}
		}
		if a.measuring.Load() {
			c.mu.Lock()
			c.measure(track, payload, now, mark[:])
			c.mu.Unlock()
		}
		if track != 0 {
			continue
		}
		if !c.echo.Load() {
			pending = pending[:0]
			continue
		}
		if base64.StdEncoding.DecodedLen(len(payload)) > len(frame) {
			continue
		}
		n, err := base64.StdEncoding.Decode(frame, payload)
		if err != nil || n != media.FrameSamples {
			continue
		}
		if pending = append(pending, frame[:n]...); len(pending) >= echoFrames*media.FrameSamples {
			echo = base64.StdEncoding.AppendEncode(append(echo[:0], echoHead...), pending)
			echo = append(echo, echoTail...)
			pending = pending[:0]
			// No deadline, for the same reason; the socket's end unblocks a stuck write.
			w0 := time.Now()
			err := c.ws.Write(context.Background(), websocket.MessageText, echo)
			took := time.Since(w0)
			c.mu.Lock()
			c.st.WriteMax = max(c.st.WriteMax, took)
			if err != nil {
				c.st.WriteErrors++
			} else if a.measuring.Load() {
				c.st.Echoed++
			}
			c.mu.Unlock()
		}
	}
}

// measure counts one media message; c.mu is held.
func (c *agentConn) measure(track int, payload []byte, now time.Time, mark []byte) {
	st := &c.st
	if !st.Last[track].IsZero() {
		gap := now.Sub(st.Last[track])
		st.MaxGap[track] = max(st.MaxGap[track], gap)
		if gap > gapLimit {
			st.Gaps60++
			if len(st.GapsAt) < 20 {
				st.GapsAt = append(st.GapsAt, span{st.Last[track], now})
			}
		}
	}
	st.Last[track] = now
	st.Media[track]++
	if len(payload) < b64Mark {
		st.Unknown++
		return
	}
	if n, err := base64.StdEncoding.Decode(mark, payload[:b64Mark]); err != nil || n != markLen {
		st.Unknown++
		return
	}
	m, ok := readMark(mark)
	switch {
	case !ok && isSilence(mark):
		st.Silent++
	case !ok || m.Kind != kindCaller:
		st.Unknown++
	case m.Caller != c.idx:
		st.Foreign++
	default:
		if sent := c.a.callers[c.idx].sentAt(m.Value); sent > 0 {
			st.Lat = append(st.Lat, int32(min((now.UnixNano()-sent)/1000, 1<<31-1)))
		}
	}
}

// control handles a message other than media.
func (c *agentConn) control(msg []byte, now time.Time) {
	var m struct {
		Event    string `json:"event"`
		Name     string `json:"name"`
		StreamID string `json:"streamId"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return
	}
	switch m.Event {
	case "start":
		c.streamID = m.StreamID
		c.a.started.Add(1)
	case "playedStream", "clearedAudio":
		select {
		case c.events <- agentEvent{Event: m.Event, Name: m.Name, At: now}:
		default: // the probe is not waiting: a late or duplicate acknowledgement
		}
	}
}

// probe runs this socket's probes while the window is open: one per plan period, each stream
// at its own phase so that the probes of all streams spread evenly.
func (c *agentConn) probe(ctx context.Context) {
	select {
	case <-c.a.planSet:
	case <-ctx.Done():
		return
	}
	p := c.a.plan
	phase := p.Period * time.Duration(c.idx%max(p.Streams, 1)) / time.Duration(max(p.Streams, 1))
	longest := probePlayedFrames*media.FrameDuration + probeClearAfter + 2*time.Second // a probe's usual length, with room
	for n, at := 0, p.From.Add(phase); at.Add(longest).Before(p.To); n, at = n+1, at.Add(p.Period) {
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			return
		}
		r, err := c.probeOnce(ctx, n)
		c.mu.Lock()
		c.st.Probes = append(c.st.Probes, r)
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// probeOnce pauses the echo, plays probe n's checkpoint audio and waits for playedStream, then
// plays its long audio, cuts it with clearAudio and waits for clearedAudio.
func (c *agentConn) probeOnce(ctx context.Context, n int) (probeResult, error) {
	r := probeResult{N: n, PlayedFrames: probePlayedFrames, Cleared: probeClearFrames}
	c.echo.Store(false)
	defer c.echo.Store(true)
	drain(c.events)
	name := fmt.Sprintf("probe-%d", n)
	if err := c.send(ctx, playAudioMsg(kindPlayed, c.idx, n, probePlayedFrames)); err != nil {
		return r, err
	}
	r.PlayedSent = time.Now()
	if err := c.send(ctx, []byte(`{"event":"checkpoint","name":"`+name+`"}`)); err != nil {
		return r, err
	}
	r.PlayedAt = c.await(ctx, "playedStream", name)
	if err := c.send(ctx, playAudioMsg(kindClear, c.idx, n, probeClearFrames)); err != nil {
		return r, err
	}
	select {
	case <-time.After(probeClearAfter):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.ClearSent = time.Now()
	if err := c.send(ctx, []byte(`{"event":"clearAudio"}`)); err != nil {
		return r, err
	}
	r.ClearedAt = c.await(ctx, "clearedAudio", "")
	return r, nil
}

func (c *agentConn) send(ctx context.Context, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, msg)
}

// await waits for event (with name, for playedStream) and returns when it arrived; zero when
// it did not within probeWait.
func (c *agentConn) await(ctx context.Context, event, name string) time.Time {
	deadline := time.After(probeWait)
	for {
		select {
		case ev := <-c.events:
			if ev.Event == event && ev.Name == name {
				return ev.At
			}
		case <-deadline:
			return time.Time{}
		case <-ctx.Done():
			return time.Time{}
		}
	}
}

func drain(ch chan agentEvent) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// playAudioMsg is a playAudio of frames marked frames of probe n of caller idx.
func playAudioMsg(kind byte, idx, n, frames int) []byte {
	audio := make([]byte, frames*media.FrameSamples)
	for i := range frames {
		markedFrame(audio[i*media.FrameSamples:(i+1)*media.FrameSamples], frameMark{Kind: kind, Caller: idx, Value: probeValue(n, i)})
	}
	msg := append([]byte(nil), echoHead...)
	msg = base64.StdEncoding.AppendEncode(msg, audio)
	return append(msg, echoTail...)
}
