package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/parley-voice/parley/internal/media"
)

// ManagerOptions configure a Manager. Every field is optional.
type ManagerOptions struct {
	// Events receives every room event. Each room delivers its events in order from a
	// goroutine of its own, never from the room goroutine, so Events may block (a database
	// write): the mixer goes on meanwhile. While a room has 256 (maxQueuedEvents) undelivered, new
	// joins to it wait. A member's Join returns only after Events has returned for its Exit.
	Events func(Event)
	// Sounds resolves sound URLs; nil means URL sounds are silent.
	Sounds Sounds
	// Clock drives tickers and timestamps; nil means the system clock.
	Clock Clock
	// RecordingsDir is where recording files go (default: the current directory).
	RecordingsDir string
	// RecordingPath overrides the file name of a recording; the default is
	// RecordingsDir/<id>.<format>.
	RecordingPath func(accountID, recordingID, format string) string
	// Sinks maps a recording format to its writer. "wav" is built in; a format without a
	// sink (mp3 until an encoder is plugged in) is recorded as WAV instead.
	Sinks map[string]SinkFactory
	// NewID makes ConferenceUUIDs and recording ids; the default is a random UUID v4.
	NewID func() string
	// Logger for room life and errors; nil means slog.Default().
	Logger *slog.Logger
	// Observer receives mixer tick durations; nil means none are measured.
	Observer Observer
}

// MaxSoundDuration caps enter/exit/wait sounds read into memory (member Play/Speak audio may
// run up to media.MaxAudioDuration).
const MaxSoundDuration = 10 * time.Minute

// Manager owns every room of one server. Rooms are keyed by (account, name): two accounts never
// meet. Member ids come from one server-wide counter starting at 1 and are never reused.
type Manager struct {
	opts  ManagerOptions
	clock Clock
	log   *slog.Logger
	beep1 []int16
	beep2 []int16

	mu    sync.Mutex // guards rooms and room.pending (cold: joins, lookups)
	rooms map[roomKey]*room

	memberSeq atomic.Int64
	roomSeq   atomic.Uint64

	stats counters
}

type roomKey struct{ account, name string }

type counters struct {
	ticks, lateTicks, skippedTicks, framesLost, writeErrors, recDropped atomic.Int64
	jitterDropped, jitterStarved                                        atomic.Int64 // of members that left
	eventsQueued                                                        atomic.Int64 // gauge: not yet delivered
}

// Stats are the mixer counters of all rooms since the Manager was made.
type Stats struct {
	Ticks        int64 // mixer ticks run
	LateTicks    int64 // ticks run late to catch up
	SkippedTicks int64 // ticks dropped because the room fell too far behind
	FramesLost   int64 // member frames missing when mixed (jitter queue starved)
	WriteErrors  int64 // failed WriteFrame calls
	// RecordingFramesDropped are room frames a recording could not keep up with (counted when
	// the recording is final).
	RecordingFramesDropped int64
	// JitterDropped and JitterStarved add up the jitter queues of members that have left:
	// frames dropped because the queue was full, and times it ran dry after flowing.
	JitterDropped int64
	JitterStarved int64
	RoomsLive     int
	MembersLive   int
	// EventsQueued are room events not yet delivered to ManagerOptions.Events (a gauge): more
	// than a few means the handler, e.g. the store behind it, is slower than the rooms.
	EventsQueued int64
}

// NewManager makes a Manager.
func NewManager(opts ManagerOptions) *Manager {
	m := &Manager{opts: opts, clock: opts.Clock, log: opts.Logger, rooms: make(map[roomKey]*room)}
	if m.clock == nil {
		m.clock = systemClock{}
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.opts.NewID == nil {
		m.opts.NewID = uuid.NewString
	}
	limit := int(MaxSoundDuration / time.Second * media.SampleRate)
	m.beep1 = media.ReadAll(media.Beep1(), limit)
	m.beep2 = media.ReadAll(media.Beep2(), limit)
	return m
}

// Stats returns the mixer counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	n, members := len(m.rooms), 0
	for _, r := range m.rooms {
		members += int(r.count.Load())
	}
	m.mu.Unlock()
	return Stats{
		Ticks: m.stats.ticks.Load(), LateTicks: m.stats.lateTicks.Load(),
		SkippedTicks: m.stats.skippedTicks.Load(), FramesLost: m.stats.framesLost.Load(),
		WriteErrors: m.stats.writeErrors.Load(), RecordingFramesDropped: m.stats.recDropped.Load(),
		JitterDropped: m.stats.jitterDropped.Load(), JitterStarved: m.stats.jitterStarved.Load(),
		RoomsLive: n, MembersLive: members, EventsQueued: m.stats.eventsQueued.Load(),
	}
}

