package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/console"
)

// Cluster-wide lists: every live node's part, asked for concurrently and merged. A node that
// does not answer in time is left out (it is dying or gone, and its calls and rooms with it).
const (
	methodCallsLive       = "calls.live"
	methodConferencesList = "conferences.list"
	// methodConferencesHangupAll is DELETE /Conference/ on the rooms a node is home of.
	methodConferencesHangupAll = "conferences.hangup_all"
	// listPartTimeout bounds the wait for one node's part of a list.
	listPartTimeout = 3 * time.Second
)

// liveCallsQuery is the body of "calls.live".
type liveCallsQuery struct {
	Account string         `json:"account"`
	Filter  api.CallFilter `json:"filter"`
	// Console asks for the web console's view of each call too (state, codec, media figures);
	// the REST list needs only the ids.
	Console bool `json:"console,omitempty"`
}

// liveCallPart is one live leg of a node's answer to "calls.live".
type liveCallPart struct {
	UUID    string        `json:"uuid"`
	Created time.Time     `json:"created"`
	Console *console.Call `json:"console,omitempty"`
}

// roomsQuery is the body of "conferences.list".
type roomsQuery struct {
	Account string `json:"account"`
	// Console asks for the web console's view of each room too (its members).
	Console bool `json:"console,omitempty"`
}

// roomPart is one room of a node's answer to "conferences.list" (the rooms it is home of).
type roomPart struct {
	Name    string        `json:"name"`
	Started time.Time     `json:"started"`
	Console *console.Room `json:"console,omitempty"`
}

// restHandlers are the methods of REST on any node: forwarded requests and this node's parts
// of the lists.
func (s *Server) restHandlers() map[string]cluster.Handler {
	return map[string]cluster.Handler{
		methodHTTP: s.serveHTTPMethod,
		methodCallsLive: func(_ context.Context, body []byte) ([]byte, error) {
			var q liveCallsQuery
			if err := json.Unmarshal(body, &q); err != nil {
				return nil, fmt.Errorf("reading a live calls query: %w", err)
			}
			return json.Marshal(s.localLiveCalls(q.Account, q.Filter, q.Console))
		},
		methodConferencesList: func(ctx context.Context, body []byte) ([]byte, error) {
			var q roomsQuery
			if err := json.Unmarshal(body, &q); err != nil {
				return nil, fmt.Errorf("reading a conference list query: %w", err)
			}
			return json.Marshal(s.localRooms(ctx, q.Account, q.Console))
		},
		methodConferencesHangupAll: func(ctx context.Context, body []byte) ([]byte, error) {
			var q roomsQuery
			if err := json.Unmarshal(body, &q); err != nil {
				return nil, fmt.Errorf("reading a hang-up of all conferences: %w", err)
			}
			return []byte("[]"), s.localConferences().HangupAll(ctx, q.Account)
		},
	}
}

// localConferences is the REST adapter of the rooms this node is home of.
func (s *Server) localConferences() conferenceAPI {
	return conferenceAPI{m: s.conf, audio: s.runner.Audio, synth: s.synth, awaitEnded: s.awaitEnded}
}

// localLiveCalls are the account's live legs on this node that match f, with the console's
// view of each when withConsole.
func (s *Server) localLiveCalls(acct string, f api.CallFilter, withConsole bool) []liveCallPart {
	out := []liveCallPart{}
	for _, c := range s.liveCalls(acct, f) {
		id := c.Identity()
		p := liveCallPart{UUID: id.UUID, Created: id.Created}
		if withConsole {
			v := consoleCall(c)
			p.Console = &v
		}
		out = append(out, p)
	}
	return out
}

// localRooms are the account's rooms with members that this node is home of, oldest first,
// with the console's view of each when withConsole.
func (s *Server) localRooms(ctx context.Context, acct string, withConsole bool) []roomPart {
	out := []roomPart{}
	for _, name := range s.conf.List(acct) {
		snap, err := s.conf.Get(ctx, acct, name)
		if err != nil {
			continue // it ended meanwhile
		}
		p := roomPart{Name: name, Started: snap.Started}
		if withConsole {
			v := consoleRoom(snap)
			p.Console = &v
		}
		out = append(out, p)
	}
	return out
}

