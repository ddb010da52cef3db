// Package conference runs Parley's conference rooms: rooms and their members, the membership
// rules of <Conference> (waiting, starting, endConferenceOnExit, stayAlone, maxParticipants,
// timeLimit, DTMF in a room), the REST-driven member commands, the room recording, events, and
// the audio mixer (one goroutine and one 20 ms ticker per room, mix-minus, mute and deaf).
//
// It must NOT know about HTTP, XML, webhooks or SIP: calls reach it only through the small
// MemberMedia and MemberInput seams, sounds through the Sounds interface, and everything it has
// to tell the outside world leaves as an Event.
package conference

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Errors returned by the Manager; test with errors.Is / errors.As.
var (
	// ErrConferenceNotFound means the account has no room of that name with members.
	ErrConferenceNotFound = errors.New("conference not found")
	// ErrRecordingInProgress means the room is already being recorded.
	ErrRecordingInProgress = errors.New("conference recording already in progress")
	// ErrInvalidSelector means a member selector selects nobody: it is not All and lists no ids.
	ErrInvalidSelector = errors.New("member selector names no member")
)

// MemberNotFoundError lists the addressed member ids that are not members of the room, in
// request order. When it is returned, nothing changed for any addressed member.
type MemberNotFoundError struct {
	IDs []string
}

func (e *MemberNotFoundError) Error() string {
	return "member not found: " + strings.Join(e.IDs, ",")
}

// Reason tells why a member left a room, or why a call never entered it.
type Reason int

// Why Join returned.
const (
	// Kicked: REST Kick. The call continues its document.
	Kicked Reason = iota + 1
	// HungUp: the call ended (Join's context was cancelled).
	HungUp
	// Refused: the room was full (maxParticipants); the call never became a member.
	Refused
	// EndedByStar: the member pressed * with hangupOnStar; the call continues.
	EndedByStar
	// Evicted: left alone with stayAlone=false; the call continues.
	Evicted
	// EndConference: a member with endConferenceOnExit left; the call continues.
	EndConference
	// TimeLimit: the room reached its timeLimit; the call continues.
	TimeLimit
	// RemovedByHangupAPI: REST Hang up member / conference / all conferences. The caller must
	// end the call (cause 4000, source API Request); nothing after <Conference> runs.
	RemovedByHangupAPI
)

var reasonNames = [...]string{"", "kicked", "hung up", "refused", "ended by star", "evicted",
	"end conference", "time limit", "removed by hangup API"}

func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown(" + strconv.Itoa(int(r)) + ")"
}

// ContinuesDocument reports whether the call goes on with its document (action URL or the
// next element) after leaving for this reason.
func (r Reason) ContinuesDocument() bool {
	switch r {
	case Kicked, Refused, EndedByStar, Evicted, EndConference, TimeLimit:
		return true
	}
	return false
}

// CallInfo is the identity of the call behind a member, as its webhooks show it.
type CallInfo struct {
	CallUUID   string
	From       string
	To         string
	CallerName string
	Direction  string // "inbound" or "outbound"
}

// MemberMedia is a member's outgoing audio, implemented by the call layer while the room owns
// the call's output.
type MemberMedia interface {
	// Codec is the call's negotiated codec; read once when the member joins.
	Codec() media.Codec
	// WriteFrame sends one encoded 20 ms frame at once, without pacing: the room's ticker is
	// the clock. It must not block for long.
	WriteFrame(payload []byte) error
	// SendDigit sends one RFC 4733 digit (relayDTMF); it may be asynchronous and must not
	// block for long.
	SendDigit(digit rune) error
}

// JoinRequest is everything a call brings into a room: where, who, and the attributes of its
// <Conference> element as plain values. NewJoinRequest fills the documented defaults.
type JoinRequest struct {
	AccountID string
	Room      string // the room name, already trimmed and validated
	Call      CallInfo

	Muted                  bool
	Beep                   bool
	EnterSound             *string // nil: absent (Beep decides); "" none; "beep:1", "beep:2" or a URL
	ExitSound              *string
	StartConferenceOnEnter bool
	EndConferenceOnExit    bool
	StayAlone              bool
	MaxParticipants        int           // 0 means the default, 200
	TimeLimit              time.Duration // room lifetime; 0 means none
	WaitSound              string        // URL; "" none
	WaitMethod             string
	RelayDTMF              bool
	DigitsMatch            []string
	HangupOnStar           bool
	Record                 bool
	RecordFileFormat       string // "mp3" or "wav"

	// CallbackURL, CallbackMethod and Data are not used by the room; they are copied into
	// every event and sound request of this member.
	CallbackURL    string
	CallbackMethod string
	Data           any

	// Media is the member's outgoing audio; required.
	Media MemberMedia
	// Attach, when set, is called once the call is a member (before Join blocks), from Join's
	// goroutine, with the input the call's RTP reader feeds. It is not called on refusal.
	Attach func(in *MemberInput)
}

// DefaultMaxParticipants is the room capacity when a request does not say.
const DefaultMaxParticipants = 200

// NewJoinRequest returns a request with the defaults of <Conference>: beep, start on enter,
// 200 participants, a 4 hour time limit, POST methods and mp3 recordings.
func NewJoinRequest(accountID, room string, call CallInfo, m MemberMedia) JoinRequest {
	return JoinRequest{
		AccountID: accountID, Room: room, Call: call, Media: m,
		Beep: true, StartConferenceOnEnter: true, MaxParticipants: DefaultMaxParticipants,
		TimeLimit: 14400 * time.Second, WaitMethod: "POST", CallbackMethod: "POST",
		RecordFileFormat: "mp3",
	}
}

// Result says how a Join ended.
type Result struct {
	Reason         Reason
	MemberID       int64 // 0 when refused
	ConferenceName string
	ConferenceUUID string // "" when refused
	// Recording is the recording started by record="true" in this room instance, if any
	// (for the action URL's RecordingID / RecordUrl / RecordFile).
	Recording *RecordingInfo
}

// Selector addresses members of one room: All, or a list of member ids.
type Selector struct {
	All bool
	IDs []int64
}

// All selects every member present when the command is applied.
func All() Selector { return Selector{All: true} }

// IDs selects the listed members.
func IDs(ids ...int64) Selector { return Selector{IDs: ids} }

// Audio is private audio for Play or Speak: PCM already in memory, or a loader that is run
// outside the room goroutine (a failure is skipped silently, as a file that cannot be fetched).
type Audio struct {
	PCM  []int16
	Load func(ctx context.Context) (media.Source, error)
}

// Snapshot is the data of the Conference object (§3).
type Snapshot struct {
	Name    string
	UUID    string
	Started time.Time     // when the instance began
	RunTime time.Duration // since Started
	Members []MemberSnapshot
}

// MemberSnapshot is the data of one Member object (§3).
type MemberSnapshot struct {
	ID       int64
	Muted    bool
	Deaf     bool
	Waiting  bool
	Talking  bool // its received audio is above the talking level (with hysteresis)
	Call     CallInfo
	Joined   time.Time
	JoinTime time.Duration // since Joined
}
