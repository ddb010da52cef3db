package app

import (
	"context"
	"errors"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/store"
)

// The call directory and the reaper of a dead node's calls (docs/cluster.md). Each leg's row
// names the node and boot that hold it; when a boot dies, a survivor ends its live legs in the
// store with cause 5030 Node Failure and queues their hangup webhooks, in one transaction that
// only one survivor wins per leg.

// reapTimeout bounds one closing of a dead boot's calls.
const reapTimeout = 30 * time.Second

// ownsCallRecords reports whether this server keeps, in its legs' records, the node and boot
// that hold them and their hangup webhooks, so that the legs a dead process left live can be
// closed with their webhooks: a cluster node always; a single node on its own SQLite file
// (nothing else writes there, so every live leg of another boot is its own earlier run's). A
// single node on a PostgreSQL it may share with other unclustered processes keeps nothing:
// it cannot tell their live legs from its own.
func (s *Server) ownsCallRecords() bool {
	return s.nodes != nil || s.cfg.DatabaseURL == ""
}

// self is the node and boot this process records its legs under: the cluster's view in a
// cluster, else the configured node id and this process's boot id.
func (s *Server) self() (nodeID, bootID string) {
	if s.nodes != nil {
		p := s.nodes.Self()
		return p.ID, p.BootID
	}
	return s.cfg.NodeID(), s.bootID
}

// clusterCallRecord adds to a new leg's record the node and boot that hold it and, when it has
// a hangup webhook, where it goes and its parameters as known now (see ownsCallRecords).
func (s *Server) clusterCallRecord(rec *store.CallRecord, c *call.Call, hangupURL, hangupMethod string) {
	if !s.ownsCallRecords() {
		return
	}
	rec.NodeID, rec.BootID = s.self()
	if hangupURL != "" {
		rec.HangupURL, rec.HangupMethod, rec.HangupParams = hangupURL, hangupMethod, flow.CallParams(c, "Hangup")
	}
}

// callOptions are the options of a call this node holds. Where the records are owned, its
// answer time goes to its record at once, so that the leg closed after this process's death
// reports it answered (CallStatus, AnswerTime, Duration).
func (s *Server) callOptions() call.Options {
	o := call.Options{MediaTimeout: s.cfg.MediaTimeout, MaxAnswered: s.cfg.MaxCallDuration, Logger: s.log}
	if s.ownsCallRecords() {
		o.OnAnswer = s.recordAnswer
	}
	return o
}

// recordAnswer stores the answer time of a live leg, off the answering goroutine.
func (s *Server) recordAnswer(c *call.Call) {
	at := c.AnswerTime()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), reapTimeout)
		defer cancel()
		err := s.store.UpdateCall(ctx, c.UUID(), store.CallPatch{AnswerTime: &at, WhileLive: true})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			c.Logger().Warn("storing the answer time failed", "err", err)
		}
	}()
}

// onPeerDown is cluster.Options.PeerDown: every survivor runs it for a dead boot, and the
// store decides which of them closes each leg.
func (s *Server) onPeerDown(p cluster.Peer) {
	s.closeNodeCalls(store.NodeBoot{NodeID: p.ID, BootID: p.BootID}, "node died")
}

// closeEarlierBoots ends the legs that an earlier run of this node left live (it was killed
// or lost its database); it runs once the node has joined, before it takes calls.
func (s *Server) closeEarlierBoots() {
	id, boot := s.self()
	s.closeNodeCalls(store.NodeBoot{NodeID: id, BootID: boot, OtherBoots: true}, "earlier run of this node")
}

func (s *Server) closeNodeCalls(nb store.NodeBoot, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), reapTimeout)
	defer cancel()
	cause := call.CauseNodeFailure
	closed, err := s.store.CloseNodeCalls(ctx, nb, store.CallClosing{
		EndTime: time.Now().UTC(), HangupCauseCode: cause.Code, HangupCause: cause.Cause,
		HangupCauseName: cause.Name, HangupSource: call.SourceError, Finish: s.nodeFailureHangup,
	})
	if err != nil {
		s.log.Error("closing the calls of a dead node", "node", nb.NodeID, "boot_id", nb.BootID, "reason", why, "err", err)
		return
	}
	for _, rec := range closed {
		s.log.Info("call ended: its node died", "call_uuid", rec.CallUUID, "node", nb.NodeID, "boot_id", rec.BootID,
			"hangup_webhook", rec.HangupURL != "")
	}
	if len(closed) > 0 || nb.OtherBoots {
		s.log.Info("closed the calls of a dead node", "node", nb.NodeID, "boot_id", nb.BootID, "reason", why, "calls", len(closed))
	}
}

// nodeFailureHangup is the final status and hangup webhook of a leg closed by closeNodeCalls:
// the parameters stored at its start completed as a hangup of its ended row would be.
func (s *Server) nodeFailureHangup(rec store.CallRecord) (string, *store.OutboxItem) {
	id := call.Identity{UUID: rec.CallUUID, AccountID: rec.AuthID, Direction: call.Direction(rec.Direction), Created: rec.StartTime}
	o := call.Outcome{Cause: call.CauseNodeFailure, Source: rec.HangupSource, Ended: *rec.EndTime}
	if rec.AnswerTime != nil {
		o.Answered = *rec.AnswerTime
	}
	status := flow.FinalStatus(id, o)
	if rec.HangupURL == "" {
		return status, nil
	}
	n, err := s.dispatcher.Prepare(webhookNotification(rec.AuthID, rec.HangupURL, rec.HangupMethod,
		flow.EndedCallParams(rec.HangupParams, id, o), rec.CallUUID))
	if err != nil {
		s.log.Error("the hangup webhook of a dead node's call", "call_uuid", rec.CallUUID, "err", err)
		return status, nil
	}
	item := store.OutboxItem(n)
	return status, &item
}

// startCluster is what a node does in Start before it takes calls: it closes the legs its
// earlier run left live (a cluster node, or a single node on its own SQLite file).
func (s *Server) startCluster() {
	if !s.ownsCallRecords() {
		return
	}
	s.closeEarlierBoots()
}
