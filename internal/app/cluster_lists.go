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
}

// liveCallPart is one live leg of a node's answer to "calls.live".
type liveCallPart struct {
	UUID    string    `json:"uuid"`
	Created time.Time `json:"created"`
}

// roomsQuery is the body of "conferences.list".
type roomsQuery struct {
	Account string `json:"account"`
}

// roomPart is one room of a node's answer to "conferences.list" (the rooms it is home of).
type roomPart struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
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
			return json.Marshal(s.localLiveCalls(q.Account, q.Filter))
		},
		methodConferencesList: func(ctx context.Context, body []byte) ([]byte, error) {
			var q roomsQuery
			if err := json.Unmarshal(body, &q); err != nil {
				return nil, fmt.Errorf("reading a conference list query: %w", err)
			}
			return json.Marshal(s.localRooms(ctx, q.Account))
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

func (s *Server) localLiveCalls(acct string, f api.CallFilter) []liveCallPart {
	out := []liveCallPart{}
	for _, id := range s.liveCalls(acct, f) {
		out = append(out, liveCallPart{UUID: id.UUID, Created: id.Created})
	}
	return out
}

// localRooms are the account's rooms with members that this node is home of, oldest first.
func (s *Server) localRooms(ctx context.Context, acct string) []roomPart {
	out := []roomPart{}
	for _, name := range s.conf.List(acct) {
		snap, err := s.conf.Get(ctx, acct, name)
		if err != nil {
			continue // it ended meanwhile
		}
		out = append(out, roomPart{Name: name, Started: snap.Started})
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
	s := a.s
	parts := gatherParts(ctx, s, methodCallsLive, listPartTimeout, liveCallsQuery{Account: acct, Filter: f},
		func() []liveCallPart { return s.localLiveCalls(acct, f) })
	slices.SortStableFunc(parts, func(a, b liveCallPart) int { return a.Created.Compare(b.Created) })
	var out []string
	seen := map[string]bool{}
	for _, p := range parts {
		if !seen[p.UUID] {
			seen[p.UUID] = true
			out = append(out, p.UUID)
		}
	}
	return out, nil
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
	s := c.s
	parts := gatherParts(ctx, s, methodConferencesList, listPartTimeout, roomsQuery{Account: acct},
		func() []roomPart { return s.localRooms(ctx, acct) })
	slices.SortStableFunc(parts, func(a, b roomPart) int { return a.Started.Compare(b.Started) })
	var out []string
	seen := map[string]bool{}
	for _, p := range parts {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p.Name)
		}
	}
	return out, nil
}

// listAdapters returns the REST adapters of the live lists: on a single node the local ones as
// they are; in a cluster the cluster-wide ones, and this node serves its parts.
func (s *Server) listAdapters(confs conferenceAPI, calls callsAPI) (api.Conferences, api.Calls) {
	if !s.clustered() {
		return confs, calls
	}
	return clusterConferences{conferenceAPI: confs, s: s}, clusterCalls{calls}
}
