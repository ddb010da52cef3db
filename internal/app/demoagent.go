package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/tts"
)

// The demo agent is the app side of a Vobiz audio stream (spec/streams.md §3, §4), served by
// Parley itself so that a newcomer hears a stream work with one command: it greets the caller,
// plays back what the caller says one second later (a parrot), and answers a key press by
// saying the digit. It is written as a customer's agent would be, from the wire protocol alone.
const (
	// demoAgentDelayFrames is the parrot's delay in 20 ms media frames: one second.
	demoAgentDelayFrames = 50
	// demoAgentMaxSessions bounds the sockets the agent serves at once; the endpoint sits on
	// the REST port without authentication.
	demoAgentMaxSessions = 32
	// demoAgentMaxFrame is the largest media payload kept (a 20 ms L16 24 kHz frame is 960
	// bytes); larger ones are not parroted, so the delay line stays small.
	demoAgentMaxFrame = 2048
	// demoAgentReadLimit bounds one message from Parley.
	demoAgentReadLimit = 64 << 10
	// demoAgentWriteTimeout bounds one message to Parley.
	demoAgentWriteTimeout = 5 * time.Second
	// demoAgentSpeechGrace is how long past the end of its speech the agent waits for the
	// playedStream of that speech before it parrots again anyway.
	demoAgentSpeechGrace = 2 * time.Second
)

// demoAgentGreeting is what the agent says when the stream starts.
const demoAgentGreeting = "This is the Parley demo agent. Say something and I will repeat it one second later. Press a key and I will say it."

// demoAgent serves the demo agent's WebSocket.
type demoAgent struct {
	serverCtx context.Context // ends every session when the server closes
	synth     flow.Synthesizer
	log       *slog.Logger
	sessions  chan struct{} // one token per live session

	mu     sync.Mutex
	speech map[string][]byte // μ-law of each phrase said; the greeting and one per key, no more
}

func newDemoAgent(serverCtx context.Context, synth flow.Synthesizer, log *slog.Logger) *demoAgent {
	if serverCtx == nil {
		serverCtx = context.Background()
	}
	return &demoAgent{serverCtx: serverCtx, synth: synth, log: log,
		sessions: make(chan struct{}, demoAgentMaxSessions), speech: make(map[string][]byte)}
}

func (a *demoAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case a.sessions <- struct{}{}:
		defer func() { <-a.sessions }()
	default:
		http.Error(w, "the demo agent is busy", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		a.log.Debug("demo agent: upgrade refused", "err", err)
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(demoAgentReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.serverCtx, cancel)
	defer stop()

	sess := &demoAgentSession{agent: a, ws: ws, delay: newDelayLine(demoAgentDelayFrames)}
	err = sess.run(ctx)
	a.log.Info("demo agent: stream ended", "call_uuid", sess.callID, "stream_id", sess.streamID, "reason", websocketEnd(err))
}

// websocketEnd describes why a session's socket ended, for the log.
func websocketEnd(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return fmt.Sprintf("closed by Parley (%d)", code)
	}
	if errors.Is(err, context.Canceled) {
		return "server closing"
	}
	return err.Error()
}

// agentMessage is what the agent reads from Parley: start, media, dtmf, playedStream (the
// other events are ignored, as an agent should).
type agentMessage struct {
	Event    string `json:"event"`
	StreamID string `json:"streamId"`
	Start    struct {
		CallID      string `json:"callId"`
		StreamID    string `json:"streamId"`
		MediaFormat struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
	} `json:"start"`
	Media struct {
		Track   string `json:"track"`
		Payload []byte `json:"payload"` // base64 in JSON
	} `json:"media"`
	DTMF struct {
		Digit string `json:"digit"`
	} `json:"dtmf"`
	Name string `json:"name"`
}

// playAudio is the agent's audio message (§4.1).
type playAudio struct {
	Event    string    `json:"event"`
	StreamID string    `json:"streamId,omitempty"`
	Media    playMedia `json:"media"`
}

type playMedia struct {
	ContentType string `json:"contentType"`
	SampleRate  int    `json:"sampleRate"`
	Payload     []byte `json:"payload"` // base64 in JSON
}

// agentControl is a checkpoint or clearAudio (§4.2, §4.3).
type agentControl struct {
	Event    string `json:"event"`
	StreamID string `json:"streamId,omitempty"`
	Name     string `json:"name,omitempty"`
}

// demoAgentSession is one socket. Everything happens on the goroutine that reads it, in the
// order Parley sent it, so it needs no lock.
type demoAgentSession struct {
	agent    *demoAgent
	ws       *websocket.Conn
	callID   string
	streamID string
	// encoding and rate of the caller's audio, from start.mediaFormat; the parrot plays it
	// back unchanged, in the same format.
	encoding string
	rate     int
	delay    *delayLine
	// speaking is the checkpoint that ends the agent's current speech ("" when silent); the
	// parrot is quiet while the agent speaks. speakingUntil is when it gives up waiting.
	speaking      string
	speakingUntil time.Time
	spoken        int
}

func (s *demoAgentSession) run(ctx context.Context) error {
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			return err
		}
		var m agentMessage
		if err := json.Unmarshal(data, &m); err != nil {
			s.agent.log.Debug("demo agent: unreadable message ignored", "err", err)
			continue
		}
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
}

