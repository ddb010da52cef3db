package app

import (
	"context"
	"errors"
	"io"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/console"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/voice"
)

// newConsole builds the web console on the same adapters as the REST API (conferenceAPI,
// callsAPI, recordingAPI, accountsAPI), so a click does exactly what the matching REST request
// does. Calls starting and ending reach open consoles through the registry; room events
// through onConferenceEvent (consoleEvent). On a node of a cluster its live lists and actions
// cover every node, its events only this node (cluster_console.go); until the node has joined,
// and on a single node, they are the local adapters (consoleConferences, consoleCalls).
func (s *Server) newConsole() *console.Console {
	c := console.New(console.Options{
		Accounts:    accountsAPI{s},
		Conferences: clusterConsoleConferences{s},
		Calls:       clusterConsoleCalls{s},
		Deliveries:  consoleDeliveries{st: s.store},
		Recordings:  consoleRecordings{api: recordingAPI{st: s.store, open: s.openRecordingFile}},
		Logger:      s.log,
	})
	s.calls.OnChange(func(acct string) { c.Publish(console.Event{Account: acct, Kind: console.EventCall}) })
	return c
}

// consoleEvent tells the account's open consoles about a room event. It runs on the room
// goroutine; Publish never blocks.
func (s *Server) consoleEvent(ev conference.Event) {
	if s.console == nil {
		return
	}
	out := console.Event{Account: ev.AccountID, Room: ev.ConferenceName, Member: ev.MemberID}
	switch ev.Kind {
	case conference.EventEnter, conference.EventExit:
		out.Kind = console.EventRoom
	case conference.EventTalking:
		out.Kind, out.Talking = console.EventTalking, ev.Talking
	case conference.EventRecordingDone:
		out.Kind = console.EventRecording
	default:
		return
	}
	s.console.Publish(out)
}

// consoleConferences adapts conferenceAPI (the REST API's adapter) to the console for the rooms
// this node is home of; the room listing reads the manager's snapshots, which carry the talking
// flags the REST view has not.
type consoleConferences struct{ api conferenceAPI }

func (s *Server) localConsoleConferences() consoleConferences {
	return consoleConferences{api: s.localConferences()}
}

func one(member int64) api.MemberSelector {
	if member == console.AllMembers {
		return api.MemberSelector{All: true}
	}
	return api.MemberSelector{IDs: []int64{member}}
}

func (c consoleConferences) Rooms(ctx context.Context, acct string) ([]console.Room, error) {
	var out []console.Room
	for _, name := range c.api.m.List(acct) {
		snap, err := c.api.m.Get(ctx, acct, name)
		if errors.Is(err, conference.ErrConferenceNotFound) {
			continue // ended since it was listed
		}
		if err != nil {
			return out, err
		}
		out = append(out, consoleRoom(snap))
	}
	return out, nil
}

// consoleRoom is the console's view of a room.
func consoleRoom(snap conference.Snapshot) console.Room {
	room := console.Room{Name: snap.Name, Started: snap.Started, Members: make([]console.Member, len(snap.Members))}
	for i, m := range snap.Members {
		room.Members[i] = console.Member{
			ID: m.ID, From: m.Call.From, To: m.Call.To, CallerName: m.Call.CallerName, Direction: m.Call.Direction,
			CallUUID: m.Call.CallUUID, Muted: m.Muted, Deaf: m.Deaf, Waiting: m.Waiting, Talking: m.Talking, Joined: m.Joined,
		}
	}
	return room
}

func (c consoleConferences) Kick(ctx context.Context, acct, room string, member int64) error {
	return c.api.Kick(ctx, acct, room, one(member))
}

func (c consoleConferences) Mute(ctx context.Context, acct, room string, member int64, on bool) error {
	if on {
		return c.api.Mute(ctx, acct, room, one(member))
	}
	return c.api.Unmute(ctx, acct, room, one(member))
}

func (c consoleConferences) Deaf(ctx context.Context, acct, room string, member int64, on bool) error {
	if on {
		return c.api.Deaf(ctx, acct, room, one(member))
	}
	return c.api.Undeaf(ctx, acct, room, one(member))
}

func (c consoleConferences) Hangup(ctx context.Context, acct, room string, member int64) error {
	if member == console.AllMembers {
		return c.api.HangupRoom(ctx, acct, room)
	}
	return c.api.HangupMembers(ctx, acct, room, one(member))
}

func (c consoleConferences) Play(ctx context.Context, acct, room string, member int64, rawURL string) error {
	return c.api.Play(ctx, acct, room, one(member), rawURL)
}

// Speak uses the REST API's defaults for voice and language.
func (c consoleConferences) Speak(ctx context.Context, acct, room string, member int64, text string) error {
	return c.api.Speak(ctx, acct, room, one(member), text, voice.Woman, voice.DefaultLanguage)
}