// gatherParts returns every live node's part of a list: this node's from local, the others'
// from method. The parts come in the order of the peers (sorted by node id). Before the node
// has joined, the list is this node's.
func gatherParts[T any](ctx context.Context, s *Server, method string, timeout time.Duration, query any, local func() []T) []T {
	if s.nodes == nil {
		return local()
	}
	body, err := json.Marshal(query)
	if err != nil {
		s.log.Error("encoding a list query", "method", method, "err", err)
		return local()
	}
	peers := s.nodes.Peers()
	self := s.nodes.Self().ID
	parts := make([][]T, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		if p.ID == self {
			parts[i] = local()
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out, err := s.nodes.Call(ctx, p.ID, method, body)
			if err == nil {
				err = json.Unmarshal(out, &parts[i])
			}
			if err != nil {
				s.log.Warn("a node's part of a list is missing", "node", p.ID, "method", method, "err", err)
			}
		})
	}
	wg.Wait()
	var all []T
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// clusterCalls lists the live calls of every node.
type clusterCalls struct{ callsAPI }

func (a clusterCalls) List(ctx context.Context, acct string, f api.CallFilter) ([]string, error) {
	var out []string
	for _, p := range a.live(ctx, acct, f, false) {
		out = append(out, p.UUID)
	}
	return out, nil
}

// live are the live legs of every node that match f, oldest first, each once; with the
// console's view of each when withConsole (the REST list and the console share this rule).
func (a clusterCalls) live(ctx context.Context, acct string, f api.CallFilter, withConsole bool) []liveCallPart {
	s := a.s
	parts := gatherParts(ctx, s, methodCallsLive, listPartTimeout, liveCallsQuery{Account: acct, Filter: f, Console: withConsole},
		func() []liveCallPart { return s.localLiveCalls(acct, f, withConsole) })
	slices.SortStableFunc(parts, func(a, b liveCallPart) int { return a.Created.Compare(b.Created) })
	var out []liveCallPart
	seen := map[string]bool{}
	for _, p := range parts {
		if !seen[p.UUID] {
			seen[p.UUID] = true
			out = append(out, p)
		}
	}
	return out
}

// clusterConferences lists the rooms of every node. A room being re-homed may show on two
// nodes for a moment; it is listed once.
type clusterConferences struct {
	conferenceAPI
	s *Server
}

// HangupAll ends the members' calls of every room of the account on every node; the answer
// waits for every node (each waits for its calls, bounded), and a node that fails is logged.
func (c clusterConferences) HangupAll(ctx context.Context, acct string) error {
	s := c.s
	errs := gatherParts(ctx, s, methodConferencesHangupAll, forwardTimeout, roomsQuery{Account: acct}, func() []error {
		return []error{c.conferenceAPI.HangupAll(ctx, acct)}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (c clusterConferences) List(ctx context.Context, acct string) ([]string, error) {
	var out []string
	for _, p := range c.rooms(ctx, acct, false) {
		out = append(out, p.Name)
	}
	return out, nil
}

// rooms are the rooms of every node, oldest first, each once; with the console's view of each
// when withConsole (the REST list and the console share this rule).
func (c clusterConferences) rooms(ctx context.Context, acct string, withConsole bool) []roomPart {
	s := c.s
	parts := gatherParts(ctx, s, methodConferencesList, listPartTimeout, roomsQuery{Account: acct, Console: withConsole},
		func() []roomPart { return s.localRooms(ctx, acct, withConsole) })
	slices.SortStableFunc(parts, func(a, b roomPart) int { return a.Started.Compare(b.Started) })
	var out []roomPart
	seen := map[string]bool{}
	for _, p := range parts {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p)
		}
	}
	return out
}

// listAdapters returns the REST adapters of the live lists: on a single node the local ones as
// they are; in a cluster the cluster-wide ones, and this node serves its parts.
func (s *Server) listAdapters(confs conferenceAPI, calls callsAPI) (api.Conferences, api.Calls) {
	if !s.clustered() {
		return confs, calls
	}
	return clusterConferences{conferenceAPI: confs, s: s}, clusterCalls{calls}
}
