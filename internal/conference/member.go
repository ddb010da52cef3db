package conference

import (
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// MemberInput is how a call's RTP reader feeds a member: decoded audio and DTMF digits. Its
// methods may be called from one producer goroutine concurrently with the room; after the
// member has left they do nothing.
type MemberInput struct {
	id             int64
	conferenceUUID string // the room instance the member entered
	q              *media.JitterQueue
	digits         chan<- digitMsg
	mem            *member
	closed         atomic.Bool

	partial [media.FrameSamples]int16 // samples of an incomplete frame (ptime other than 20 ms)
	npart   int
}

// MemberID is the member's id.
func (in *MemberInput) MemberID() int64 { return in.id }

// ConferenceUUID is the room instance the member entered. It is known at Attach, before the
// room's enter event has been delivered (events leave the room through a queue).
func (in *MemberInput) ConferenceUUID() string { return in.conferenceUUID }

// PushFrame feeds received audio (8 kHz PCM). Packets of 20 ms go straight to the jitter
// queue; other sizes are regrouped into 20 ms frames. Only one goroutine may push.
func (in *MemberInput) PushFrame(pcm []int16) {
	if in.closed.Load() {
		return
	}
	if in.npart == 0 && len(pcm) == media.FrameSamples {
		in.q.Push(pcm)
		return
	}
	for len(pcm) > 0 {
		n := copy(in.partial[in.npart:], pcm)
		in.npart += n
		pcm = pcm[n:]
		if in.npart == media.FrameSamples {
			in.q.Push(in.partial[:])
			in.npart = 0
		}
	}
}

// PushDigit feeds one received DTMF digit. It never blocks: if the room is flooded the digit
// is dropped.
func (in *MemberInput) PushDigit(d rune) {
	if in.closed.Load() {
		return
	}
	select {
	case in.digits <- digitMsg{in.mem, d}:
	default:
	}
}

type digitMsg struct {
	mem *member
	d   rune
}

type privKind uint8

const (
	kindPlay privKind = iota + 1
	kindSpeak
)

// privItem is one Play or Speak item in a member's private queue.
type privItem struct {
	kind  privKind
	pcm   []int16 // shared read-only between the members of one command
	pos   int
	ready bool
	load  uint64 // id of the pending load, 0 when loaded
}

// member is one call in a room; owned by the room goroutine.
type member struct {
	id     int64
	req    JoinRequest
	codec  media.Codec
	out    MemberMedia
	input  *MemberInput
	joined time.Time
	done   chan Result

	muted, deaf, waiting, gone bool

	heard   bool // contributed its frame to this tick's bus
	talk    talkDetector
	flowing bool // has delivered audio at least once (misses count as lost after that)
	frame   [media.FrameSamples]int16
	pcm     [media.FrameSamples]int16
	payload [media.FrameSamples]byte
	silence [media.FrameSamples]byte

	private []*privItem
	wait    []int16
	waitPos int

	digits *media.DigitMatcher // digitsMatch

	fig memberFigures
}

func (x *member) snapshot(now time.Time) MemberSnapshot {
	return MemberSnapshot{
		ID: x.id, Muted: x.muted, Deaf: x.deaf, Waiting: x.waiting, Talking: x.talk.talking, Call: x.req.Call,
		Joined: x.joined, JoinTime: now.Sub(x.joined),
	}
}

// stopPrivate removes the members' private items of one kind.
func stopPrivate(ms []*member, kind privKind) {
	for _, x := range ms {
		kept := x.private[:0]
		for _, it := range x.private {
			if it.kind != kind {
				kept = append(kept, it)
			}
		}
		clear(x.private[len(kept):])
		x.private = kept
	}
}
