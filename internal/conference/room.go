package conference

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// room is one named room of one account. Its goroutine (run) owns every field below the
// channels; other goroutines only send it commands.
type room struct {
	m    *Manager
	key  roomKey
	log  *slog.Logger
	cmds chan func()
	// digits is separate from cmds so an RTP reader never waits behind REST commands.
	digits chan digitMsg
	done   chan struct{} // closed when the goroutine has ended
	// events carries the room's events to ManagerOptions.Events off the room goroutine; it
	// may outlive the goroutine while it delivers the last ones.
	events *eventQueue

	pending int           // joins on their way to the goroutine; guarded by m.mu
	count   atomic.Int32  // members, for List without a round trip
	seq     atomic.Uint64 // creation order of the current instance, for List

	// Instance state: one room instance lasts from its first member to its last.
	uuid            string
	gen             uint64
	started         bool
	begun           time.Time
	maxParticipants int
	timeLimit       time.Duration
	recordFormat    string
	ctx             context.Context
	cancel          context.CancelFunc
	members         []*member // ascending member id
	sounds          []*soundPlay
	rec             *recorder
	attrRec         *RecordingInfo // last recording started by record="true"
	nextLoad        uint64

	// Mixer state.
	epoch    time.Time
	ticks    int64
	bus      [media.FrameSamples]int32
	acc      [media.FrameSamples]int32
	recFrame [media.FrameSamples]int16
	// talkChanged collects the members whose talking flag changed this frame (reused).
	talkChanged []*member
}

// soundPlay is a room sound being played into the mix.
type soundPlay struct {
	pcm []int16
	pos int
}

func newRoom(m *Manager, key roomKey) *room {
	return &room{
		m:      m,
		key:    key,
		log:    m.log.With("conference", key.name, "account", key.account),
		cmds:   make(chan func()), // unbuffered: an accepted command is always run
		digits: make(chan digitMsg, 64),
		done:   make(chan struct{}),
		events: newEventQueue(m.opts.Events, &m.stats.eventsQueued),
	}
}

// run is the room goroutine.
func (r *room) run() {
	r.epoch = r.m.clock.Now()
	t := r.m.clock.NewTicker(media.FrameDuration)
	defer t.Stop()
	for {
		select {
		case fn := <-r.cmds:
			fn()
		case d := <-r.digits:
			r.handleDigit(d.mem, d.d)
		case now := <-t.C():
			r.onTick(now)
		}
		if len(r.members) == 0 && r.closeIfIdle() {
			return
		}
	}
}

// closeIfIdle ends the goroutine when no member is left and no join is on its way.
func (r *room) closeIfIdle() bool {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.pending > 0 {
		return false
	}
	if r.m.rooms[r.key] == r {
		delete(r.m.rooms, r.key)
	}
	close(r.done)
	return true
}

// send delivers fn to the room goroutine from a helper goroutine, or drops it when the room
// has ended.
func (r *room) send(fn func()) {
	select {
	case r.cmds <- fn:
	case <-r.done:
	}
}

func (r *room) beginInstance(req JoinRequest, now time.Time) {
	r.gen++
	r.uuid = r.m.opts.NewID()
	r.started = false
	r.begun = now
	r.maxParticipants = req.MaxParticipants
	if r.maxParticipants <= 0 {
		r.maxParticipants = DefaultMaxParticipants
	}
	r.timeLimit = req.TimeLimit
	r.recordFormat = req.RecordFileFormat
	r.attrRec = nil
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.seq.Store(r.m.roomSeq.Add(1))
	r.log.Info("conference room begins", "conference_uuid", r.uuid)
}

func (r *room) endInstance() {
	if r.rec != nil {
		r.stopRecording()
	}
	r.cancel()
	r.sounds = nil
	r.log.Info("conference room ends", "conference_uuid", r.uuid)
	r.uuid = ""
	r.started = false
	r.attrRec = nil
}

