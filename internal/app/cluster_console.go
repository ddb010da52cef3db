package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/console"
)

// The web console on a node of a cluster. Its live calls and rooms are the cluster-wide lists
// of the REST API (clusterCalls.live, clusterConferences.rooms, asking for the console's view of
// each). An action on a room or a call runs on the node that holds it, found as REST forwarding
// finds it (roomNode, callNode): there over the "console.action" method, on that node's own
// console adapters, which are the REST API's domain adapters. The event stream stays this
// node's: another node's changes show on the page's next snapshot.
//
// The HTTP listener serves the console while Start is still joining the cluster: until
// Server.joined is set (never, on a single node) the console uses the local adapters as they
// are, and reads no s.nodes.

// methodConsoleAction runs a console action on the node that holds its room or call.
const methodConsoleAction = "console.action"

// The console actions a node runs for another (consoleAction.Op).
const (
	consoleOpKick         = "kick"
	consoleOpMute         = "mute"
	consoleOpDeaf         = "deaf"
	consoleOpHangupMember = "hangup-member" // Member console.AllMembers: the whole room
	consoleOpPlay         = "play"
	consoleOpSpeak        = "speak"
	consoleOpRecord       = "record"
	consoleOpHangupCall   = "hangup-call"
	consoleOpTransfer     = "transfer"
)

// consoleAction is the body of "console.action": one call of the console's Conferences or
// Calls interface, for the node that holds the room or the call.
type consoleAction struct {
	Account string `json:"account"`
	Op      string `json:"op"`
	Room    string `json:"room,omitempty"`
	Member  int64  `json:"member,omitempty"`
	On      bool   `json:"on,omitempty"` // mute, deaf, record: on or off
	Call    string `json:"call,omitempty"`
	URL     string `json:"url,omitempty"`
	Text    string `json:"text,omitempty"`
}

