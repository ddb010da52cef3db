package app

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/store"
)

// callRecordsAPI adapts the stored call records (and, for a live leg, the call itself) to the
// CDR reads of the REST API (calls-more.md §E).
type callRecordsAPI struct{ s *Server }

func (a callRecordsAPI) List(ctx context.Context, acct string, f api.CallRecordFilter) ([]api.CallRecord, int, error) {
	recs, total, err := a.s.store.ListCalls(ctx, acct, store.CallFilter{
		CallStatus: f.CallStatus, Direction: f.Direction, FromPrefix: f.FromPrefix, ToPrefix: f.ToPrefix,
		ParentCallUUID: f.ParentCallUUID, BillDurationMin: f.BillDurationMin, BillDurationMax: f.BillDurationMax,
		EndFrom: f.EndFrom, EndBefore: f.EndBefore, HangupCauseCode: f.HangupCauseCode, HangupSource: f.HangupSource,
		Limit: f.Limit, Offset: f.Offset,
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.CallRecord, len(recs))
	for i, r := range recs {
		out[i] = callRecordView(r)
	}
	return out, total, nil
}

func (a callRecordsAPI) Get(ctx context.Context, acct, uuid string) (api.CallRecord, error) {
	r, err := a.s.store.GetCall(ctx, uuid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.AuthID != acct) {
		return api.CallRecord{}, api.ErrCallNotFound
	}
	if err != nil {
		return api.CallRecord{}, err
	}
	v := callRecordView(r)
	if r.EndTime == nil {
		// A live leg: the record holds what was known at its start; the call knows the rest.
		if c, ok := a.s.calls.Get(acct, uuid); ok {
			if t := c.AnswerTime(); !t.IsZero() {
				v.Answered = &t
			}
		}
		v.ConferenceUUID = a.s.lastRooms.get(uuid)
	}
	return v, nil
}

func callRecordView(r store.CallRecord) api.CallRecord {
	return api.CallRecord{
		CallUUID: r.CallUUID, ParentCallUUID: r.ParentCallUUID, Direction: r.Direction, From: r.From, To: r.To,
		SourceIP: r.SourceIP, ConferenceUUID: r.ConferenceUUID, Initiated: r.StartTime, Answered: r.AnswerTime,
		Ended: r.EndTime, CallStatus: r.CallStatus, HangupCauseCode: r.HangupCauseCode, HangupCause: r.HangupCause,
		HangupCauseName: r.HangupCauseName, HangupSource: r.HangupSource,
	}
}

// lastRooms remembers the room instance (ConferenceUUID) each live leg entered last, for its
// call record; finishCall takes the entry when the leg ends. The zero value is ready to use.
type lastRooms struct {
	mu    sync.Mutex
	rooms map[string]string // CallUUID -> ConferenceUUID
}

func (l *lastRooms) set(callUUID, conferenceUUID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rooms == nil {
		l.rooms = map[string]string{}
	}
	l.rooms[callUUID] = conferenceUUID
}

func (l *lastRooms) get(callUUID string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rooms[callUUID]
}

// take returns the entry of callUUID and forgets it.
func (l *lastRooms) take(callUUID string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	room := l.rooms[callUUID]
	delete(l.rooms, callUUID)
	return room
}

// sourceIP is the address part of a signalling source; "" when unknown.
func sourceIP(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.Addr().Unmap().String()
}

// pruneCallRecords deletes the records of legs that ended more than cdr_retention before now;
// a retention of 0 keeps them forever.
func (s *Server) pruneCallRecords(ctx context.Context, now time.Time) {
	if s.cfg.CDRRetention <= 0 {
		return
	}
	if n, err := s.store.PruneCalls(ctx, now.Add(-s.cfg.CDRRetention)); err != nil {
		s.log.Warn("pruning call records", "err", err)
	} else if n > 0 {
		s.log.Info("pruned call records", "rows", n)
	}
}
