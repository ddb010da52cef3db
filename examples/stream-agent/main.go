// Command stream-agent is a small voice agent for Parley (or Vobiz) audio streams, meant to be
// copied and grown into a real one. It serves two things:
//
//   - /answer, the answer document: a bidirectional μ-law <Stream> to this agent that keeps
//     the call up while the stream runs;
//   - /ws, the agent: the WebSocket Parley opens for each call.
//
// The agent logs the start of each stream, echoes what the caller says straight back
// (playAudio), puts a checkpoint after every second of echoed audio and logs its playedStream,
// and reads the caller's keys: 0–9 play a short tone, * clears the queued audio (clearAudio),
// # ends the stream (stop), which ends the call when nothing follows the <Stream>.
//
// The wire protocol is in Parley's docs/streams.md. The agent imports nothing from Parley; its
// only dependency is github.com/coder/websocket.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	wsURL := flag.String("ws-url", "", "WebSocket URL the answer document points at (default ws://<request host>/ws)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	srv := &http.Server{Addr: *addr, Handler: newMux(*wsURL, log), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("stream agent listening", "answer_url", "http://"+*addr+"/answer", "ws_url", "ws://"+*addr+"/ws")
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serving", "err", err)
		os.Exit(1)
	}
}

// newMux serves the answer document, the hangup callback and the agent. wsURL is the agent's
// address as Parley must dial it; "" means ws:// on the host the answer request came to.
func newMux(wsURL string, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		log.Info("call answered", "call_uuid", r.Form.Get("CallUUID"), "from", r.Form.Get("From"), "to", r.Form.Get("To"))
		u := wsURL
		if u == "" {
			u = "ws://" + r.Host + "/ws"
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, answerDocument, html.EscapeString(u))
	})
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		log.Info("call ended", "call_uuid", r.Form.Get("CallUUID"), "cause", r.Form.Get("HangupCauseName"))
	})
	mux.Handle("/ws", &agent{log: log})
	return mux
}

// answerDocument streams the call to the agent. contentType makes the caller's audio μ-law (the
// default is L16); keepCallAlive holds the call until the stream ends, then <Speak> runs.
const answerDocument = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">%s</Stream>
    <Speak>The agent has ended the stream. Goodbye.</Speak>