// Join makes the call a member of the room and blocks until it leaves, returning why. When ctx
// ends (the call hung up) the member leaves with HungUp. The Exit event has been delivered
// (ManagerOptions.Events has returned for it) before Join returns. An error means the request
// itself was unusable.
func (m *Manager) Join(ctx context.Context, req JoinRequest) (Result, error) {
	if req.Room == "" {
		return Result{}, errors.New("joining a conference: the room name is empty")
	}
	if req.Media == nil {
		return Result{}, errors.New("joining a conference: the call has no media")
	}
	if err := ctx.Err(); err != nil {
		return Result{Reason: HungUp, ConferenceName: req.Room}, nil
	}
	key := roomKey{req.AccountID, req.Room}
	if r := m.lookup(req.AccountID, req.Room); r != nil {
		if err := r.events.waitSpace(ctx); err != nil {
			return Result{Reason: HungUp, ConferenceName: req.Room}, nil
		}
	}
	m.mu.Lock()
	r := m.rooms[key]
	if r == nil {
		r = newRoom(m, key)
		m.rooms[key] = r
		go r.run()
	}
	r.pending++
	m.mu.Unlock()

	type joined struct {
		mem *member
		res Result
	}
	reply := make(chan joined, 1)
	r.cmds <- func() {
		m.mu.Lock()
		r.pending--
		m.mu.Unlock()
		mem, res := r.join(req)
		reply <- joined{mem, res}
	}
	j := <-reply
	if j.mem == nil {
		return j.res, nil
	}
	mem := j.mem
	if req.Attach != nil {
		req.Attach(mem.input)
	}
	select {
	case res := <-mem.done:
		return res, nil
	case <-ctx.Done():
	}
	select {
	case r.cmds <- func() {
		if !mem.gone {
			r.depart([]*member{mem}, HungUp)
		}
	}:
	case res := <-mem.done:
		return res, nil
	}
	return <-mem.done, nil
}

// lookup finds a live room.
func (m *Manager) lookup(account, name string) *room {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[roomKey{account, name}]
}

// do runs fn on the room goroutine and returns its answer once applied.
func do[T any](ctx context.Context, r *room, fn func() (T, error)) (T, error) {
	var zero T
	if r == nil {
		return zero, ErrConferenceNotFound
	}
	type answer struct {
		v   T
		err error
	}
	reply := make(chan answer, 1)
	cmd := func() {
		if len(r.members) == 0 {
			reply <- answer{zero, ErrConferenceNotFound}
			return
		}
		v, err := fn()
		reply <- answer{v, err}
	}
	select {
	case r.cmds <- cmd:
	case <-r.done:
		return zero, ErrConferenceNotFound
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	// Once accepted, the command is applied; wait for it even if ctx ends so the caller never
	// reports a failure for a change that happened.
	a := <-reply
	return a.v, a.err
}

// onMembers applies fn to the selected members of a room, atomically.
func (m *Manager) onMembers(ctx context.Context, account, name string, sel Selector, fn func(r *room, ms []*member)) error {
	r := m.lookup(account, name)
	_, err := do(ctx, r, func() (struct{}, error) {
		ms, err := r.resolve(sel)
		if err != nil {
			return struct{}{}, err
		}
		fn(r, ms)
		return struct{}{}, nil
	})
	return err
}

// List returns the names of the account's rooms that have members, oldest instance first.
func (m *Manager) List(account string) []string {
	type entry struct {
		name string
		seq  uint64
	}
	var es []entry
	m.mu.Lock()
	for k, r := range m.rooms {
		if k.account == account && r.count.Load() > 0 {
			es = append(es, entry{k.name, r.seq.Load()})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.name
	}
	return names
}

// Get returns the room's Conference object data.
func (m *Manager) Get(ctx context.Context, account, name string) (Snapshot, error) {
	r := m.lookup(account, name)
	return do(ctx, r, func() (Snapshot, error) { return r.snapshot(), nil })
}

// Kick removes the members from the room; their calls continue their documents.
func (m *Manager) Kick(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(r *room, ms []*member) { r.depart(ms, Kicked) })
}

// HangupMembers removes the members; each Join returns RemovedByHangupAPI and the caller
// ends those calls. It returns the calls of the members removed, so that the caller can wait
// for them to end before answering.
func (m *Manager) HangupMembers(ctx context.Context, account, name string, sel Selector) ([]CallInfo, error) {
	var calls []CallInfo
	err := m.onMembers(ctx, account, name, sel, func(r *room, ms []*member) {
		calls = memberCalls(ms)
		r.depart(ms, RemovedByHangupAPI)
	})
	return calls, err
}

// memberCalls lists the calls behind members.
func memberCalls(ms []*member) []CallInfo {
	out := make([]CallInfo, len(ms))
	for i, x := range ms {
		out[i] = x.req.Call
	}
	return out
}

// Mute stops the members' audio from reaching the room and its recording.
func (m *Manager) Mute(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) {
		for _, x := range ms {
			x.muted = true
		}
	})
}

