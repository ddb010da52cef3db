package storetest

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

// testLiveCallNode: the call directory names the node of a live leg only.
func testLiveCallNode(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	start := at(1)
	for _, c := range []store.CallRecord{
		{CallUUID: "live-a", AuthID: "MA_A", Direction: "inbound", StartTime: start, NodeID: "node-a", BootID: "b1"},
		{CallUUID: "live-single", AuthID: "MA_A", Direction: "inbound", StartTime: start},
		{CallUUID: "ended-a", AuthID: "MA_A", Direction: "inbound", StartTime: start, EndTime: &start, NodeID: "node-a", BootID: "b1"},
	} {
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if node, err := s.LiveCallNode(ctx, "live-a"); err != nil || node != "node-a" {
		t.Errorf("LiveCallNode(live-a) = %q, %v; want node-a", node, err)
	}
	if node, err := s.LiveCallNode(ctx, "live-single"); err != nil || node != "" {
		t.Errorf("LiveCallNode(live-single) = %q, %v; want \"\"", node, err)
	}
	for _, id := range []string{"ended-a", "unknown"} {
		_, err := s.LiveCallNode(ctx, id)
		wantErr(t, "LiveCallNode("+id+")", err, store.ErrNotFound)
	}
	end := at(5)
	answer := at(2)
	if err := s.UpdateCall(ctx, "live-a", store.CallPatch{AnswerTime: &answer, WhileLive: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCall(ctx, "live-a", store.CallPatch{EndTime: &end, CallStatus: ptr("completed"), WhileLive: true}); err != nil {
		t.Fatal(err)
	}
	_, err := s.LiveCallNode(ctx, "live-a")
	wantErr(t, "LiveCallNode after the end", err, store.ErrNotFound)

	// Once ended, an update while live changes nothing: the node that was taken for dead
	// does not overwrite what a survivor wrote.
	later := at(9)
	wantErr(t, "update of an ended leg while live",
		s.UpdateCall(ctx, "live-a", store.CallPatch{EndTime: &later, CallStatus: ptr("failed"), WhileLive: true}), store.ErrConflict)
	if got, err := s.GetCall(ctx, "live-a"); err != nil || !got.EndTime.Equal(end) || got.CallStatus != "completed" ||
		!got.AnswerTime.Equal(answer) {
		t.Errorf("after a refused update: %+v, %v", got, err)
	}
	wantErr(t, "update of an unknown leg while live",
		s.UpdateCall(ctx, "unknown", store.CallPatch{EndTime: &later, WhileLive: true}), store.ErrNotFound)
}

// nodeClosing is the CallClosing of the tests: status "failed" for outbound legs never
// answered, else "completed"; a notification for each leg with a hangup URL, whose params are
// the stored ones plus the cause.
func nodeClosing(end time.Time) store.CallClosing {
	return store.CallClosing{
		EndTime: end, HangupCauseCode: 5030, HangupCause: "NORMAL_TEMPORARY_FAILURE", HangupCauseName: "Node Failure",
		HangupSource: "Error",
		Finish: func(c store.CallRecord) (string, *store.OutboxItem) {
			status := "completed"
			if c.Direction == "outbound" && c.AnswerTime == nil {
				status = "failed"
			}
			if c.HangupURL == "" {
				return status, nil
			}
			p := url.Values{}
			for k, v := range c.HangupParams {
				p[k] = v
			}
			p.Set("HangupCauseCode", fmt.Sprint(c.HangupCauseCode))
			p.Set("EndTime", fmt.Sprint(c.EndTime.Unix()))
			return status, &store.OutboxItem{ID: "hangup-" + c.CallUUID, AuthID: c.AuthID, URL: c.HangupURL,
				Method: c.HangupMethod, Params: p, OrderKey: c.CallUUID, CreatedAt: end, NextAttempt: end}
		},
	}
}

// testCloseNodeCalls: the live legs of the selected node boot are ended with the cause, get
// the status Finish gives, and their notifications are queued; nothing else changes, and a
// second run closes nothing.
func testCloseNodeCalls(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	start, answered, ended := at(1), at(2), at(3)
	legs := []store.CallRecord{
		{CallUUID: "in", AuthID: "MA_A", Direction: "inbound", From: "14155550100", To: "sip:bob@h", StartTime: start,
			NodeID: "node-a", BootID: "b1", HangupURL: "http://app/hangup", HangupMethod: "POST",
			HangupParams: url.Values{"CallUUID": {"in"}, "Event": {"Hangup"}}},
		{CallUUID: "out-answered", AuthID: "MA_A", Direction: "outbound", StartTime: start, AnswerTime: &answered,
			NodeID: "node-a", BootID: "b1", HangupURL: "http://app/h2", HangupMethod: "GET",
			HangupParams: url.Values{"CallUUID": {"out-answered"}}},
		{CallUUID: "out-ringing", AuthID: "MA_B", Direction: "outbound", StartTime: start,
			NodeID: "node-a", BootID: "b1", HangupURL: "http://app/h3", HangupMethod: "POST"},
		{CallUUID: "b-leg", AuthID: "MA_A", ParentCallUUID: "in", Direction: "outbound", StartTime: start,
			NodeID: "node-a", BootID: "b1"},
		// Not selected: ended already, another boot, another node, a single node's leg.
		{CallUUID: "ended", AuthID: "MA_A", Direction: "inbound", StartTime: start, EndTime: &ended, CallStatus: "completed",
			HangupCauseCode: 4000, NodeID: "node-a", BootID: "b1", HangupURL: "http://app/hangup"},
		{CallUUID: "other-boot", AuthID: "MA_A", Direction: "inbound", StartTime: start, NodeID: "node-a", BootID: "b2",
			HangupURL: "http://app/hangup"},
		{CallUUID: "other-node", AuthID: "MA_A", Direction: "inbound", StartTime: start, NodeID: "node-b", BootID: "b1",
			HangupURL: "http://app/hangup"},
		{CallUUID: "single", AuthID: "MA_A", Direction: "inbound", StartTime: start, HangupURL: "http://app/hangup"},
	}
	for _, c := range legs {
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CloseNodeCalls(ctx, store.NodeBoot{BootID: "b1"}, nodeClosing(at(10)))
	wantErr(t, "empty node id", err, store.ErrInvalid)

	end := time.Date(2026, 1, 1, 0, 0, 10, 500, time.UTC)
	closing := nodeClosing(end)
	closed, err := s.CloseNodeCalls(ctx, store.NodeBoot{NodeID: "node-a", BootID: "b1"}, closing)
	if err != nil {
		t.Fatal(err)
	}
	var want []store.CallRecord
	for _, c := range legs[:4] {
		c.EndTime = &end
		c.HangupCauseCode, c.HangupCause, c.HangupCauseName, c.HangupSource = 5030, "NORMAL_TEMPORARY_FAILURE", "Node Failure", "Error"
		c.CallStatus, _ = closing.Finish(c)
		want = append(want, c)
	}
	slices.SortFunc(want, func(a, b store.CallRecord) int {
		if a.CallUUID < b.CallUUID {
			return -1
		}
		return 1
	})
	if !reflect.DeepEqual(closed, want) {
		t.Fatalf("closed:\n got %+v\nwant %+v", closed, want)
	}
	for _, c := range want {
		got, err := s.GetCall(ctx, c.CallUUID)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("GetCall(%s) = %+v, %v\nwant %+v", c.CallUUID, got, err, c)
		}
		if _, err := s.LiveCallNode(ctx, c.CallUUID); err == nil {
			t.Errorf("%s is still live", c.CallUUID)
		}
	}
	for _, id := range []string{"other-boot", "other-node", "single"} {
		if got, err := s.GetCall(ctx, id); err != nil || got.EndTime != nil {
			t.Errorf("%s = %+v, %v; want it live", id, got, err)
		}
	}
	// One notification per closed leg with a hangup URL, with what Finish made of its row.
	due, err := s.Due(ctx, end.Add(time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	var wantDue []store.OutboxItem
	for _, c := range want {
		if _, n := closing.Finish(c); n != nil {
			wantDue = append(wantDue, *n)
		}
	}
	if !reflect.DeepEqual(due, wantDue) {
		t.Errorf("queued:\n got %+v\nwant %+v", due, wantDue)
	}
	if len(due) != 3 {
		t.Errorf("%d notifications queued, want 3 (the B leg has no hangup URL)", len(due))
	}

	// Again: nothing is left to close, nothing more is queued.
	if again, err := s.CloseNodeCalls(ctx, store.NodeBoot{NodeID: "node-a", BootID: "b1"}, closing); err != nil || len(again) != 0 {
		t.Errorf("second run closed %+v, %v; want nothing", again, err)
	}
	if n := pending(t, s); n != 3 {
		t.Errorf("%d notifications pending after a second run, want 3", n)
	}

	// A restarted node-a (boot b3) closes what its earlier boots left: other-boot only.
	restart, err := s.CloseNodeCalls(ctx, store.NodeBoot{NodeID: "node-a", BootID: "b3", OtherBoots: true}, nodeClosing(at(20)))
	if err != nil || len(restart) != 1 || restart[0].CallUUID != "other-boot" || restart[0].CallStatus != "completed" {
		t.Errorf("restart closed %+v, %v; want other-boot", restart, err)
	}
	// Its own boot's legs are not the "other" boots.
	if err := s.InsertCall(ctx, store.CallRecord{CallUUID: "own", AuthID: "MA_A", Direction: "inbound", StartTime: start,
		NodeID: "node-a", BootID: "b3"}); err != nil {
		t.Fatal(err)
	}
	if again, err := s.CloseNodeCalls(ctx, store.NodeBoot{NodeID: "node-a", BootID: "b3", OtherBoots: true}, nodeClosing(at(20))); err != nil || len(again) != 0 {
		t.Errorf("second restart run closed %+v, %v; want nothing", again, err)
	}
}

// testCloseNodeCallsConcurrently: survivors that close one dead boot at once, through two
// stores on one database (two processes), close each leg and queue its notification once.
func testCloseNodeCallsConcurrently(t *testing.T, open Open) {
	ctx := context.Background()
	stores := []store.Store{open(t, dbName(t)), open(t, dbName(t))}
	const legs = 60
	for i := range legs {
		if err := stores[i%2].InsertCall(ctx, store.CallRecord{CallUUID: fmt.Sprintf("leg-%03d", (i*7)%legs), AuthID: "MA_A",
			Direction: "inbound", StartTime: at(1), NodeID: "dead", BootID: "b1", HangupURL: "http://app/hangup",
			HangupMethod: "POST", HangupParams: url.Values{"n": {fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	closing := nodeClosing(at(10))
	finish := closing.Finish
	closing.Finish = func(c store.CallRecord) (string, *store.OutboxItem) {
		status, n := finish(c)
		n.ID = "" // a fresh id per run: a leg closed twice would queue two rows
		return status, n
	}
	var mu sync.Mutex
	closedBy := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for w := range 6 {
		s := stores[w%2]
		wg.Go(func() {
			closed, err := s.CloseNodeCalls(ctx, store.NodeBoot{NodeID: "dead", BootID: "b1"}, closing)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range closed {
				closedBy[c.CallUUID]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(closedBy) != legs {
		t.Errorf("%d of %d legs closed", len(closedBy), legs)
	}
	for id, n := range closedBy {
		if n != 1 {
			t.Errorf("%s closed %d times", id, n)
		}
	}
	if n := pending(t, stores[0]); n != legs {
		t.Errorf("%d notifications queued, want %d", n, legs)
	}
}
