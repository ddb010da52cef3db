package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/sip"
)

// A room of a cluster lives on one node, its home (a lease in NATS). A call on another node
// that runs <Conference> for it joins through an internal leg: its node asks the home to
// expect the leg ("room.prepare", answered with a one-time token), dials the home's SIP with
// the token in X-Parley-Join and relays audio and DTMF between the call and that leg. To the
// home's room the leg is a member like any other, with the real call's identity; when it
// leaves, the home tells the member's node why ("room.result") and hangs the leg up, and the
// member's document goes on exactly as after a local room. When the home dies the member's
// node claims the room again and re-joins the new home (maybe itself), without an enter sound.

// The node-to-node methods of remote conference members.
const (
	methodRoomPrepare = "room.prepare"
	methodRoomEntered = "room.entered"
	methodRoomResult  = "room.result"
)

// roomNode is what remote members need of cluster.Node (a fake implements it in tests).
type roomNode interface {
	Self() cluster.Peer
	Peers() []cluster.Peer
	Peer(id string) (cluster.Peer, bool)
	Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error)
	ClaimRoom(ctx context.Context, key string) (cluster.Peer, error)
	RoomHome(ctx context.Context, key string) (home cluster.Peer, ok bool, err error)
	ReleaseRoom(ctx context.Context, key string) error
}

var _ roomNode = (*cluster.Node)(nil)

// Timings of remote membership.
const (
	// joinTokenTTL bounds the time between room.prepare and the internal INVITE.
	joinTokenTTL = 10 * time.Second
	// rpcTimeout bounds one node-to-node request of a join.
	rpcTimeout = 2 * time.Second
	// legAnswerTimeout bounds the internal INVITE's wait for the home's answer.
	legAnswerTimeout = 5 * time.Second
	// homeSilence is how long the internal leg may receive nothing (a room sends a frame
	// every 20 ms) before the member's node asks whether the home still lives.
	homeSilence = 600 * time.Millisecond
	// homeCheckEvery is how often a silent leg's home is looked up.
	homeCheckEvery = 250 * time.Millisecond
	// homeChangeWait is how long a leg the home hung up without a result waits for the room
	// to move (the home shutting down releases its leases last).
	homeChangeWait = 6 * time.Second
	// rejoinBudget bounds the attempts to reach a room's home before giving up.
	rejoinBudget = 15 * time.Second
)

// clusterRooms is the cluster-aware flow.Conferences: local rooms through the room manager,
// rooms homed elsewhere through internal legs. It also serves the home's side of those legs.
type clusterRooms struct {
	s     *Server
	node  roomNode      // set by start, before ready is closed
	ready chan struct{} // closed once the node is set
	local flow.Conferences
	log   *slog.Logger

	tokens *joinTokens

	mu      sync.Mutex
	waiting map[string]*remoteWait    // token -> a remote membership of a call here
	members map[*call.Call]string     // internal legs that are members here -> room key
	locals  map[*localMember]struct{} // this node's calls in rooms homed here
}

// remoteWait is a call of this node that is a member on another node.
type remoteWait struct {
	callUUID string
	results  chan conference.Result
}

// localMember is a call of this node in a room homed here; cancel moves it to the room's new
// home when this node loses the room.
type localMember struct {
	key    string
	cancel context.CancelCauseFunc
}

// errRoomLost: another node took the room's lease (this node was thought dead).
var errRoomLost = errors.New("another node took the room")

// newClusterRooms prepares remote membership before the node joins: its handlers must be
// given to cluster.Join (Options.Handlers), and they wait for start.
func newClusterRooms(s *Server) *clusterRooms {
	return &clusterRooms{
		s: s, ready: make(chan struct{}), local: s.conf, log: s.log,
		tokens:  newJoinTokens(joinTokenTTL, time.Now),
		waiting: map[string]*remoteWait{},
		members: map[*call.Call]string{},
		locals:  map[*localMember]struct{}{},
	}
}

