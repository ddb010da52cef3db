package stream

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/streamspec"
)

// Tracks of a stream (`audioTrack`): inbound is what Parley receives from the call party,
// outbound what Parley sends to it.
const (
	TrackInbound  = "inbound"
	TrackOutbound = "outbound"
	TrackBoth     = "both"
)

// Defaults and limits of §1.2, §2.1 and §3.2.
const (
	DefaultTimeout        = 86400 * time.Second
	MaxRetries            = 10
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxBacklog     = 40 * time.Second
	// SocketSendBuffer is the kernel send buffer the owner should give a stream's socket. The
	// kernel grows an unset one to megabytes, minutes of audio, in which a slow app hides
	// from the backlog (MaxBacklog); 64 KiB is well under a second of the heaviest format.
	SocketSendBuffer = 64 << 10
	// MaxPlayout is the most app audio queued for playout (§4.1); audio beyond it is dropped.
	MaxPlayout = 120 * time.Second
	// MaxMessage is the largest message accepted from the app (§2.2).
	MaxMessage = 16 << 20
)

// Header is one extraHeaders pair (streamspec.ParseExtraHeaders).
type Header = streamspec.Header

// Config describes one stream. Zero values mean the defaults of the spec.
type Config struct {
	// URL is the app's ws:// or wss:// URL, passed through unchanged (query and path kept).
	URL string
	// Bidirectional accepts playAudio, checkpoint and clearAudio from the app.
	Bidirectional bool
	// AudioTrack is TrackInbound (""), TrackOutbound or TrackBoth. The caller applies the
	// conflict rules of §1.3/§5.1 before; the session sends what it is told.
	AudioTrack string
	// Timeout is streamTimeout, counted from the first connect; 0 means DefaultTimeout.
	Timeout time.Duration
	// Format is the inbound format (contentType); the zero value means DefaultFormat.
	Format Format
	// ExtraHeaders are sent on the upgrade request and in extra_headers (§2.3); see
	// streamspec.ParseExtraHeaders.
	ExtraHeaders []Header
	// MaxRetries is how many reconnects the session makes over its life (0..MaxRetries).
	MaxRetries int
	// KeepCallAlive is carried for the owner (blocking element); the session ignores it.
	KeepCallAlive bool

	// CallUUID is start.callId; AccountID is start.accountId.
	CallUUID  string
	AccountID string
	// StreamID is the first socket's streamId; "" draws a UUID v4. Every reconnect after a
	// socket that carried a `start` draws a new one.
	StreamID string

	// InboundByteOrder is the L16 order of media Parley sends: BigEndian unless LittleEndian.
	InboundByteOrder ByteOrder
	// PlayByteOrder is the L16 order of playAudio: ByteOrderAuto detects it per stream.
	PlayByteOrder ByteOrder
	// NoDTMFEvents turns off the `dtmf` messages of §3.5 (on by default).
	NoDTMFEvents bool

	// HTTPClient makes the upgrade request; nil uses a client that verifies certificates and
	// follows no redirect. Its CheckRedirect is replaced so that a redirect fails the connect.
	HTTPClient *http.Client
	// ConnectTimeout bounds TCP, TLS and the upgrade; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Backoff is the wait before reconnect n (1-based); nil means n seconds, at most 5 s.
	Backoff func(n int) time.Duration
	// MaxBacklog is how much outgoing media may wait for a slow socket before the stream is
	// dropped (DegradedStream at 30, 60 and 90 %); 0 means DefaultMaxBacklog.
	MaxBacklog time.Duration

	// OnEvent receives the status-callback events (§6.3) in order; exactly one end event per
	// streamId. OnSendDTMF receives the digits of the app's sendDTMF (§4.5), to be played into
	// the leg. Both are called from one goroutine of the session, never concurrently and never
	// from Push* or NextFrame; they should return promptly. Either may be nil.
	OnEvent    func(Event)
	OnSendDTMF func(digits string)

	// Logger is used with stream_id and call_uuid attributes; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.AudioTrack != TrackOutbound && d.AudioTrack != TrackBoth {
		d.AudioTrack = TrackInbound
	}
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Format.Encoding == "" {
		d.Format = DefaultFormat
	}
	d.MaxRetries = min(max(d.MaxRetries, 0), MaxRetries)
	if d.InboundByteOrder != LittleEndian {
		d.InboundByteOrder = BigEndian
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.Backoff == nil {
		d.Backoff = func(n int) time.Duration { return time.Duration(min(n, 5)) * time.Second }
	}
	if d.MaxBacklog <= 0 {
		d.MaxBacklog = DefaultMaxBacklog
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// tracks lists the tracks of an audioTrack value, as start.tracks does.
func tracks(audioTrack string) []string {
	switch audioTrack {
	case TrackOutbound:
		return []string{TrackOutbound}
	case TrackBoth:
		return []string{TrackInbound, TrackOutbound}
	}
	return []string{TrackInbound}
}

// extraHeadersJSON is the extra_headers string of §2.3: a JSON object in a string, "{}" when
// there are no pairs.
func extraHeadersJSON(h []Header) string {
	if len(h) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name)
		v, _ := json.Marshal(p.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// EventKind is the Event parameter of a status callback (§6.3).
type EventKind string

// The status-callback events.
const (
	StartStream    EventKind = "StartStream"
	PlayedStream   EventKind = "PlayedStream"
	ClearedAudio   EventKind = "ClearedAudio"
	DegradedStream EventKind = "DegradedStream"
	StopStream     EventKind = "StopStream"
	DroppedStream  EventKind = "DroppedStream"
)

// Error texts of §6.3.
const (
	ErrorDegraded = "connection degraded"
	ErrorDropped  = "connection disconnected with the remote service"
)

// Event is one status-callback event of the session. The owner adds the call's parameters
// (CallUUID, From, To, ParentAuthID, ServiceURL, X-VH-*) and signs and delivers it.
type Event struct {
	Kind EventKind
	// StreamID is the streamId of the socket the event is about.
	StreamID string
	// Name is the checkpoint name (PlayedStream only).
	Name string
	// Error is "" on healthy events, ErrorDegraded or ErrorDropped otherwise.
	Error string
	// Time is when it happened.
	Time time.Time
}

// EndReason says why a stream ended.
type EndReason int

// End reasons (§1.5). Those ended by Parley (EndAppStop, EndTimeout, EndStopped) send
// StopStream, the others DroppedStream.
const (
	EndNone          EndReason = iota // still running
	EndAppStop                        // the app sent {"event":"stop"}
	EndTimeout                        // streamTimeout was reached
	EndStopped                        // Stop(): REST stop, transfer, hangup
	EndAppClosed                      // the app closed the socket deliberately
	EndDropped                        // the socket dropped abnormally and no retry was left
	EndConnectFailed                  // the socket could not be opened (retries spent)
	EndBacklog                        // the app read too slowly (the backlog overflowed)
)

// String names the reason for logs.
func (r EndReason) String() string {
	switch r {
	case EndAppStop:
		return "app-stop"
	case EndTimeout:
		return "timeout"
	case EndStopped:
		return "stopped"
	case EndAppClosed:
		return "app-closed"
	case EndDropped:
		return "dropped"
	case EndConnectFailed:
		return "connect-failed"
	case EndBacklog:
		return "backlog"
	}
	return "running"
}

// Failed reports whether the stream ended through a failure of the socket: the Stream
// object's status is then "failed" rather than "completed". An app that closed its socket on
// purpose ended the stream normally, though the event is DroppedStream (§1.5).
func (r EndReason) Failed() bool { return r >= EndDropped }

// endEvent is the kind of end event of r.
func (r EndReason) endEvent() (EventKind, string) {
	if r >= EndAppClosed {
		return DroppedStream, ErrorDropped
	}
	return StopStream, ""
}