// join applies a join; it returns the new member, or nil and the refusal.
func (r *room) join(req JoinRequest) (*member, Result) {
	now := r.m.clock.Now()
	first := len(r.members) == 0
	if first {
		r.beginInstance(req, now)
	}
	if len(r.members) >= r.maxParticipants {
		r.log.Info("conference full, call refused", "call_uuid", req.Call.CallUUID, "max", r.maxParticipants)
		return nil, Result{Reason: Refused, ConferenceName: r.key.name}
	}
	x := &member{
		id:     r.m.memberSeq.Add(1),
		req:    req,
		out:    req.Media,
		codec:  req.Media.Codec(),
		joined: now,
		done:   make(chan Result, 1),
		muted:  req.Muted,
	}
	x.req.DigitsMatch = slices.Clone(req.DigitsMatch)
	x.digits = media.NewDigitMatcher(x.req.DigitsMatch)
	sil := x.codec.Silence()
	for i := range x.silence {
		x.silence[i] = sil
	}
	x.input = &MemberInput{id: x.id, q: media.NewJitterQueue(0, 0), digits: r.digits, mem: x}
	x.waiting = !r.started && !req.StartConferenceOnEnter
	r.members = append(r.members, x)
	r.count.Store(int32(len(r.members)))
	r.log.Info("member entered", "member_id", x.id, "call_uuid", req.Call.CallUUID, "waiting", x.waiting)

	r.emit(Event{Kind: EventEnter, FirstMember: first}, x, nil)
	if req.StartConferenceOnEnter && !r.started {
		r.started = true
		for _, o := range r.members {
			o.waiting = false
			o.wait = nil
		}
	}
	r.roomSound(SoundEnter, soundRef(req.EnterSound, req.Beep, "beep:1"), x)
	if x.waiting && req.WaitSound != "" {
		r.loadWait(x)
	}
	if req.Record && r.rec == nil {
		if _, err := r.startRecording(RecordingOptions{Format: r.recordFormat}, true); err != nil {
			r.log.Error("conference recording did not start", "err", err)
		}
	}
	return x, Result{}
}

func soundRef(explicit *string, beep bool, def string) string {
	if explicit != nil {
		return *explicit
	}
	if beep {
		return def
	}
	return ""
}

// emit queues an event about member x (nil for room events) stamped now; after (may be nil)
// runs once the event has been delivered. It never waits for the handler.
func (r *room) emit(ev Event, x *member, after func()) {
	if r.m.opts.Events == nil {
		if after != nil {
			after()
		}
		return
	}
	ev.AccountID = r.key.account
	ev.ConferenceName = r.key.name
	ev.ConferenceUUID = r.uuid
	ev.Timestamp = r.m.clock.Now()
	ev.CurrentSize = len(r.members)
	if x != nil {
		ev.MemberID = x.id
		ev.Call = x.req.Call
		ev.CallbackURL = x.req.CallbackURL
		ev.CallbackMethod = x.req.CallbackMethod
		ev.Data = x.req.Data
	}
	r.events.push(ev, after)
}

// depart removes a batch of members for one reason, then applies the leaving rules of §7.6:
// endConferenceOnExit kicks everyone left, a 2+ -> 1 drop evicts a lone member that may not
// stay alone, and the instance ends with its last member.
func (r *room) depart(ms []*member, reason Reason) {
	if len(ms) == 0 {
		return
	}
	before := len(r.members)
	endAll := false
	for _, x := range ms {
		if x.gone {
			continue
		}
		x.gone = true
		x.input.closed.Store(true)
		if i := slices.Index(r.members, x); i >= 0 {
			r.members = slices.Delete(r.members, i, i+1)
		}
		r.count.Store(int32(len(r.members)))
		r.exitFigures(x, reason)
		res := Result{Reason: reason, MemberID: x.id, ConferenceName: r.key.name, ConferenceUUID: r.uuid}
		if r.attrRec != nil {
			info := *r.attrRec
			res.Recording = &info
		}
		// Join returns only once the handler has taken the Exit event: whatever the call does
		// next (its hangup webhook, spec §9.4) comes after it.
		done := x.done
		r.emit(Event{Kind: EventExit, Reason: reason, LastMember: len(r.members) == 0}, x, func() { done <- res })
		if len(r.members) > 0 {
			r.roomSound(SoundExit, soundRef(x.req.ExitSound, x.req.Beep, "beep:2"), x)
		}
		endAll = endAll || x.req.EndConferenceOnExit
	}
	switch {
	case len(r.members) == 0:
	case endAll:
		r.depart(slices.Clone(r.members), EndConference)
	case before >= 2 && len(r.members) == 1 && !r.members[0].req.StayAlone:
		r.depart([]*member{r.members[0]}, Evicted)
	}
	if len(r.members) == 0 && r.uuid != "" {
		r.endInstance()
	}
}

