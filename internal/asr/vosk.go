package asr

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// VoskOptions configure NewVosk.
type VoskOptions struct {
	// Models maps a BCP-47 tag or primary subtag to the ws:// or wss:// URL of a server
	// running a model for that language (one Vosk server serves one model).
	Models map[string]string
	// DialTimeout bounds connecting and sending the configuration. Default 5 s.
	DialTimeout time.Duration
	// MaxDuration bounds one session. Default 2 minutes.
	MaxDuration time.Duration
}

// Vosk is a client of a self-hosted streaming recogniser speaking the Vosk server protocol
// (alphacep/vosk-server asr_server.py, also spoken by other open recognisers): one WebSocket
// per session; a text message {"config":{"sample_rate":8000,"words":1,"phrase_list":[…]}};
// binary messages of 16-bit little-endian PCM at that rate; a text message {"eof":1} at the
// end. The server answers each audio message with {"partial":"…"} or, at the end of an
// utterance, {"text":"…","result":[{"conf":…,"word":…,…}]}; after eof it sends the last
// {"text":…} and closes.
//
// Hints go out as phrase_list (servers that know it restrict or bias their vocabulary with
// it). Confidence is the mean of the words' conf values; 0 when the server sends none. The
// protocol has no stability: partials carry Stability 0. Safe for concurrent use.
type Vosk struct {
	opts VoskOptions
}

// NewVosk checks the model URLs and returns the client. It does not connect until Start.
func NewVosk(opts VoskOptions) (*Vosk, error) {
	if len(opts.Models) == 0 {
		return nil, errors.New("vosk: no server URL configured")
	}
	for tag, u := range opts.Models {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "ws" && p.Scheme != "wss") || p.Host == "" {
			return nil, fmt.Errorf("vosk: model URL for %q must be ws:// or wss://, got %q", tag, u)
		}
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = 2 * time.Minute
	}
	return &Vosk{opts: opts}, nil
}

// Supports reports whether a server is configured for the language.
func (v *Vosk) Supports(language string) bool {
	_, ok := ModelFor(v.opts.Models, language)
	return ok
}

// voskConfig is the first message of a session.
type voskConfig struct {
	Config struct {
		SampleRate int      `json:"sample_rate"`
		Words      int      `json:"words"`
		PhraseList []string `json:"phrase_list,omitempty"`
	} `json:"config"`
}

// voskReply is any message from the server.
type voskReply struct {
	Partial *string `json:"partial"`
	Text    *string `json:"text"`
	Result  []struct {
		Conf float64 `json:"conf"`
	} `json:"result"`
}

// voskBatchFrames is how many 20 ms frames go in one audio message: 100 ms, the chunk size
// the Vosk examples use; the server answers each message, so smaller chunks only add replies.
const voskBatchFrames = 5

// Start connects to the server for opts.Language and sends the configuration.
func (v *Vosk) Start(ctx context.Context, opts Options) (Session, error) {
	u, ok := ModelFor(v.opts.Models, opts.Language)
	if !ok {
		return nil, fmt.Errorf("vosk: %w %q", ErrNoModel, opts.Language)
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.MaxDuration)
	dialCtx, dialCancel := context.WithTimeout(ctx, v.opts.DialTimeout)
	defer dialCancel()
	conn, _, err := websocket.Dial(dialCtx, u, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("vosk: connecting to %s: %w", u, err)
	}
	conn.SetReadLimit(1 << 20)
	var cfg voskConfig
	cfg.Config.SampleRate = media.SampleRate
	cfg.Config.Words = 1
	cfg.Config.PhraseList = cleanHints(opts.Hints)
	msg, _ := json.Marshal(cfg) // cannot fail: strings and ints
	if err := conn.Write(dialCtx, websocket.MessageText, msg); err != nil {
		conn.CloseNow()
		cancel()
		return nil, fmt.Errorf("vosk: sending the configuration to %s: %w", u, err)
	}
	s := &voskSession{conn: conn, queue: newAudioQueue(queueFrames), emit: newEmitter(ctx, opts), cancel: cancel}
	go s.run(ctx)
	return s, nil
}

type voskSession struct {
	conn    *websocket.Conn
	queue   *audioQueue
	emit    *emitter
	cancel  context.CancelFunc
	eofSent atomic.Bool
	sendErr atomic.Pointer[error]
}

func (s *voskSession) Write(frame []int16) error { return s.queue.write(frame) }
func (s *voskSession) Results() <-chan Result    { return s.emit.out }
func (s *voskSession) Close() error              { s.queue.close(); return nil }

// run reads the server's replies until the final one after eof, a failure, or the context's
// end; send runs beside it.
func (s *voskSession) run(ctx context.Context) {
	defer close(s.emit.out)
	defer s.cancel()
	defer s.queue.close()
	defer s.conn.CloseNow()
	go s.send(ctx)
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				// Aborted by the caller (or MaxDuration): no result.
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					s.emit.fail(fmt.Errorf("vosk: session longer than the limit: %w", ctx.Err()))
				}
			case s.sendErr.Load() != nil:
				s.emit.fail(*s.sendErr.Load())
			case s.eofSent.Load() && websocket.CloseStatus(err) == websocket.StatusNormalClosure:
				// All audio sent and the server finished without a last text: nothing more.
			default:
				s.emit.fail(fmt.Errorf("vosk: connection ended before the final result: %w", err))
			}
			return
		}
		var r voskReply
		if err := json.Unmarshal(data, &r); err != nil {
			s.emit.fail(fmt.Errorf("vosk: unreadable reply %.80q: %w", data, err))
			return
		}
		switch {
		case r.Text != nil:
			var sum float64
			for _, w := range r.Result {
				sum += w.Conf
			}
			conf := 0.0
			if len(r.Result) > 0 {
				conf = sum / float64(len(r.Result))
			}
			s.emit.final(*r.Text, conf)
			if s.eofSent.Load() {
				s.conn.Close(websocket.StatusNormalClosure, "")
				return
			}
		case r.Partial != nil:
			s.emit.partial(*r.Partial, 0)
		}
	}
}

// send writes queued audio in batches, then eof once the queue is closed.
func (s *voskSession) send(ctx context.Context) {
	buf := make([]byte, 0, voskBatchFrames*media.FrameSamples*2)
	n := 0
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		err := s.conn.Write(ctx, websocket.MessageBinary, buf)
		buf, n = buf[:0], 0
		if err != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("vosk: sending audio: %w", err)
				s.sendErr.Store(&err)
				s.conn.CloseNow()
			}
			return false
		}
		return true
	}
	for {
		var frame []int16
		var ok bool
		select {
		case frame, ok = <-s.queue.ch:
		case <-ctx.Done():
			return
		}
		if !ok {
			if !flush() {
				return
			}
			if err := s.conn.Write(ctx, websocket.MessageText, []byte(`{"eof":1}`)); err != nil {
				if ctx.Err() == nil {
					err = fmt.Errorf("vosk: sending eof: %w", err)
					s.sendErr.Store(&err)
					s.conn.CloseNow()
				}
				return
			}
			s.eofSent.Store(true)
			return
		}
		for _, x := range frame {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(x))
		}
		n++
		if n >= voskBatchFrames {
			if !flush() {
				return
			}
		}
	}
}

// cleanHints trims hints, drops empty ones and lower-cases them (recogniser vocabularies are
// lower case).
func cleanHints(hints []string) []string {
	var out []string
	for _, h := range hints {
		h = strings.Join(strings.Fields(strings.ToLower(h)), " ")
		if h != "" {
			out = append(out, h)
		}
	}
	return out
}