// handlers are the node methods of remote members.
func (cr *clusterRooms) handlers() map[string]cluster.Handler {
	return map[string]cluster.Handler{methodRoomPrepare: cr.handlePrepare, methodRoomEntered: cr.handleEntered,
		methodRoomResult: cr.handleResult}
}

// startClusterRooms makes the flow's conferences cluster-aware once node has joined.
func (s *Server) startClusterRooms(cr *clusterRooms, node roomNode) {
	cr.node = node
	close(cr.ready)
	s.rooms = cr
	s.runner.Conferences = cr
	s.nodeSources.use(node.Peers)
}

// clusterRoomKey is the NATS key of a room (account, name).
func clusterRoomKey(account, name string) string { return cluster.RoomKey(account, name) }

// joinTokens are the one-time tokens of expected internal legs.
type joinTokens struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	pending map[string]preparedJoin
}

// preparedJoin is a member the home expects.
type preparedJoin struct {
	prepareRequest
	expires time.Time
}

func newJoinTokens(ttl time.Duration, now func() time.Time) *joinTokens {
	return &joinTokens{ttl: ttl, now: now, pending: map[string]preparedJoin{}}
}

// issue stores p under a new random token.
func (t *joinTokens) issue(p prepareRequest) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.pending {
		if now.After(v.expires) {
			delete(t.pending, k)
		}
	}
	t.pending[tok] = preparedJoin{prepareRequest: p, expires: now.Add(t.ttl)}
	return tok
}

// valid tells whether tok is issued, unused and unexpired, without using it.
func (t *joinTokens) valid(tok string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[tok]
	return ok && !t.now().After(p.expires)
}

// take uses tok: it is valid once.
func (t *joinTokens) take(tok string) (prepareRequest, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[tok]
	delete(t.pending, tok)
	if !ok || t.now().After(p.expires) {
		return prepareRequest{}, false
	}
	return p.prepareRequest, true
}

// prepareRequest is the body of room.prepare: who joins which room, with which attributes.
type prepareRequest struct {
	MemberNode string        `json:"member_node"`
	MemberBoot string        `json:"member_boot"`
	Call       call.Identity `json:"call"`
	Room       string        `json:"room"`
	Attrs      joinAttrs     `json:"attrs"`
}

type prepareAnswer struct {
	Token string `json:"token"`
}

// resultMessage is the body of room.result: how a remote member left.
type resultMessage struct {
	Token           string `json:"token"`
	Reason          int    `json:"reason"`
	ConferenceName  string `json:"conference_name"`
	ConferenceUUID  string `json:"conference_uuid"`
	MemberID        int64  `json:"member_id"`
	RecordingID     string `json:"recording_id,omitempty"`
	RecordingFormat string `json:"recording_format,omitempty"`
}

func resultMessageOf(token string, r conference.Result) resultMessage {
	m := resultMessage{Token: token, Reason: int(r.Reason), ConferenceName: r.ConferenceName,
		ConferenceUUID: r.ConferenceUUID, MemberID: r.MemberID}
	if r.Recording != nil {
		m.RecordingID, m.RecordingFormat = r.Recording.ID, r.Recording.Format
	}
	return m
}

func (m resultMessage) result() conference.Result {
	r := conference.Result{Reason: conference.Reason(m.Reason), ConferenceName: m.ConferenceName,
		ConferenceUUID: m.ConferenceUUID, MemberID: m.MemberID}
	if m.RecordingID != "" {
		r.Recording = &conference.RecordingInfo{ID: m.RecordingID, Format: m.RecordingFormat, ByAttribute: true}
	}
	return r
}