// resolve turns a selector into members in ascending id order, atomically: any unknown id is
// an error naming every unknown id in request order.
func (r *room) resolve(sel Selector) ([]*member, error) {
	if sel.All {
		return slices.Clone(r.members), nil
	}
	var found []*member
	var missing []string
	seen := make(map[int64]bool, len(sel.IDs))
	for _, id := range sel.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		i, ok := slices.BinarySearchFunc(r.members, id, func(x *member, id int64) int {
			switch {
			case x.id < id:
				return -1
			case x.id > id:
				return 1
			}
			return 0
		})
		if !ok {
			missing = append(missing, strconv.FormatInt(id, 10))
			continue
		}
		found = append(found, r.members[i])
	}
	if len(missing) > 0 {
		return nil, &MemberNotFoundError{IDs: missing}
	}
	if len(found) == 0 {
		return nil, ErrInvalidSelector
	}
	slices.SortFunc(found, func(a, b *member) int { return int(a.id - b.id) })
	return found, nil
}

func (r *room) sortedMembers() []*member { return slices.Clone(r.members) }

func (r *room) snapshot() Snapshot {
	now := r.m.clock.Now()
	s := Snapshot{Name: r.key.name, UUID: r.uuid, Started: r.begun, RunTime: now.Sub(r.begun),
		Members: make([]MemberSnapshot, len(r.members))}
	for i, x := range r.members {
		s.Members[i] = x.snapshot(now)
	}
	return s
}

// soundLimit is MaxSoundDuration in samples.
const soundLimit = int(MaxSoundDuration / time.Second * media.SampleRate)

// privateLimit caps member Play/Speak audio at the longest audio the contract accepts (§9.7:
// one hour), not at the sound limit: a member may be played an hour-long file.
const privateLimit = int(media.MaxAudioDuration / time.Second * media.SampleRate)

// roomSound plays an enter or exit sound to the room: beeps at once, URLs once fetched.
func (r *room) roomSound(kind SoundKind, ref string, x *member) {
	switch ref {
	case "":
		return
	case "beep:1":
		r.sounds = append(r.sounds, &soundPlay{pcm: r.m.beep1})
		return
	case "beep:2":
		r.sounds = append(r.sounds, &soundPlay{pcm: r.m.beep2})
		return
	}
	req := r.soundRequest(kind, ref, "POST", x)
	gen := r.gen
	r.fetch(req, func(pcm []int16) {
		if r.gen == gen && len(r.members) > 0 && len(pcm) > 0 {
			r.sounds = append(r.sounds, &soundPlay{pcm: pcm})
		}
	})
}

// loadWait fetches a waiting member's wait audio, once for its waiting period.
func (r *room) loadWait(x *member) {
	method := x.req.WaitMethod
	if method == "" {
		method = "POST"
	}
	r.fetch(r.soundRequest(SoundWait, x.req.WaitSound, method, x), func(pcm []int16) {
		if !x.gone && x.waiting {
			x.wait, x.waitPos = pcm, 0
		}
	})
}

func (r *room) soundRequest(kind SoundKind, ref, method string, x *member) SoundRequest {
	return SoundRequest{
		Kind: kind, Ref: ref, Method: method, AccountID: r.key.account,
		ConferenceName: r.key.name, ConferenceUUID: r.uuid, MemberID: x.id, Call: x.req.Call,
		CurrentSize: len(r.members), Data: x.req.Data,
	}
}

// fetch resolves a sound URL on a helper goroutine and hands the samples to apply on the room
// goroutine. Failures are logged and mean silence.
func (r *room) fetch(req SoundRequest, apply func(pcm []int16)) {
	snd := r.m.opts.Sounds
	if snd == nil {
		return
	}
	ctx := r.ctx
	go func() {
		src, err := snd.Sound(ctx, req)
		if err != nil {
			r.log.Warn("conference sound failed, using silence", "kind", string(req.Kind), "member_id", req.MemberID, "err", err)
			return
		}
		pcm := media.ReadAll(src, soundLimit)
		r.send(func() { apply(pcm) })
	}()
}