func (s *demoAgentSession) handle(ctx context.Context, m agentMessage) error {
	switch m.Event {
	case "start":
		s.callID, s.streamID = m.Start.CallID, m.Start.StreamID
		if s.streamID == "" {
			s.streamID = m.StreamID
		}
		s.encoding, s.rate = m.Start.MediaFormat.Encoding, m.Start.MediaFormat.SampleRate
		if s.encoding == "" {
			s.encoding, s.rate = "audio/x-l16", media.SampleRate // the Vobiz default (§1.4)
		}
		s.agent.log.Info("demo agent: stream started", "call_uuid", s.callID, "stream_id", s.streamID,
			"encoding", s.encoding, "sample_rate", s.rate)
		return s.say(ctx, demoAgentGreeting)
	case "media":
		if m.Media.Track != "" && m.Media.Track != "inbound" {
			return nil // only what the caller says is parroted
		}
		if len(m.Media.Payload) > demoAgentMaxFrame {
			return nil
		}
		heard := s.delay.push(m.Media.Payload)
		if heard == nil || s.talking() {
			return nil
		}
		return s.send(ctx, playAudio{Event: "playAudio", StreamID: s.streamID,
			Media: playMedia{ContentType: s.encoding, SampleRate: s.rate, Payload: heard}})
	case "dtmf":
		word, ok := spokenKey(m.DTMF.Digit)
		if !ok {
			return nil
		}
		// Barge in on whatever plays now: the parrot or an earlier answer.
		if err := s.send(ctx, agentControl{Event: "clearAudio", StreamID: s.streamID}); err != nil {
			return err
		}
		return s.say(ctx, "You pressed "+word+".")
	case "playedStream":
		if m.Name == s.speaking {
			s.agent.log.Debug("demo agent: speech played", "call_uuid", s.callID, "checkpoint", m.Name)
			s.speaking = ""
		}
	}
	return nil
}

// talking reports whether the agent's own speech is still playing.
func (s *demoAgentSession) talking() bool {
	if s.speaking != "" && time.Now().After(s.speakingUntil) {
		s.speaking = "" // its playedStream never came; do not stay quiet for ever
	}
	return s.speaking != ""
}

// say plays text to the caller, then a checkpoint whose playedStream lets the parrot talk
// again.
func (s *demoAgentSession) say(ctx context.Context, text string) error {
	ulaw, err := s.agent.speak(ctx, text)
	if err != nil {
		s.agent.log.Warn("demo agent: speech failed", "call_uuid", s.callID, "err", err)
		return nil
	}
	if err := s.send(ctx, playAudio{Event: "playAudio", StreamID: s.streamID,
		Media: playMedia{ContentType: "audio/x-mulaw", SampleRate: media.SampleRate, Payload: ulaw}}); err != nil {
		return err
	}
	s.spoken++
	s.speaking = fmt.Sprintf("speech-%d", s.spoken)
	s.speakingUntil = time.Now().Add(time.Duration(len(ulaw))*time.Second/media.SampleRate + demoAgentSpeechGrace)
	return s.send(ctx, agentControl{Event: "checkpoint", StreamID: s.streamID, Name: s.speaking})
}

func (s *demoAgentSession) send(ctx context.Context, msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, demoAgentWriteTimeout)
	defer cancel()
	return s.ws.Write(wctx, websocket.MessageText, b)
}

// speak returns text as 8 kHz μ-law, synthesised once per phrase.
func (a *demoAgent) speak(ctx context.Context, text string) ([]byte, error) {
	a.mu.Lock()
	ulaw, ok := a.speech[text]
	a.mu.Unlock()
	if ok {
		return ulaw, nil
	}
	if a.synth == nil {
		return nil, errors.New("no speech synthesizer")
	}
	pcm, err := a.synth.Synthesize(ctx, tts.Request{Text: text})
	if err != nil {
		return nil, err
	}
	ulaw = make([]byte, len(pcm))
	media.PCMU.Encode(ulaw, pcm)
	a.mu.Lock()
	a.speech[text] = ulaw
	a.mu.Unlock()
	return ulaw, nil
}

// spokenKey is how the agent says a DTMF key; false for anything else, so that the phrases
// it synthesises (and keeps) are a small closed set.
func spokenKey(digit string) (string, bool) {
	switch digit {
	case "*":
		return "star", true
	case "#":
		return "hash", true
	}
	if len(digit) == 1 && (digit[0] >= '0' && digit[0] <= '9' || digit[0] >= 'A' && digit[0] <= 'D') {
		return digit, true
	}
	return "", false
}

// delayLine hands back each frame pushed into it n pushes later. It is a fixed ring of n
// frames, so its memory is bounded however long the call.
type delayLine struct {
	frames [][]byte
	next   int
}

func newDelayLine(n int) *delayLine { return &delayLine{frames: make([][]byte, n)} }

// push stores frame and returns the frame pushed n pushes ago, or nil while the line fills.
func (d *delayLine) push(frame []byte) []byte {
	out := d.frames[d.next]
	d.frames[d.next] = frame
	d.next = (d.next + 1) % len(d.frames)
	return out
}