</Response>
`

// Limits that keep one socket's cost bounded.
const (
	maxMessage   = 1 << 20 // the largest message read from Parley
	writeTimeout = 5 * time.Second
	// framesPerCheckpoint is one checkpoint per second of echoed 20 ms frames.
	framesPerCheckpoint = 50
)

// agent serves the stream WebSocket: one session per connection.
type agent struct{ log *slog.Logger }

func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxMessage)
	s := &session{ws: ws, log: a.log, sentAt: make(map[string]time.Time)}
	err = s.run(r.Context())
	// Parley ends a stream by closing the socket (code 1000); it sends no stop event.
	a.log.Info("stream ended", "stream_id", s.streamID, "close_code", websocket.CloseStatus(err), "echoed_frames", s.frames)
}

// inbound is every message Parley sends, read into one struct: the event says which part is set.
type inbound struct {
	Event          string `json:"event"` // start, media, dtmf, playedStream, clearedAudio
	SequenceNumber int    `json:"sequenceNumber"`
	StreamID       string `json:"streamId"`
	Start          struct {
		CallID      string   `json:"callId"`
		StreamID    string   `json:"streamId"`
		Tracks      []string `json:"tracks"`
		MediaFormat struct {
			Encoding   string `json:"encoding"` // audio/x-mulaw or audio/x-l16
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
	} `json:"start"`
	Media struct {
		Track   string `json:"track"` // inbound: the caller; outbound: what the caller hears
		Chunk   int    `json:"chunk"`
		Payload []byte `json:"payload"` // 20 ms of audio, base64 in the JSON
	} `json:"media"`
	DTMF struct {
		Digit string `json:"digit"`
	} `json:"dtmf"`
	Name string `json:"name"` // playedStream: the checkpoint's name
}

// outbound is every message the agent sends: playAudio, checkpoint, clearAudio or stop.
type outbound struct {
	Event    string     `json:"event"`
	StreamID string     `json:"streamId,omitempty"`
	Media    *playMedia `json:"media,omitempty"`
	Name     string     `json:"name,omitempty"`
}

type playMedia struct {
	ContentType string `json:"contentType"`
	SampleRate  int    `json:"sampleRate"`
	Payload     []byte `json:"payload"` // any length; Parley queues it and plays it in real time
}

// session is one stream. Messages are handled one at a time on the reading goroutine, in the
// order Parley sent them, so nothing needs a lock.
type session struct {
	ws          *websocket.Conn
	log         *slog.Logger
	streamID    string
	encoding    string
	rate        int
	frames      int
	checkpoints int
	sentAt      map[string]time.Time // checkpoint name -> when it was sent; at most a few
}

func (s *session) run(ctx context.Context) error {
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			return err
		}
		var m inbound
		if err := json.Unmarshal(data, &m); err != nil {
			s.log.Warn("unreadable message", "err", err)
			continue
		}
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
}

func (s *session) handle(ctx context.Context, m inbound) error {
	switch m.Event {
	case "start":
		s.streamID = m.Start.StreamID
		s.encoding, s.rate = m.Start.MediaFormat.Encoding, m.Start.MediaFormat.SampleRate
		s.log.Info("stream started", "call_uuid", m.Start.CallID, "stream_id", s.streamID, "tracks", m.Start.Tracks,
			"encoding", s.encoding, "sample_rate", s.rate)
	case "media":
		if m.Media.Track != "inbound" || len(m.Media.Payload) == 0 {
			return nil
		}
		// The echo: the caller's frame goes straight back, in the format it came in.
		if err := s.play(ctx, m.Media.Payload); err != nil {
			return err
		}
		s.frames++
		if s.frames%framesPerCheckpoint == 0 {
			return s.checkpoint(ctx)
		}
	case "playedStream":
		// Everything queued before the checkpoint has been heard by the caller.
		if at, ok := s.sentAt[m.Name]; ok {
			s.log.Info("checkpoint played", "name", m.Name, "after", time.Since(at).Round(time.Millisecond))
			delete(s.sentAt, m.Name)
		}
	case "clearedAudio":
		s.log.Info("queued audio cleared")
	case "dtmf":
		s.log.Info("key pressed", "digit", m.DTMF.Digit)
		switch d := m.DTMF.Digit; {
		case d == "*":
			// A barge-in: drop what is queued. Pending checkpoints are void now.
			clear(s.sentAt)
			return s.send(ctx, outbound{Event: "clearAudio", StreamID: s.streamID})
		case d == "#":
			// Ends this stream; Parley closes the socket and the document goes on.
			return s.send(ctx, outbound{Event: "stop", StreamID: s.streamID})
		case len(d) == 1 && d[0] >= '0' && d[0] <= '9':
			return s.play(ctx, s.tone(400+100*float64(d[0]-'0'), 300*time.Millisecond))
		}
	}
	return nil
}

func (s *session) play(ctx context.Context, payload []byte) error {
	return s.send(ctx, outbound{Event: "playAudio", StreamID: s.streamID,
		Media: &playMedia{ContentType: s.encoding, SampleRate: s.rate, Payload: payload}})
}

func (s *session) checkpoint(ctx context.Context) error {
	s.checkpoints++
	name := fmt.Sprintf("second-%d", s.checkpoints)
	if len(s.sentAt) < 10 {
		s.sentAt[name] = time.Now()
	}
	return s.send(ctx, outbound{Event: "checkpoint", StreamID: s.streamID, Name: name})
}

func (s *session) send(ctx context.Context, m outbound) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return s.ws.Write(ctx, websocket.MessageText, b) // Vobiz streams use text frames only
}

// tone is a sine of freq Hz lasting d, in the stream's format.
func (s *session) tone(freq float64, d time.Duration) []byte {
	n := int(float64(s.rate) * d.Seconds())
	var out []byte
	for i := range n {
		v := int16(0.3 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(s.rate)))
		if s.encoding == "audio/x-mulaw" {
			out = append(out, ulaw(v))
		} else {
			out = binary.LittleEndian.AppendUint16(out, uint16(v)) // playAudio L16: little-endian
		}
	}
	return out
}

// ulaw encodes one sample as G.711 μ-law.
func ulaw(sample int16) byte {
	const bias, maxValue = 0x84, 32635
	v, sign := int(sample), 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, maxValue) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mantissa := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mantissa)
}