// Record starts a room recording in the REST API's default format, or stops it.
func (c consoleConferences) Record(ctx context.Context, acct, room string, on bool) error {
	if !on {
		return c.api.StopRecording(ctx, acct, room)
	}
	_, err := c.api.StartRecording(ctx, acct, room, api.RecordParams{FileFormat: "mp3"})
	return err
}

// consoleCalls lists this node's live calls with their media figures; commands go through
// callsAPI.
type consoleCalls struct {
	s   *Server
	api callsAPI
}

func (s *Server) localConsoleCalls() consoleCalls { return consoleCalls{s: s, api: callsAPI{s}} }

func (c consoleCalls) Live(_ context.Context, acct string) ([]console.Call, error) {
	var out []console.Call
	for _, x := range c.s.calls.List(acct) {
		out = append(out, consoleCall(x))
	}
	return out, nil
}

// consoleCall is the console's view of a live call.
func consoleCall(x *call.Call) console.Call {
	id, st := x.Identity(), x.MediaStats()
	v := console.Call{
		UUID: id.UUID, From: id.From, To: id.To, Direction: string(id.Direction), State: x.State().String(),
		Started: id.Created, Codec: x.Codec().String(),
		PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, PacketsLost: st.PacketsLost,
		JitterMs: float64(st.Jitter.Microseconds()) / 1000,
	}
	if x.State() == call.Answered {
		v.Answered = x.AnswerTime()
	}
	return v
}

func (c consoleCalls) Hangup(ctx context.Context, acct, uuid string) error {
	return consoleErr(c.api.Hangup(ctx, acct, uuid))
}

func (c consoleCalls) Transfer(ctx context.Context, acct, uuid, rawURL string) error {
	return consoleErr(c.api.Transfer(ctx, acct, uuid, api.TransferParams{Legs: "aleg", ALegURL: rawURL, ALegMethod: "POST"}))
}

// consoleErr maps the REST adapters' not-found answers to the console's.
func consoleErr(err error) error {
	if errors.Is(err, api.ErrCallNotFound) || errors.Is(err, api.ErrRecordingNotFound) {
		return console.ErrNotFound
	}
	return err
}

// consoleDeliveries reads the webhook outbox.
type consoleDeliveries struct{ st store.OutboxLister }

func (d consoleDeliveries) Recent(ctx context.Context, acct string, limit int) ([]console.Delivery, error) {
	rows, err := d.st.RecentOutbox(ctx, acct, limit)
	if err != nil {
		return nil, err
	}
	out := make([]console.Delivery, len(rows))
	for i, r := range rows {
		v := console.Delivery{
			ID: r.ID, URL: r.URL, Method: r.Method, Event: r.Params.Get("Event"), State: r.State.String(),
			Attempts: r.Attempts, LastError: r.LastError, Created: r.CreatedAt, Finished: r.FinishedAt,
		}
		if v.Event == "" && r.Params.Has("HangupCause") {
			v.Event = "Hangup"
		}
		switch r.State {
		case store.OutboxPending:
			v.NextAttempt = r.NextAttempt
		case store.OutboxDelivered:
			v.Attempts++ // the outbox counts failed attempts; the one that succeeded is not among them
		}
		out[i] = v
	}
	return out, nil
}

// consoleRecordings adapts recordingAPI (the REST API's adapter) to the console. The console
// plays the files on its node's disk only: another node's file is not found.
type consoleRecordings struct{ api recordingAPI }

func consoleRecording(r api.Recording) console.Recording {
	return console.Recording{
		ID: r.ID, Type: r.Type, CallUUID: r.CallUUID, ConferenceName: r.ConferenceName, Format: r.Format,
		DurationMs: r.Duration.Milliseconds(), Added: r.AddTime,
	}
}

func (r consoleRecordings) List(ctx context.Context, acct string, limit int) ([]console.Recording, error) {
	rows, _, err := r.api.List(ctx, acct, api.RecordingFilter{Page: api.Page{Limit: limit}})
	if err != nil {
		return nil, err
	}
	out := make([]console.Recording, len(rows))
	for i, row := range rows {
		out[i] = consoleRecording(row)
	}
	return out, nil
}

func (r consoleRecordings) Open(ctx context.Context, acct, id string) (io.ReadSeekCloser, console.Recording, error) {
	rec, err := r.api.Get(ctx, acct, id)
	if err != nil {
		return nil, console.Recording{}, consoleErr(err)
	}
	f, _, _, err := r.api.Open(ctx, acct, id, rec.Format)
	if err != nil {
		return nil, console.Recording{}, consoleErr(err)
	}
	return f, consoleRecording(rec), nil
}

func (r consoleRecordings) Delete(ctx context.Context, acct, id string) error {
	return consoleErr(r.api.Delete(ctx, acct, id))
}
