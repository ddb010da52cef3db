// Package console is the operators' web console at /console: embedded assets (plain HTML, CSS
// and JavaScript, no build step), sign-in sessions with CSRF tokens, server-sent events from
// room and call events, and actions that call the same domain adapters as the REST API.
//
// Its only internal import is the leaf internal/failwindow (the failed-sign-in rule the REST
// API uses too); like api, it declares the small interfaces it needs and app
// adapts the domain packages to them. It must not poll the domain per member or per room: the
// page is told what changed by events and re-reads one snapshot. It must not block whoever
// publishes an event (a room goroutine): a subscriber that falls behind is told to resync.
package console

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/parley-voice/parley/internal/failwindow"
)

// Accounts looks up an account's auth token, as the REST API's authentication does.
type Accounts interface {
	Lookup(authID string) (token string, ok bool)
}

// Member is one member of a live room.
type Member struct {
	ID         int64     `json:"id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	CallerName string    `json:"caller_name"`
	Direction  string    `json:"direction"`
	CallUUID   string    `json:"call_uuid"`
	Muted      bool      `json:"muted"`
	Deaf       bool      `json:"deaf"`
	Waiting    bool      `json:"waiting"`
	Talking    bool      `json:"talking"`
	Joined     time.Time `json:"joined"`
}

// Room is a live conference of the account.
type Room struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Members []Member  `json:"members"`
}

// AllMembers selects every member of a room in Play, Speak and Hangup.
const AllMembers = 0

// Conferences are the account's live rooms and the commands on them.
type Conferences interface {
	Rooms(ctx context.Context, acct string) ([]Room, error)
	Kick(ctx context.Context, acct, room string, member int64) error
	Mute(ctx context.Context, acct, room string, member int64, on bool) error
	Deaf(ctx context.Context, acct, room string, member int64, on bool) error
	// Hangup ends the member's call (AllMembers: the whole room's).
	Hangup(ctx context.Context, acct, room string, member int64) error
	Play(ctx context.Context, acct, room string, member int64, rawURL string) error
	Speak(ctx context.Context, acct, room string, member int64, text string) error
	// Record starts (on) or stops the room recording.
	Record(ctx context.Context, acct, room string, on bool) error
}

// Call is a live call of the account with its media figures.
type Call struct {
	UUID        string    `json:"call_uuid"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Direction   string    `json:"direction"`
	State       string    `json:"state"`
	Started     time.Time `json:"started"`
	Answered    time.Time `json:"answered,omitzero"`
	Codec       string    `json:"codec"`
	PacketsIn   uint64    `json:"packets_in"`
	PacketsOut  uint64    `json:"packets_out"`
	PacketsLost uint64    `json:"packets_lost"`
	JitterMs    float64   `json:"jitter_ms"`
}

// Calls are the account's live calls and the commands on them.
type Calls interface {
	Live(ctx context.Context, acct string) ([]Call, error)
	Hangup(ctx context.Context, acct, callUUID string) error
	// Transfer makes the call run the document at rawURL instead of its current one.
	Transfer(ctx context.Context, acct, callUUID, rawURL string) error
}

// Delivery is one webhook notification of the account.
type Delivery struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Method      string    `json:"method"`
	Event       string    `json:"event"`
	State       string    `json:"state"` // pending, delivered, dropped
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // pending items only
	Finished    time.Time `json:"finished,omitzero"`
}

// Deliveries are the account's recent webhook notifications.
type Deliveries interface {
	Recent(ctx context.Context, acct string, limit int) ([]Delivery, error)
}

// Recording is one recording of the account.
type Recording struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CallUUID       string    `json:"call_uuid"`
	ConferenceName string    `json:"conference_name"`
	Format         string    `json:"format"`
	DurationMs     int64     `json:"duration_ms"`
	Added          time.Time `json:"added"`
}

// ErrNotFound is what Recordings answer for an id the account does not have.
var ErrNotFound = errors.New("not found")

// Recordings are the account's recordings and their files.
type Recordings interface {
	List(ctx context.Context, acct string, limit int) ([]Recording, error)
	// Open returns the recording's file and row; ErrNotFound when unknown.
	Open(ctx context.Context, acct, id string) (io.ReadSeekCloser, Recording, error)
	Delete(ctx context.Context, acct, id string) error
}

// EventKind says what changed.
type EventKind string

// The kinds of event the page is told about.
const (
	EventRoom      EventKind = "room"      // a member entered or left a room
	EventTalking   EventKind = "talking"   // a member started or stopped talking
	EventCall      EventKind = "call"      // a call started or ended
	EventRecording EventKind = "recording" // a recording was stored
	// eventResync tells a page that missed events to read a fresh snapshot.
	eventResync EventKind = "resync"
)

// Event is something the account's open consoles should show.
type Event struct {
	Account string    `json:"-"`
	Kind    EventKind `json:"kind"`
	Room    string    `json:"room,omitempty"`
	Member  int64     `json:"member,omitempty"`
	Talking bool      `json:"talking,omitempty"`
}

// Options configure a Console. The domain interfaces are required.
type Options struct {
	Accounts    Accounts
	Conferences Conferences
	Calls       Calls
	Deliveries  Deliveries
	Recordings  Recordings

	// SessionTTL is how long a sign-in lasts (default 8 h); MaxSessions bounds the session
	// store (default 1000: the oldest session is dropped for a new one).
	SessionTTL  time.Duration
	MaxSessions int
	// LoginFailures failed sign-ins from one address within LoginWindow block it until the
	// window ends (defaults 10 and 1 minute).
	LoginFailures int
	LoginWindow   time.Duration
	// MaxStreams bounds the open event streams of one account (default 32).
	MaxStreams int
	// Heartbeat is the interval of the event stream's keep-alive comments (default 15 s).
	Heartbeat time.Duration

	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves the web console. Make it with New.
type Console struct {
	opts     Options
	log      *slog.Logger
	sessions *sessionStore
	limiter  *failwindow.Limiter
	hub      *hub
}

// New makes a Console.
func New(opts Options) *Console {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 1000
	}
	if opts.LoginFailures <= 0 {
		opts.LoginFailures = 10
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = time.Minute
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 32
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Console{
		opts:     opts,
		log:      opts.Logger.With("component", "console"),
		sessions: newSessionStore(opts.SessionTTL, opts.MaxSessions, opts.Now),
		limiter:  newLoginLimiter(opts.LoginFailures, opts.LoginWindow, opts.Now),
		hub:      newHub(opts.MaxStreams),
	}
}

// Publish tells the account's open consoles about an event. It never blocks.
func (c *Console) Publish(ev Event) { c.hub.publish(ev) }