// queuePrivate queues Play or Speak audio behind each member's current private audio.
func (r *room) queuePrivate(ms []*member, kind privKind, a Audio) {
	if a.Load == nil {
		for _, x := range ms {
			x.private = append(x.private, &privItem{kind: kind, pcm: a.PCM, ready: true})
		}
		return
	}
	r.nextLoad++
	id := r.nextLoad
	for _, x := range ms {
		x.private = append(x.private, &privItem{kind: kind, load: id})
	}
	ctx := r.ctx
	go func() {
		var pcm []int16
		src, err := a.Load(ctx)
		if err != nil {
			r.log.Warn("private audio could not be loaded, skipped", "err", err)
		} else {
			pcm = media.ReadAll(src, privateLimit)
		}
		r.send(func() {
			for _, x := range ms {
				kept := x.private[:0]
				for _, it := range x.private {
					if it.load == id {
						if len(pcm) == 0 {
							continue
						}
						it.pcm, it.ready, it.load = pcm, true, 0
					}
					kept = append(kept, it)
				}
				clear(x.private[len(kept):])
				x.private = kept
			}
		})
	}()
}

// handleDigit applies one DTMF digit of member x: hangupOnStar, digitsMatch, relayDTMF.
func (r *room) handleDigit(x *member, d rune) {
	if x.gone {
		return
	}
	if d == '*' && x.req.HangupOnStar {
		r.depart([]*member{x}, EndedByStar)
		return
	}
	if p, ok := x.digits.Feed(d, r.m.clock.Now()); ok {
		r.emit(Event{Kind: EventDigitsMatch, Digits: p}, x, nil)
	}
	if x.req.RelayDTMF {
		for _, o := range r.members {
			if o != x {
				if err := o.out.SendDigit(d); err != nil {
					r.log.Debug("relaying DTMF failed", "member_id", o.id, "err", err)
				}
			}
		}
	}
}

// startRecording starts the room recording; byAttr marks record="true".
func (r *room) startRecording(opts RecordingOptions, byAttr bool) (*RecordingInfo, error) {
	if r.rec != nil {
		return nil, ErrRecordingInProgress
	}
	id := r.m.opts.NewID()
	sink, format, path, err := r.m.sink(r.key.account, id, opts.Format)
	if err != nil {
		return nil, err
	}
	info := RecordingInfo{
		ID: id, Format: format, Path: path, ByAttribute: byAttr, CallbackURL: opts.CallbackURL,
		CallbackMethod: opts.CallbackMethod, Tag: opts.Tag, Start: r.m.clock.Now(),
	}
	r.rec = startRecorder(sink, info, opts.TimeLimit)
	if byAttr {
		r.attrRec = &info
	}
	r.log.Info("conference recording started", "recording_id", id, "format", format)
	return &info, nil
}

// stopRecording hands the running recording (nil when none) off to be finalised and returns
// at once: nothing on the room goroutine waits for a disk or an encoder. A helper goroutine
// waits for the file and completes the recording (see completeRecording); the recorder's
// awaitFinal reports when that is done.
func (r *room) stopRecording() *recorder {
	rec := r.rec
	if rec == nil {
		return nil
	}
	r.rec = nil
	rec.handOff(r.m.clock.Now())
	// Stamped now: the instance may have ended (or another begun) by the time the file is final.
	ev := Event{Kind: EventRecordingDone, AccountID: r.key.account, ConferenceName: r.key.name, ConferenceUUID: r.uuid}
	go r.completeRecording(rec, ev, r.gen)
	return rec
}

// completeRecording runs on its own goroutine: it waits until the file is final, then, on the
// room goroutine while the room lives (or here once it has ended), updates the record="true"
// info of instance gen and queues RecordingDone; awaitFinal is released once it is delivered.
func (r *room) completeRecording(rec *recorder, ev Event, gen uint64) {
	info := rec.wait()
	r.m.stats.recDropped.Add(info.FramesDropped)
	if info.Err != nil {
		r.log.Error("conference recording failed", "recording_id", info.ID, "err", info.Err)
	}
	ev.Recording = info
	announce := func(onRoom bool) {
		if onRoom && r.gen == gen {
			if r.attrRec != nil && r.attrRec.ID == info.ID {
				r.attrRec = info
			}
			ev.CurrentSize = len(r.members)
		}
		ev.Timestamp = r.m.clock.Now()
		rec.result = info
		release := func() { close(rec.final) }
		if r.m.opts.Events == nil {
			release()
			return
		}
		// The room's queue, even once the room has ended: RecordingDone follows the room's
		// last events.
		r.events.push(ev, release)
	}
	select {
	case r.cmds <- func() { announce(true) }:
	case <-r.done:
		announce(false)
	}
}