// joinAttrs are the attributes of a member's <Conference>, as they travel to the home.
type joinAttrs struct {
	Muted                  bool          `json:"muted"`
	Beep                   bool          `json:"beep"`
	EnterSound             *string       `json:"enter_sound,omitempty"`
	ExitSound              *string       `json:"exit_sound,omitempty"`
	StartConferenceOnEnter bool          `json:"start_conference_on_enter"`
	EndConferenceOnExit    bool          `json:"end_conference_on_exit"`
	StayAlone              bool          `json:"stay_alone"`
	MaxParticipants        int           `json:"max_participants"`
	TimeLimit              time.Duration `json:"time_limit"`
	WaitSound              string        `json:"wait_sound,omitempty"`
	WaitMethod             string        `json:"wait_method,omitempty"`
	RelayDTMF              bool          `json:"relay_dtmf"`
	DigitsMatch            []string      `json:"digits_match,omitempty"`
	HangupOnStar           bool          `json:"hangup_on_star"`
	Record                 bool          `json:"record"`
	RecordFileFormat       string        `json:"record_file_format,omitempty"`
	CallbackURL            string        `json:"callback_url,omitempty"`
	CallbackMethod         string        `json:"callback_method,omitempty"`
}

func joinAttrsOf(r conference.JoinRequest) joinAttrs {
	return joinAttrs{
		Muted: r.Muted, Beep: r.Beep, EnterSound: r.EnterSound, ExitSound: r.ExitSound,
		StartConferenceOnEnter: r.StartConferenceOnEnter, EndConferenceOnExit: r.EndConferenceOnExit,
		StayAlone: r.StayAlone, MaxParticipants: r.MaxParticipants, TimeLimit: r.TimeLimit,
		WaitSound: r.WaitSound, WaitMethod: r.WaitMethod, RelayDTMF: r.RelayDTMF, DigitsMatch: r.DigitsMatch,
		HangupOnStar: r.HangupOnStar, Record: r.Record, RecordFileFormat: r.RecordFileFormat,
		CallbackURL: r.CallbackURL, CallbackMethod: r.CallbackMethod,
	}
}

// apply sets the attributes on r.
func (a joinAttrs) apply(r *conference.JoinRequest) {
	r.Muted, r.Beep, r.EnterSound, r.ExitSound = a.Muted, a.Beep, a.EnterSound, a.ExitSound
	r.StartConferenceOnEnter, r.EndConferenceOnExit, r.StayAlone = a.StartConferenceOnEnter, a.EndConferenceOnExit, a.StayAlone
	r.MaxParticipants, r.TimeLimit, r.WaitSound, r.WaitMethod = a.MaxParticipants, a.TimeLimit, a.WaitSound, a.WaitMethod
	r.RelayDTMF, r.DigitsMatch, r.HangupOnStar = a.RelayDTMF, a.DigitsMatch, a.HangupOnStar
	r.Record, r.RecordFileFormat, r.CallbackURL, r.CallbackMethod = a.Record, a.RecordFileFormat, a.CallbackURL, a.CallbackMethod
}

// errLostHome: the room's home went away during or before a remote join; the room is
// claimed again and re-joined.
var errLostHome = errors.New("the room's home node went away")