// Unmute clears the muted flag.
func (m *Manager) Unmute(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) {
		for _, x := range ms {
			x.muted = false
		}
	})
}

// Deaf stops the room's audio from reaching the members; private audio still does.
func (m *Manager) Deaf(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) {
		for _, x := range ms {
			x.deaf = true
		}
	})
}

// Undeaf clears the deaf flag.
func (m *Manager) Undeaf(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) {
		for _, x := range ms {
			x.deaf = false
		}
	})
}

// Play queues audio privately to each member, behind its current private audio.
func (m *Manager) Play(ctx context.Context, account, name string, sel Selector, a Audio) error {
	return m.onMembers(ctx, account, name, sel, func(r *room, ms []*member) { r.queuePrivate(ms, kindPlay, a) })
}

// StopPlay removes the members' current and queued Play items (Speak items stay).
func (m *Manager) StopPlay(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) { stopPrivate(ms, kindPlay) })
}

// Speak queues synthesised speech privately to each member, like Play.
func (m *Manager) Speak(ctx context.Context, account, name string, sel Selector, a Audio) error {
	return m.onMembers(ctx, account, name, sel, func(r *room, ms []*member) { r.queuePrivate(ms, kindSpeak, a) })
}

// StopSpeak removes the members' current and queued Speak items (Play items stay).
func (m *Manager) StopSpeak(ctx context.Context, account, name string, sel Selector) error {
	return m.onMembers(ctx, account, name, sel, func(_ *room, ms []*member) { stopPrivate(ms, kindSpeak) })
}

// StartRecording starts recording the room mix. ErrRecordingInProgress when one runs.
func (m *Manager) StartRecording(ctx context.Context, account, name string, opts RecordingOptions) (RecordingInfo, error) {
	r := m.lookup(account, name)
	return do(ctx, r, func() (RecordingInfo, error) {
		info, err := r.startRecording(opts, false)
		if err != nil {
			return RecordingInfo{}, err
		}
		return *info, nil
	})
}

// StopRecording stops the room's recording and returns once the file is final and the
// RecordingDone event emitted; nil info when nothing was recording.
func (m *Manager) StopRecording(ctx context.Context, account, name string) (*RecordingInfo, error) {
	r := m.lookup(account, name)
	rec, err := do(ctx, r, func() (*recorder, error) { return r.stopRecording(), nil })
	if err != nil || rec == nil {
		return nil, err
	}
	// The room has let go of the recording; wait here, not on the room goroutine, so that a
	// read after the answer sees the final file and its RecordingDone.
	return rec.awaitFinal(ctx)
}

// HangupRoom removes every member (RemovedByHangupAPI), finalises the recording and ends the
// room instance; it returns after all of it, with the calls of the members removed.
func (m *Manager) HangupRoom(ctx context.Context, account, name string) ([]CallInfo, error) {
	r := m.lookup(account, name)
	var rec *recorder
	calls, err := do(ctx, r, func() ([]CallInfo, error) {
		ms := r.sortedMembers()
		rec = r.rec
		r.depart(ms, RemovedByHangupAPI)
		return memberCalls(ms), nil
	})
	if err == nil && rec != nil {
		// The members are gone whatever ctx says; only the wait for the file is cut short.
		if _, werr := rec.awaitFinal(ctx); werr != nil {
			r.log.Warn("room hung up before its recording was final", "err", werr)
		}
	}
	return calls, err
}

// HangupAll hangs up every room of the account and returns the calls of the members removed.
func (m *Manager) HangupAll(ctx context.Context, account string) ([]CallInfo, error) {
	var calls []CallInfo
	var errs []error
	for _, name := range m.List(account) {
		cs, err := m.HangupRoom(ctx, account, name)
		if err != nil && !errors.Is(err, ErrConferenceNotFound) {
			errs = append(errs, err)
		}
		calls = append(calls, cs...)
	}
	return calls, errors.Join(errs...)
}

// recordingPath is where a recording file goes.
func (m *Manager) recordingPath(account, id, format string) string {
	if m.opts.RecordingPath != nil {
		return m.opts.RecordingPath(account, id, format)
	}
	return filepath.Join(m.opts.RecordingsDir, id+"."+format)
}

// sink opens the sink of a recording, falling back to WAV for a format without one.
func (m *Manager) sink(account, id, format string) (RecordingSink, string, string, error) {
	if format == "" {
		format = "mp3"
	}
	f := m.opts.Sinks[format]
	if f == nil && format == "wav" {
		f = NewWAVSink
	}
	if f == nil {
		m.log.Warn("no sink for recording format, recording WAV instead", "format", format)
		format = "wav"
		if f = m.opts.Sinks["wav"]; f == nil {
			f = NewWAVSink
		}
	}
	path := m.recordingPath(account, id, format)
	s, err := f(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("starting the conference recording: %w", err)
	}
	return s, format, path, nil
}
