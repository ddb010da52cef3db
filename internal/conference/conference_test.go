package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

var bg = context.Background()

func toneDB(s []int16, hz float64) float64 { return media.ToneDBFS(s, hz) }

func TestMixMinus(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	freqs := []float64{400, 700, 1600}
	var ms []*tmember
	for _, f := range freqs {
		ms = append(ms, e.join(req("R"), f))
	}
	e.run(60, ms...)
	for i, x := range ms {
		heard := x.media.last(40)
		own := toneDB(heard, freqs[i])
		for j, f := range freqs {
			if j == i {
				continue
			}
			if other := toneDB(heard, f); other < own+20 || other < -30 {
				t.Errorf("member %d hears %.0f Hz at %.1f dBFS, its own %.0f Hz at %.1f dBFS", i, f, other, freqs[i], own)
			}
		}
	}
}

func TestMuteUnmute(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	c := e.join(req("R"), 0)
	if err := e.m.Mute(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	e.run(30, a, b)
	heard := c.media.last(20)
	if l4, l7 := toneDB(heard, 400), toneDB(heard, 700); l4 > l7-40 {
		t.Errorf("muted 400 Hz heard at %.1f dBFS vs 700 Hz at %.1f", l4, l7)
	}
	// A muted still hears the room.
	if l := toneDB(a.media.last(20), 700); l < -30 {
		t.Errorf("muted member does not hear the room: %.1f dBFS", l)
	}
	s, _ := e.m.Get(bg, "A", "R")
	if !s.Members[0].Muted || s.Members[1].Muted {
		t.Errorf("snapshot flags wrong: %+v", s.Members)
	}
	if err := e.m.Unmute(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	e.run(30, a, b)
	if l := toneDB(c.media.last(20), 400); l < -30 {
		t.Errorf("unmuted member not heard: %.1f dBFS", l)
	}
}

func TestDeafHearsPrivateAudio(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	if err := e.m.Deaf(bg, "A", "R", IDs(b.id)); err != nil {
		t.Fatal(err)
	}
	e.run(20, a, b)
	if l := media.LevelDBFS(b.media.last(15)); l > -80 {
		t.Errorf("deaf member hears %.1f dBFS", l)
	}
	if l := toneDB(a.media.last(15), 700); l < -30 {
		t.Errorf("deaf member is not heard: %.1f", l)
	}
	pcm := media.ReadAll(media.Tone(1600, 2*time.Second, -12), 0)
	if err := e.m.Play(bg, "A", "R", IDs(b.id), Audio{PCM: pcm}); err != nil {
		t.Fatal(err)
	}
	e.run(20, a, b)
	heard := b.media.last(15)
	if l16, l4 := toneDB(heard, 1600), toneDB(heard, 400); l16 < -30 || l4 > -80 {
		t.Errorf("deaf member: private 1600 Hz %.1f dBFS, room 400 Hz %.1f dBFS", l16, l4)
	}
	if l := toneDB(a.media.last(15), 1600); l > -80 {
		t.Errorf("private audio leaked to another member: %.1f dBFS", l)
	}
	if err := e.m.Undeaf(bg, "A", "R", IDs(b.id)); err != nil {
		t.Fatal(err)
	}
	e.run(10, a, b)
	if l := toneDB(b.media.last(8), 400); l < -30 {
		t.Errorf("undeafened member does not hear the room: %.1f", l)
	}
}

func TestPlaySpeakQueueAndStopByKind(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 0)
	b := e.join(req("R"), 0)
	long := func(hz float64) []int16 { return media.ReadAll(media.Tone(hz, 10*time.Second, -12), 0) }
	loaded := make(chan struct{})
	play := Audio{Load: func(context.Context) (media.Source, error) {
		defer close(loaded)
		return media.NewPCMSource(long(1000)), nil
	}}
	failing := Audio{Load: func(context.Context) (media.Source, error) { return nil, errors.New("404") }}
	if err := e.m.Play(bg, "A", "R", IDs(a.id), failing); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Play(bg, "A", "R", IDs(a.id), play); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Speak(bg, "A", "R", IDs(a.id), Audio{PCM: long(1600)}); err != nil {
		t.Fatal(err)
	}
	<-loaded
	waitFor(t, e, func() bool { return e.m.privateLen("A", "R", a.id) == 2 })
	e.run(10)
	if l := toneDB(a.media.last(5), 1000); l < -30 {
		t.Errorf("play not heard: %.1f", l)
	}
	if l := toneDB(b.media.last(5), 1000); l > -80 {
		t.Errorf("play leaked: %.1f", l)
	}
	if err := e.m.StopPlay(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	e.run(10)
	heard := a.media.last(5)
	if l10, l16 := toneDB(heard, 1000), toneDB(heard, 1600); l10 > -80 || l16 < -30 {
		t.Errorf("after stop play: 1000 Hz %.1f, speak 1600 Hz %.1f", l10, l16)
	}
	if err := e.m.Play(bg, "A", "R", IDs(a.id), Audio{PCM: long(1000)}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.StopSpeak(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	e.run(10)
	heard = a.media.last(5)
	if l10, l16 := toneDB(heard, 1000), toneDB(heard, 1600); l10 < -30 || l16 > -80 {
		t.Errorf("after stop speak: play 1000 Hz %.1f, 1600 Hz %.1f", l10, l16)
	}
}

func waitFor(t *testing.T, e *env, cond func() bool) {
	t.Helper()
	// A deadline, not a count of tries: under -race on a loaded machine a
	// 25-minute private clip takes seconds to allocate and load.
	deadline := time.Now().Add(15 * time.Second)
	for {
		e.sync()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// privateLen is a test probe: the number of ready private items of a member.
func (m *Manager) privateLen(account, name string, id int64) int {
	r := m.lookup(account, name)
	n, _ := do(bg, r, func() (int, error) {
		for _, x := range r.members {
			if x.id == id {
				c := 0
				for _, it := range x.private {
					if it.ready {
						c++
					}
				}
				return c, nil
			}
		}
		return -1, nil
	})
	return n
}

func TestKickAndSelectors(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	rq := req("R")
	rq.StayAlone = true
	ms := make([]*tmember, 5)
	for i := range ms {
		ms[i] = e.join(rq, 0)
	}
	id := func(i int) int64 { return ms[i].id }

	err := e.m.Kick(bg, "A", "R", IDs(id(1), 999, id(2), 998, 999))
	var mnf *MemberNotFoundError
	if !errors.As(err, &mnf) || !reflect.DeepEqual(mnf.IDs, []string{"999", "998"}) {
		t.Fatalf("unknown ids: err %v", err)
	}
	if s, _ := e.m.Get(bg, "A", "R"); len(s.Members) != 5 {
		t.Fatalf("a failed list changed the room: %d members", len(s.Members))
	}
	if err := e.m.Kick(bg, "A", "R", IDs()); !errors.Is(err, ErrInvalidSelector) {
		t.Fatalf("empty selector: err %v, want ErrInvalidSelector", err)
	}

	if err := e.m.Kick(bg, "A", "R", IDs(id(0))); err != nil {
		t.Fatal(err)
	}
	if r := ms[0].result(t); r.Reason != Kicked || r.MemberID != id(0) {
		t.Errorf("kick one: %+v", r)
	}
	// Listed in descending order, applied ascending.
	if err := e.m.Kick(bg, "A", "R", IDs(id(2), id(1))); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2} {
		if r := ms[i].result(t); r.Reason != Kicked {
			t.Errorf("kick list: member %d %+v", i, r)
		}
	}
	exits := e.events(EventExit)
	var order []int64
	for _, ev := range exits {
		order = append(order, ev.MemberID)
	}
	if want := []int64{id(0), id(1), id(2)}; !slices.Equal(order, want) {
		t.Errorf("exit order %v, want %v", order, want)
	}
	if err := e.m.Kick(bg, "A", "R", All()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 4} {
		if r := ms[i].result(t); r.Reason != Kicked {
			t.Errorf("kick all: member %d %+v", i, r)
		}
	}
	exits = e.events(EventExit)
	if last := exits[len(exits)-1]; !last.LastMember || last.CurrentSize != 0 {
		t.Errorf("last exit event: %+v", last)
	}
	if err := e.m.Kick(bg, "A", "R", All()); !notFound(err) {
		t.Errorf("kick all on an ended room: %v", err)
	}
}

type fakeSounds struct {
	mu   sync.Mutex
	reqs []SoundRequest
	hz   float64
}

func (f *fakeSounds) Sound(_ context.Context, r SoundRequest) (media.Source, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	return media.Tone(f.hz, 200*time.Millisecond, -12), nil
}

func (f *fakeSounds) count(kind SoundKind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

func TestWaitingUntilStarter(t *testing.T) {
	snd := &fakeSounds{hz: 500}
	e := newEnv(t, ManagerOptions{Sounds: snd})
	w := req("R")
	w.StartConferenceOnEnter = false
	w.WaitSound = "http://x/wait"
	a := e.join(w, 400)
	b := e.join(w, 700)
	waitFor(t, e, func() bool { return snd.count(SoundWait) == 2 })
	waitFor(t, e, func() bool {
		e.run(1, a, b)
		return toneDB(a.media.last(1), 500) > -30
	})
	e.run(25, a, b) // longer than the 200 ms wait sound: it loops
	heard := a.media.last(10)
	if l5, l7 := toneDB(heard, 500), toneDB(heard, 700); l5 < -30 || l7 > l5-40 {
		t.Errorf("waiting member: wait sound %.1f dBFS, other waiter %.1f dBFS", l5, l7)
	}
	s, _ := e.m.Get(bg, "A", "R")
	if len(s.Members) != 2 || !s.Members[0].Waiting {
		t.Errorf("snapshot: %+v", s)
	}
	c := e.join(req("R"), 1600)
	e.run(20, a, b, c)
	heard = a.media.last(10)
	if l5, l7, l16 := toneDB(heard, 500), toneDB(heard, 700), toneDB(heard, 1600); l5 > l7-40 || l7 < -30 || l16 < -30 {
		t.Errorf("after start: wait %.1f, 700 %.1f, 1600 %.1f", l5, l7, l16)
	}
	if n := snd.count(SoundWait); n != 2 {
		t.Errorf("wait sound requested %d times, want 2", n)
	}
	// The starter joined an un-started room and did not wait: no request for it.
	d := e.join(w, 0)
	e.run(3)
	if n := snd.count(SoundWait); n != 2 {
		t.Errorf("a member entering a started room requested a wait sound")
	}
	_ = d
}

func TestLeavingRules(t *testing.T) {
	t.Run("endConferenceOnExit", func(t *testing.T) {
		e := newEnv(t, ManagerOptions{})
		boss := req("R")
		boss.EndConferenceOnExit = true
		a := e.join(boss, 0)
		st := req("R")
		st.StayAlone = true
		b, c := e.join(st, 0), e.join(st, 0)
		a.cancel()
		if r := a.result(t); r.Reason != HungUp {
			t.Errorf("boss: %v", r.Reason)
		}
		for _, x := range []*tmember{b, c} {
			if r := x.result(t); r.Reason != EndConference || !r.Reason.ContinuesDocument() {
				t.Errorf("member: %v", r.Reason)
			}
		}
	})
	t.Run("stayAlone false evicts on 2->1", func(t *testing.T) {
		e := newEnv(t, ManagerOptions{})
		a := e.join(req("R"), 0)
		e.run(5)
		if _, gone := a.gone(); gone {
			t.Fatal("first member evicted for being alone")
		}
		rb := req("R")
		rb.Call.CallUUID = "call-b"
		b, c := e.join(rb, 0), e.join(req("R"), 0)
		if err := e.m.Kick(bg, "A", "R", IDs(a.id)); err != nil {
			t.Fatal(err)
		}
		e.sync()
		if _, gone := b.gone(); gone {
			t.Fatal("evicted with two members left")
		}
		// Only the hung-up member's call is returned: the evicted one goes on with its document.
		calls, err := e.m.HangupMembers(bg, "A", "R", IDs(b.id))
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].CallUUID != "call-b" {
			t.Errorf("HangupMembers returned calls %+v, want only call-b", calls)
		}
		if r := b.result(t); r.Reason != RemovedByHangupAPI || r.Reason.ContinuesDocument() {
			t.Errorf("hangup member: %v", r.Reason)
		}
		if r := c.result(t); r.Reason != Evicted {
			t.Errorf("lone member: %v", r.Reason)
		}
	})
	t.Run("maxParticipants", func(t *testing.T) {
		e := newEnv(t, ManagerOptions{})
		first := req("R")
		first.MaxParticipants = 2
		e.join(first, 0)
		e.join(req("R"), 0)
		x := e.join(req("R"), 0)
		r := x.result(t)
		if r.Reason != Refused || r.MemberID != 0 || x.id != 0 {
			t.Errorf("third call: %+v", r)
		}
		if n := len(e.events(EventEnter)); n != 2 {
			t.Errorf("%d enter events", n)
		}
	})
	t.Run("timeLimit", func(t *testing.T) {
		e := newEnv(t, ManagerOptions{})
		first := req("R")
		first.TimeLimit = time.Second
		a, b := e.join(first, 0), e.join(req("R"), 0)
		e.run(45)
		if _, gone := a.gone(); gone {
			t.Fatal("time limit too early")
		}
		e.run(10)
		for _, x := range []*tmember{a, b} {
			if r := x.result(t); r.Reason != TimeLimit {
				t.Errorf("%v", r.Reason)
			}
		}
	})
}

func TestDTMF(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	rq := req("R")
	rq.HangupOnStar = true
	rq.DigitsMatch = []string{"123", "9#"}
	rq.RelayDTMF = true
	rq.StayAlone = true
	a := e.join(rq, 0)
	b := e.join(req("R"), 0)
	c := e.join(req("R"), 0)
	push := func(ds string) {
		for _, d := range ds {
			a.in.PushDigit(d)
		}
		e.sync()
	}
	push("0123")
	push("12")
	e.clock.Advance(5 * time.Second)
	push("3")
	push("9#")
	var got []string
	for _, ev := range e.events(EventDigitsMatch) {
		got = append(got, ev.Digits)
		if ev.MemberID != a.id {
			t.Errorf("digits event for member %d", ev.MemberID)
		}
	}
	if want := []string{"123", "9#"}; !slices.Equal(got, want) {
		t.Errorf("matches %v, want %v", got, want)
	}
	if r := b.media.relayed(); r != "0123123"+"9#" {
		t.Errorf("relayed to b: %q", r)
	}
	if r := a.media.relayed(); r != "" {
		t.Errorf("relayed back to the sender: %q", r)
	}
	c.in.PushDigit('*') // no hangupOnStar for c: stays
	push("*")
	if r := a.result(t); r.Reason != EndedByStar {
		t.Errorf("star: %v", r.Reason)
	}
	if _, gone := c.gone(); gone {
		t.Error("star left the room without hangupOnStar")
	}
	if r := b.media.relayed(); r != "01231239#" {
		t.Errorf("star relayed: %q", r)
	}
}

func TestEnterExitBeeps(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 0)
	e.run(5)
	a.media.reset()
	bq := req("R")
	bq.Beep = true
	b := e.join(bq, 0)
	e.run(12)
	if l := toneDB(a.media.last(12)[:1600], 1000); l < -30 {
		t.Errorf("enter beep not heard by the room: %.1f", l)
	}
	if l := toneDB(b.media.last(12)[:1600], 1000); l < -30 {
		t.Errorf("enter beep not heard by the one entering: %.1f", l)
	}
	a.media.reset()
	e.run(5)
	if l := toneDB(a.media.last(5), 1000); l > -80 {
		t.Errorf("beep too long: %.1f", l)
	}
	empty := ""
	cq := req("R")
	cq.Beep = true
	cq.EnterSound = &empty
	cq.StayAlone = true
	e.join(cq, 0)
	a.media.reset()
	e.run(10)
	if l := toneDB(a.media.last(10), 1000); l > -80 {
		t.Errorf("enterSound=\"\" still beeped: %.1f", l)
	}
	b.cancel()
	b.result(t)
	a.media.reset()
	e.run(30)
	heard := a.media.last(30)
	if l := toneDB(heard, 1000); l < -30 {
		t.Errorf("exit beep not heard: %.1f", l)
	}
}

func TestAccountsAndIDs(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	ra := req("R")
	rb := req("R")
	rb.AccountID = "B"
	a := e.join(ra, 400)
	b := e.join(rb, 700)
	e.join(req("S"), 0)
	e.run(20, a, b)
	if l := toneDB(a.media.last(10), 700); l > -80 {
		t.Errorf("accounts met: %.1f", l)
	}
	if got := e.m.List("A"); !slices.Equal(got, []string{"R", "S"}) {
		t.Errorf("List(A) = %v", got)
	}
	if got := e.m.List("B"); !slices.Equal(got, []string{"R"}) {
		t.Errorf("List(B) = %v", got)
	}
	sa, _ := e.m.Get(bg, "A", "R")
	sb, _ := e.m.Get(bg, "B", "R")
	if sa.UUID == sb.UUID || len(sb.Members) != 1 || sb.Members[0].ID != b.id {
		t.Errorf("snapshots %+v %+v", sa, sb)
	}
	if err := e.m.Kick(bg, "B", "R", IDs(a.id)); err == nil {
		t.Error("account B kicked a member of account A")
	}
	// Ids are never reused, even by a call re-entering.
	seen := map[int64]bool{a.id: true, b.id: true}
	for range 3 {
		x := e.join(req("T"), 0)
		if seen[x.id] || x.id <= 0 {
			t.Fatalf("id %d reused", x.id)
		}
		seen[x.id] = true
		x.cancel()
		x.result(t)
	}
	calls, err := e.m.HangupAll(bg, "A")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].CallUUID != "call-R" || calls[1].CallUUID != "call-S" {
		t.Errorf("HangupAll returned calls %+v, want the members of R and S of account A", calls)
	}
	if r := a.result(t); r.Reason != RemovedByHangupAPI {
		t.Errorf("hangup all: %v", r.Reason)
	}
	e.sync()
	if got := e.m.List("A"); len(got) != 0 {
		t.Errorf("rooms left: %v", got)
	}
	if _, gone := b.gone(); gone {
		t.Error("HangupAll(A) reached account B")
	}
	if _, err := e.m.Get(bg, "A", "R"); !notFound(err) {
		t.Errorf("Get ended room: %v", err)
	}
}

func TestJoinEventsAndSnapshot(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	rq := req("R")
	rq.CallbackURL = "http://cb"
	rq.StayAlone = true
	a := e.join(rq, 0)
	e.clock.Advance(3 * time.Second)
	b := e.join(req("R"), 0)
	e.clock.Advance(2 * time.Second)
	s, err := e.m.Get(bg, "A", "R")
	if err != nil {
		t.Fatal(err)
	}
	if s.RunTime != 5*time.Second || s.Members[0].JoinTime != 5*time.Second || s.Members[1].JoinTime != 2*time.Second {
		t.Errorf("times: %v %v %v", s.RunTime, s.Members[0].JoinTime, s.Members[1].JoinTime)
	}
	if s.Members[0].Call.From != "1415" || s.Members[0].ID != a.id {
		t.Errorf("member: %+v", s.Members[0])
	}
	enters := e.events(EventEnter)
	if len(enters) != 2 || !enters[0].FirstMember || enters[1].FirstMember ||
		enters[0].CurrentSize != 1 || enters[1].CurrentSize != 2 || enters[0].CallbackURL != "http://cb" ||
		enters[0].ConferenceUUID != s.UUID || enters[1].MemberID != b.id {
		t.Errorf("enter events: %+v", enters)
	}
	// Exit is emitted before Join returns.
	b.cancel()
	r := b.result(t)
	if exits := e.events(EventExit); len(exits) != 1 || exits[0].MemberID != b.id || exits[0].Reason != HungUp {
		t.Errorf("exit events when Join returned: %+v", exits)
	}
	if r.ConferenceUUID != s.UUID || r.MemberID != b.id {
		t.Errorf("result %+v", r)
	}
}

func TestRecording(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 700)
	if err := e.m.Play(bg, "A", "R", IDs(a.id), Audio{PCM: media.ReadAll(media.Tone(1600, 5*time.Second, -12), 0)}); err != nil {
		t.Fatal(err)
	}
	info, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav", Tag: "api-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.StartRecording(bg, "A", "R", RecordingOptions{Format: "wav"}); !errors.Is(err, ErrRecordingInProgress) {
		t.Errorf("second start: %v", err)
	}
	e.run(50, a, b)
	done, err := e.m.StopRecording(bg, "A", "R")
	if err != nil || done == nil || done.ID != info.ID || done.Err != nil {
		t.Fatalf("stop: %+v %v", done, err)
	}
	if done.Duration != time.Second || done.End.Sub(done.Start) != time.Second {
		t.Errorf("duration %v, %v..%v", done.Duration, done.Start, done.End)
	}
	evs := e.events(EventRecordingDone)
	if len(evs) != 1 || evs[0].Recording.ID != info.ID || evs[0].Recording.Tag != "api-1" {
		t.Errorf("events %+v", evs)
	}
	data, err := os.ReadFile(done.Path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := media.DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 8000 {
		t.Errorf("%d samples", len(pcm))
	}
	tail := pcm[len(pcm)/2:]
	if l4, l7, l16 := toneDB(tail, 400), toneDB(tail, 700), toneDB(tail, 1600); l4 < -30 || l7 < -30 || l16 > -80 {
		t.Errorf("recording: 400 %.1f, 700 %.1f, private 1600 %.1f", l4, l7, l16)
	}
	if again, err := e.m.StopRecording(bg, "A", "R"); err != nil || again != nil {
		t.Errorf("stop twice: %v %v", again, err)
	}
}

func TestRecordAttributeAndResult(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	rq := req("R")
	rq.Record = true // mp3 has no sink here: recorded as WAV
	a := e.join(rq, 400)
	e.run(10, a)
	if err := e.m.Kick(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	r := a.result(t)
	if r.Recording == nil || r.Recording.Format != "wav" || !r.Recording.ByAttribute {
		t.Fatalf("result recording %+v", r.Recording)
	}
	evs := e.waitEvents(EventRecordingDone, 1)
	if len(evs) != 1 || evs[0].Recording.ID != r.Recording.ID || evs[0].Recording.End.IsZero() {
		t.Fatalf("recording events %+v", evs)
	}
	if _, err := os.Stat(evs[0].Recording.Path); err != nil {
		t.Error(err)
	}
}

// nopMedia discards frames, for benchmarks.
type nopMedia struct{}

func (nopMedia) Codec() media.Codec      { return media.PCMU }
func (nopMedia) WriteFrame([]byte) error { return nil }
func (nopMedia) SendDigit(rune) error    { return nil }

func BenchmarkMix(b *testing.B) {
	for _, n := range []int{3, 10, 100, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := NewManager(ManagerOptions{Clock: newFakeClock(), Logger: slog.New(slog.DiscardHandler)})
			r := newRoom(m, roomKey{"A", "R"})
			frames := make([][]int16, n)
			for i := range n {
				rq := NewJoinRequest("A", "R", CallInfo{}, nopMedia{})
				rq.Beep = false
				rq.MaxParticipants = n
				x, _ := r.join(rq)
				frames[i] = media.ReadAll(media.Tone(float64(300+i), 20*time.Millisecond, -20), 0)
				x.input.PushFrame(frames[i])
			}
			b.ResetTimer()
			for range b.N {
				for i, x := range r.members {
					x.input.PushFrame(frames[i])
				}
				r.mix()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member/tick")
		})
	}
}

// privateSamples returns the samples of the member's loaded private audio items.
func (m *Manager) privateSamples(account, name string, id int64) []int {
	r := m.lookup(account, name)
	n, _ := do(bg, r, func() ([]int, error) {
		var out []int
		for _, x := range r.members {
			if x.id == id {
				for _, it := range x.private {
					if it.ready {
						out = append(out, len(it.pcm))
					}
				}
			}
		}
		return out, nil
	})
	return n
}

// TestPrivateAudioIsNotCutAtTenMinutes: member Play audio may run up to the hour of §9.7.
func TestPrivateAudioIsNotCutAtTenMinutes(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 0)
	long := 25 * time.Minute
	play := Audio{Load: func(context.Context) (media.Source, error) {
		return media.NewPCMSource(make([]int16, int(long/time.Second)*media.SampleRate)), nil
	}}
	if err := e.m.Play(bg, "A", "R", IDs(a.id), play); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e, func() bool { return e.m.privateLen("A", "R", a.id) == 1 })
	got := e.m.privateSamples("A", "R", a.id)
	if want := int(long/time.Second) * media.SampleRate; len(got) != 1 || got[0] != want {
		t.Errorf("private audio of %v loaded as %v samples, want %d", long, got, want)
	}
}