// Join implements flow.Conferences: the room's home is found (or claimed); a home elsewhere is
// joined through an internal leg, again after the home dies.
func (cr *clusterRooms) Join(ctx context.Context, req conference.JoinRequest) (conference.Result, error) {
	md, _ := req.Data.(*flow.MemberData)
	if md == nil || md.Call == nil {
		return cr.local.Join(ctx, req)
	}
	key := clusterRoomKey(req.AccountID, req.Room)
	log := md.Call.Logger().With("conference", req.Room)
	deadline := time.Now().Add(rejoinBudget)
	joined := false // a member once: re-joins are silent
	for {
		if joined {
			quietRejoin(&req)
		}
		home, err := cr.home(ctx, key)
		var res conference.Result
		if err == nil && home.ID == cr.node.Self().ID {
			res, err = cr.joinLocal(ctx, key, req)
			if !errors.Is(err, errLostHome) {
				return res, err
			}
			joined = true
			deadline = time.Now().Add(rejoinBudget)
		} else if err == nil {
			var member bool
			res, member, err = cr.joinRemote(ctx, key, home, req, md.Call, log)
			joined = joined || member
			if member {
				deadline = time.Now().Add(rejoinBudget)
			}
			if !errors.Is(err, errLostHome) {
				return res, err
			}
		}
		if ctx.Err() != nil {
			return conference.Result{Reason: conference.HungUp, ConferenceName: req.Room}, nil
		}
		if time.Now().After(deadline) {
			return conference.Result{}, fmt.Errorf("reaching the home of room %q: %w", req.Room, err)
		}
		log.Warn("re-joining the room on its new home", "home", home.ID, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// joinLocal joins the room homed here; errLostHome when this node lost the room meanwhile.
func (cr *clusterRooms) joinLocal(ctx context.Context, key string, req conference.JoinRequest) (conference.Result, error) {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lm := &localMember{key: key, cancel: cancel}
	cr.mu.Lock()
	cr.locals[lm] = struct{}{}
	cr.mu.Unlock()
	res, err := cr.local.Join(lctx, req)
	cr.mu.Lock()
	delete(cr.locals, lm)
	cr.mu.Unlock()
	if ctx.Err() == nil && errors.Is(context.Cause(lctx), errRoomLost) {
		return res, errLostHome
	}
	return res, err
}

// roomLost moves the members of a room whose lease another node took to that node: the
// internal legs are hung up without a result, the local calls leave and join again.
func (cr *clusterRooms) roomLost(key string) {
	if cr == nil {
		return
	}
	cr.log.Warn("another node took a room homed here: its members move there", "room_key", key)
	cr.mu.Lock()
	var legs []*call.Call
	for c, k := range cr.members {
		if k == key {
			legs = append(legs, c)
		}
	}
	for lm := range cr.locals {
		if lm.key == key {
			lm.cancel(errRoomLost)
		}
	}
	cr.mu.Unlock()
	for _, c := range legs {
		c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
	}
}

// memberLegs returns the ends of the internal legs that are callUUID's membership here, so a
// REST hang-up on the home answers once the member's node has taken the result.
func (cr *clusterRooms) memberLegs(callUUID string) []<-chan struct{} {
	if cr == nil {
		return nil
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var out []<-chan struct{}
	for c := range cr.members {
		if c.UUID() == callUUID {
			out = append(out, c.Done())
		}
	}
	return out
}

// quietRejoin keeps the room from greeting a member that only moves to a new home.
func quietRejoin(req *conference.JoinRequest) {
	none := ""
	req.EnterSound = &none
	req.Beep = false
}

// home returns the room's live home, claiming the room when none holds it.
func (cr *clusterRooms) home(ctx context.Context, key string) (cluster.Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	h, ok, err := cr.node.RoomHome(ctx, key)
	if err != nil {
		return cluster.Peer{}, err
	}
	if ok {
		return h, nil
	}
	return cr.node.ClaimRoom(ctx, key)
}

// joinRemote makes c a member of the room on home through an internal leg and relays between
// them until the member leaves. member says whether the home took it in; errLostHome that the
// home went away (the caller re-joins).
func (cr *clusterRooms) joinRemote(ctx context.Context, key string, home cluster.Peer, req conference.JoinRequest, c *call.Call, log *slog.Logger) (res conference.Result, member bool, err error) {
	self := cr.node.Self()
	body, err := json.Marshal(prepareRequest{MemberNode: self.ID, MemberBoot: self.BootID, Call: c.Identity(), Room: req.Room, Attrs: joinAttrsOf(req)})
	if err != nil {
		return conference.Result{}, false, err
	}
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	answer, err := cr.node.Call(rctx, home.ID, methodRoomPrepare, body)
	cancel()
	if err != nil {
		return conference.Result{}, false, fmt.Errorf("%w: room.prepare on %s: %w", errLostHome, home.ID, err)
	}
	var pa prepareAnswer
	if err := json.Unmarshal(answer, &pa); err != nil || pa.Token == "" {
		return conference.Result{}, false, fmt.Errorf("room.prepare on %s: bad answer %q", home.ID, answer)
	}
	results := make(chan conference.Result, 1)
	cr.mu.Lock()
	cr.waiting[pa.Token] = &remoteWait{callUUID: c.UUID(), results: results}
	cr.mu.Unlock()
	defer func() {
		cr.mu.Lock()
		delete(cr.waiting, pa.Token)
		cr.mu.Unlock()
	}()

	leg, err := cr.s.sip.Dial(ctx, call.DialRequest{
		Target: "sip:conference@" + home.SIPAddr, FromUser: "parley-" + self.ID,
		Headers: map[string]string{sip.JoinHeader: pa.Token}, RingTimeout: legAnswerTimeout,
	})
	if err != nil {
		return conference.Result{}, false, fmt.Errorf("%w: dialling %s: %w", errLostHome, home.SIPAddr, err)
	}
	if _, err := leg.WaitAnswer(ctx); err != nil {
		leg.Cancel()
		_ = leg.Hangup(context.Background())
		return conference.Result{}, false, fmt.Errorf("%w: internal leg to %s: %w", errLostHome, home.ID, err)
	}
	id := c.Identity()
	ic := call.New(call.Identity{AccountID: id.AccountID, Direction: call.Outbound, From: id.From, To: "conference", ALegUUID: id.UUID},
		leg, call.Options{MaxAnswered: -1, Logger: cr.log.With("internal_leg_of", id.UUID, "home", home.ID)})
	ic.MarkAnswered()
	// Hung up off this goroutine: a BYE to a dead home may wait up to half a second, which the
	// re-join must not.
	defer func() { go ic.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) }()
	icOut, err := ic.TakeOutput()
	if err != nil {
		return conference.Result{}, false, fmt.Errorf("%w: internal leg to %s: %w", errLostHome, home.ID, err)
	}
	defer icOut.Release()

	// The call's audio and digits go to the home, the room's to the call (its taps and
	// overlays see them as with a local room: req.Media is the call's output).
	c.SetAudioSink(flow.RelayAudio(icOut))
	c.SetDigitSink(func(d rune) { _ = icOut.SendDigit(d) })
	ic.SetAudioSink(flow.RelayAudio(req.Media))
	ic.SetDigitSink(func(d rune) { _ = req.Media.SendDigit(d) })
	defer func() {
		c.SetAudioSink(nil)
		c.SetDigitSink(nil)
		ic.SetAudioSink(nil)
		ic.SetDigitSink(nil)
	}()
	log.Info("joined the room on its home", "home", home.ID)

	tick := time.NewTicker(homeCheckEvery)
	defer tick.Stop()
	lastIn, lastSeen := ic.MediaStats().PacketsIn, time.Now()
	for {
		select {
		case res := <-results:
			if res.ConferenceUUID != "" {
				cr.s.lastRooms.set(id.UUID, res.ConferenceUUID)
			}
			return res, true, nil
		case <-ctx.Done():
			return conference.Result{Reason: conference.HungUp, ConferenceName: req.Room}, true, nil
		case <-ic.Done():
			return cr.afterHomeHungUp(ctx, key, home, results, req.Room)
		case <-tick.C:
			if n := ic.MediaStats().PacketsIn; n != lastIn {
				lastIn, lastSeen = n, time.Now()
				continue
			}
			if time.Since(lastSeen) < homeSilence {
				continue
			}
			if cr.homeGone(ctx, key, home) {
				return conference.Result{}, true, errLostHome
			}
		}
	}
}

// afterHomeHungUp decides about an internal leg the home ended: its result, if it comes
// soon, or a re-join once the room has a new home.
func (cr *clusterRooms) afterHomeHungUp(ctx context.Context, key string, home cluster.Peer, results <-chan conference.Result, room string) (conference.Result, bool, error) {
	deadline := time.NewTimer(homeChangeWait)
	defer deadline.Stop()
	tick := time.NewTicker(homeCheckEvery)
	defer tick.Stop()
	for {
		select {
		case res := <-results:
			return res, true, nil
		case <-ctx.Done():
			return conference.Result{Reason: conference.HungUp, ConferenceName: room}, true, nil
		case <-tick.C:
			if cr.homeGone(ctx, key, home) {
				return conference.Result{}, true, errLostHome
			}
		case <-deadline.C:
			return conference.Result{}, true, fmt.Errorf("the home %s ended the internal leg without a result", home.ID)
		}
	}
}

// homeGone tells whether home no longer holds the room (dead, restarted or released it).
func (cr *clusterRooms) homeGone(ctx context.Context, key string, home cluster.Peer) bool {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	h, ok, err := cr.node.RoomHome(ctx, key)
	if err != nil {
		return false // the bus, not the home, may be the trouble: ask again
	}
	return !ok || h.ID != home.ID || h.BootID != home.BootID
}

// handlePrepare is room.prepare on the home: it checks that the room lives here (claiming it
// when it is free) and issues the token of the internal leg.
func (cr *clusterRooms) handlePrepare(ctx context.Context, body []byte) ([]byte, error) {
	select {
	case <-cr.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var p prepareRequest
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("room.prepare: %w", err)
	}
	if p.Room == "" || p.MemberNode == "" || p.Call.UUID == "" {
		return nil, errors.New("room.prepare: room, member node and call are required")
	}
	if _, ok := cr.s.token(p.Call.AccountID); !ok {
		return nil, errors.New("room.prepare: unknown account")
	}
	home, err := cr.home(ctx, clusterRoomKey(p.Call.AccountID, p.Room))
	if err != nil {
		return nil, fmt.Errorf("room.prepare: %w", err)
	}
	if home.ID != cr.node.Self().ID {
		return nil, fmt.Errorf("room.prepare: the room's home is %s", home.ID)
	}
	return json.Marshal(prepareAnswer{Token: cr.tokens.issue(p)})
}

// handleResult is room.result on the member's node.
func (cr *clusterRooms) handleResult(_ context.Context, body []byte) ([]byte, error) {
	var m resultMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("room.result: %w", err)
	}
	cr.mu.Lock()
	w := cr.waiting[m.Token]
	cr.mu.Unlock()
	if w != nil {
		select {
		case w.results <- m.result():
		default:
		}
	}
	return []byte("{}"), nil
}

// enteredMessage is the body of room.entered: the member's node learns the room instance its
// call is in (the call record's ConferenceUUID) as soon as it is a member.
type enteredMessage struct {
	Token          string `json:"token"`
	ConferenceUUID string `json:"conference_uuid"`
}

// handleEntered is room.entered on the member's node.
func (cr *clusterRooms) handleEntered(_ context.Context, body []byte) ([]byte, error) {
	var m enteredMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("room.entered: %w", err)
	}
	cr.mu.Lock()
	w := cr.waiting[m.Token]
	cr.mu.Unlock()
	if w != nil && m.ConferenceUUID != "" {
		cr.s.lastRooms.set(w.callUUID, m.ConferenceUUID)
	}
	return []byte("{}"), nil
}

// acceptsJoin is the INVITE check of an internal leg: a valid token, before it costs anything.
func (cr *clusterRooms) acceptsJoin(token string) bool {
	return cr != nil && cr.tokens.valid(token)
}

// serveJoin runs an internal leg on the home: it becomes a member of the local room with the
// real call's identity, and the member's node learns how it left.
func (cr *clusterRooms) serveJoin(ctx context.Context, leg call.Leg) {
	info := leg.Info()
	p, ok := cr.tokens.take(info.JoinToken)
	if !ok {
		_ = leg.Reject(403, "Forbidden")
		return
	}
	authToken, _ := cr.s.token(p.Call.AccountID)
	log := cr.log.With("conference", p.Room, "call_uuid", p.Call.UUID, "member_node", p.MemberNode)
	// The member is the real call: its identity (CallUUID, From, To...) is what the room's
	// callbacks carry. The leg is neither a live call of this node nor a call record.
	// No media timeout: a caller on hold sends nothing to relay; the member node is watched.
	hc := call.New(p.Call, leg, call.Options{MaxAnswered: -1, Logger: log})
	defer hc.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
	if err := hc.Answer(ctx); err != nil {
		log.Warn("answering an internal leg failed", "err", err)
		return
	}
	out, err := hc.TakeOutput()
	if err != nil {
		return
	}
	cr.mu.Lock()
	cr.members[hc] = clusterRoomKey(p.Call.AccountID, p.Room)
	cr.mu.Unlock()
	defer func() {
		cr.mu.Lock()
		delete(cr.members, hc)
		cr.mu.Unlock()
	}()
	go cr.watchMemberNode(hc, p.MemberNode, p.MemberBoot)

	req := conference.NewJoinRequest(p.Call.AccountID, p.Room, conference.CallInfo{
		CallUUID: p.Call.UUID, From: p.Call.From, To: p.Call.To, CallerName: p.Call.CallerName, Direction: string(p.Call.Direction),
	}, out)
	p.Attrs.apply(&req)
	req.Data = &flow.MemberData{Call: hc, AuthToken: authToken}
	req.Attach = func(in *conference.MemberInput) {
		hc.SetAudioSink(in.PushFrame)
		hc.SetDigitSink(in.PushDigit)
		// The enter event has just recorded the room instance of the call.
		if room := cr.s.lastRooms.get(p.Call.UUID); room != "" {
			go cr.tell(p.MemberNode, methodRoomEntered, enteredMessage{Token: info.JoinToken, ConferenceUUID: room}, log)
		}
	}
	res, err := cr.local.Join(hc.Context(), req)
	cr.s.lastRooms.take(p.Call.UUID) // the call's record is kept by its own node
	hc.SetAudioSink(nil)
	hc.SetDigitSink(nil)
	out.Release()
	if hc.Context().Err() != nil {
		return // the member's node hung up (or this node is shutting down): nobody to tell
	}
	if err != nil {
		log.Warn("an internal leg could not join the room", "err", err)
		return
	}
	cr.tell(p.MemberNode, methodRoomResult, resultMessageOf(info.JoinToken, res), log)
}

// tell sends msg to method on a member's node.
func (cr *clusterRooms) tell(nodeID, method string, msg any, log *slog.Logger) {
	body, err := json.Marshal(msg)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	if _, err := cr.node.Call(ctx, nodeID, method, body); err != nil {
		log.Warn("a message to the member's node failed", "method", method, "err", err)
	}
}

// watchMemberNode hangs up an internal leg whose member node died: its call is gone with it.
func (cr *clusterRooms) watchMemberNode(hc *call.Call, nodeID, bootID string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-hc.Done():
			return
		case <-t.C:
			if p, ok := cr.node.Peer(nodeID); !ok || (bootID != "" && p.BootID != bootID) {
				hc.Logger().Info("the member's node is gone: the member leaves", "member_node", nodeID)
				hc.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
				return
			}
		}
	}
}

// hangupMembers ends the internal legs that are members here (shutdown): their nodes re-join
// the rooms elsewhere once this node has released them.
func (cr *clusterRooms) hangupMembers() {
	if cr == nil {
		return
	}
	cr.mu.Lock()
	legs := make([]*call.Call, 0, len(cr.members))
	for c := range cr.members {
		legs = append(legs, c)
	}
	cr.mu.Unlock()
	for _, c := range legs {
		c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
	}
}

// roomEnded gives up the lease of a room that emptied here; a room that came back to life
// meanwhile is claimed again.
func (cr *clusterRooms) roomEnded(account, name string) {
	if cr == nil {
		return
	}
	go func() {
		key := clusterRoomKey(account, name)
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		if err := cr.node.ReleaseRoom(ctx, key); err != nil {
			cr.log.Warn("releasing a room failed", "conference", name, "err", err)
		}
		if _, err := cr.s.conf.Get(ctx, account, name); err == nil {
			if h, err := cr.node.ClaimRoom(ctx, key); err != nil || h.ID != cr.node.Self().ID {
				cr.log.Warn("a room that lives here is held by another node", "conference", name, "home", h.ID, "err", err)
			}
		}
	}()
}
