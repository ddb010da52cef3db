package conference

import (
	"context"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// EventKind names a room event.
type EventKind int

// The events a room emits.
const (
	// EventEnter: a call became a member (ConferenceEnter).
	EventEnter EventKind = iota + 1
	// EventExit: a member left, for any reason (ConferenceExit). Delivered before that
	// member's Join returns.
	EventExit
	// EventDigitsMatch: a digitsMatch pattern matched (ConferenceDigitsMatch).
	EventDigitsMatch
	// EventRecordingDone: a room recording is final (file completely written).
	EventRecordingDone
	// EventTalking: a member started or stopped talking (Talking says which). Not a Vobiz
	// callback: it feeds live views such as the console.
	EventTalking
)

func (k EventKind) String() string {
	switch k {
	case EventEnter:
		return "enter"
	case EventExit:
		return "exit"
	case EventDigitsMatch:
		return "digits"
	case EventRecordingDone:
		return "recording done"
	case EventTalking:
		return "talking"
	}
	return "unknown"
}

// Event is something that happened in a room. Events of one room are delivered in order, from
// the room's event goroutine (see ManagerOptions.Events). A room that ended may still be
// delivering its last events when the next room of its name delivers its first.
type Event struct {
	Kind           EventKind
	AccountID      string
	ConferenceName string
	ConferenceUUID string
	Timestamp      time.Time

	// Member the event concerns (0 for a recording started by REST).
	MemberID       int64
	Call           CallInfo
	CallbackURL    string
	CallbackMethod string
	Data           any // JoinRequest.Data of the member

	CurrentSize int  // members right after the event
	FirstMember bool // Enter: this member began the room instance
	LastMember  bool // Exit: the room is empty after this exit
	Reason      Reason
	Digits      string // DigitsMatch: the pattern that matched
	Talking     bool   // Talking: the member now talks (true) or has stopped (false)

	Recording *RecordingInfo // RecordingDone
}

// SoundKind is what a sound request is for.
type SoundKind string

// Sound kinds, as ConferenceAction values.
const (
	SoundEnter SoundKind = "enterSound"
	SoundExit  SoundKind = "exitSound"
	SoundWait  SoundKind = "waitSound"
)

// SoundRequest asks for the audio of an enter, exit or wait sound given by URL.
type SoundRequest struct {
	Kind           SoundKind
	Ref            string // the URL
	Method         string // waitMethod for wait sounds, POST otherwise
	AccountID      string
	ConferenceName string
	ConferenceUUID string
	MemberID       int64
	Call           CallInfo
	CurrentSize    int
	Data           any // JoinRequest.Data of the member
}

// Sounds turns a sound URL into audio (the flow package fetches the document and plays its
// Play, Speak and Wait elements). It is called outside the room goroutine. A wait sound's
// audio is looped by the room; an enter/exit sound plays once. An error means silence.
type Sounds interface {
	Sound(ctx context.Context, req SoundRequest) (media.Source, error)
}