// consoleActionResult is the answer to "console.action": what the adapter said, so that the
// console answers as it would for a room or call of its own node.
type consoleActionResult struct {
	Error    string `json:"error,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
}

// consoleHandlers are the methods of the console in a cluster.
func (s *Server) consoleHandlers() map[string]cluster.Handler {
	return map[string]cluster.Handler{
		methodConsoleAction: func(ctx context.Context, body []byte) ([]byte, error) {
			var a consoleAction
			if err := json.Unmarshal(body, &a); err != nil {
				return nil, fmt.Errorf("reading a console action: %w", err)
			}
			var res consoleActionResult
			if err := s.applyConsoleAction(ctx, a); err != nil {
				res = consoleActionResult{Error: err.Error(), NotFound: errors.Is(err, console.ErrNotFound)}
			}
			return json.Marshal(res)
		},
	}
}

// applyConsoleAction runs a on this node's console adapters.
func (s *Server) applyConsoleAction(ctx context.Context, a consoleAction) error {
	confs, calls := s.localConsoleConferences(), s.localConsoleCalls()
	switch a.Op {
	case consoleOpKick:
		return confs.Kick(ctx, a.Account, a.Room, a.Member)
	case consoleOpMute:
		return confs.Mute(ctx, a.Account, a.Room, a.Member, a.On)
	case consoleOpDeaf:
		return confs.Deaf(ctx, a.Account, a.Room, a.Member, a.On)
	case consoleOpHangupMember:
		return confs.Hangup(ctx, a.Account, a.Room, a.Member)
	case consoleOpPlay:
		return confs.Play(ctx, a.Account, a.Room, a.Member, a.URL)
	case consoleOpSpeak:
		return confs.Speak(ctx, a.Account, a.Room, a.Member, a.Text)
	case consoleOpRecord:
		return confs.Record(ctx, a.Account, a.Room, a.On)
	case consoleOpHangupCall:
		return calls.Hangup(ctx, a.Account, a.Call)
	case consoleOpTransfer:
		return calls.Transfer(ctx, a.Account, a.Call, a.URL)
	}
	return fmt.Errorf("unknown console action %q", a.Op)
}

// consoleActionOn runs a on node when remote, else on this node.
func (s *Server) consoleActionOn(ctx context.Context, node string, remote bool, a consoleAction) error {
	if !remote {
		return s.applyConsoleAction(ctx, a)
	}
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding a console action: %w", err)
	}
	out, err := s.nodes.Call(ctx, node, methodConsoleAction, body)
	if err != nil {
		s.log.Warn("a console action on another node failed", "node", node, "do", a.Op, "err", err)
		return fmt.Errorf("node %s, which holds it, did not answer; retry shortly: %w", node, err)
	}
	var res consoleActionResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("reading node %s's answer to a console action: %w", node, err)
	}
	switch {
	case res.NotFound:
		return console.ErrNotFound
	case res.Error != "":
		return errors.New(res.Error)
	}
	return nil
}

// clusterConsoleConferences are the console's rooms: the local adapter's until the server has
// joined a cluster (on a single node, always), every node's after.
type clusterConsoleConferences struct{ s *Server }

func (c clusterConsoleConferences) Rooms(ctx context.Context, acct string) ([]console.Room, error) {
	if !c.s.joined.Load() {
		return c.s.localConsoleConferences().Rooms(ctx, acct)
	}
	var out []console.Room
	for _, p := range (clusterConferences{conferenceAPI: c.s.localConferences(), s: c.s}).rooms(ctx, acct, true) {
		if p.Console == nil { // a node that sent no console view
			p.Console = &console.Room{Name: p.Name, Started: p.Started, Members: []console.Member{}}
		}
		out = append(out, *p.Console)
	}
	return out, nil
}

// at runs a on the room's home.
func (c clusterConsoleConferences) at(ctx context.Context, a consoleAction) error {
	if !c.s.joined.Load() {
		return c.s.applyConsoleAction(ctx, a)
	}
	node, remote := c.s.roomNode(ctx, a.Account, a.Room)
	return c.s.consoleActionOn(ctx, node, remote, a)
}

func (c clusterConsoleConferences) Kick(ctx context.Context, acct, room string, member int64) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpKick, Room: room, Member: member})
}

func (c clusterConsoleConferences) Mute(ctx context.Context, acct, room string, member int64, on bool) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpMute, Room: room, Member: member, On: on})
}

func (c clusterConsoleConferences) Deaf(ctx context.Context, acct, room string, member int64, on bool) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpDeaf, Room: room, Member: member, On: on})
}

func (c clusterConsoleConferences) Hangup(ctx context.Context, acct, room string, member int64) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpHangupMember, Room: room, Member: member})
}

func (c clusterConsoleConferences) Play(ctx context.Context, acct, room string, member int64, rawURL string) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpPlay, Room: room, Member: member, URL: rawURL})
}

func (c clusterConsoleConferences) Speak(ctx context.Context, acct, room string, member int64, text string) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpSpeak, Room: room, Member: member, Text: text})
}

func (c clusterConsoleConferences) Record(ctx context.Context, acct, room string, on bool) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpRecord, Room: room, On: on})
}

// clusterConsoleCalls are the console's live calls: the local adapter's until the server has
// joined a cluster (on a single node, always), every node's after.
type clusterConsoleCalls struct{ s *Server }

func (c clusterConsoleCalls) Live(ctx context.Context, acct string) ([]console.Call, error) {
	if !c.s.joined.Load() {
		return c.s.localConsoleCalls().Live(ctx, acct)
	}
	var out []console.Call
	for _, p := range (clusterCalls{callsAPI{c.s}}).live(ctx, acct, api.CallFilter{}, true) {
		if p.Console == nil { // a node that sent no console view
			p.Console = &console.Call{UUID: p.UUID, Started: p.Created}
		}
		out = append(out, *p.Console)
	}
	return out, nil
}

// at runs a on the node of the call.
func (c clusterConsoleCalls) at(ctx context.Context, a consoleAction) error {
	if !c.s.joined.Load() {
		return c.s.applyConsoleAction(ctx, a)
	}
	node, remote := c.s.callNode(ctx, a.Call)
	return c.s.consoleActionOn(ctx, node, remote, a)
}

func (c clusterConsoleCalls) Hangup(ctx context.Context, acct, callUUID string) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpHangupCall, Call: callUUID})
}

func (c clusterConsoleCalls) Transfer(ctx context.Context, acct, callUUID, rawURL string) error {
	return c.at(ctx, consoleAction{Account: acct, Op: consoleOpTransfer, Call: callUUID, URL: rawURL})
}
