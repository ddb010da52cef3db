package api

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeCallRecords keeps ended legs in memory and reads live ones from fakeCalls.
type fakeCallRecords struct {
	mu      sync.Mutex
	recs    map[string][]CallRecord // account -> ended legs
	live    *fakeCalls
	filters []CallRecordFilter
}

// CDRs of MA_X: an answered API call (the example of calls-more.md §E.4), a <Dial> B leg of it
// that never answered, and an inbound call that was in a conference.
const (
	testCDRDone   = "d3f6a9b2-4c1e-4a87-8e5d-0b2c7f9e1a34"
	testCDRBLeg   = "5b0e8c7a-1d2f-4e3a-9b8c-7d6e5f4a3b21"
	testCDRInConf = "8f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2918"
)

func at(s string) *time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		panic(err)
	}
	return &t
}

func newFakeCallRecords(live *fakeCalls) *fakeCallRecords {
	f := &fakeCallRecords{recs: map[string][]CallRecord{}, live: live}
	f.recs[testAccount] = []CallRecord{
		{CallUUID: testCDRDone, Direction: "outbound", From: "14155550100", To: "14155550199", SourceIP: "203.0.113.7",
			Initiated: *at("2026-10-28 10:29:58.250000"), Answered: at("2026-10-28 10:30:05.100000"), Ended: at("2026-10-28 10:30:47.900000"),
			CallStatus: "completed", HangupCauseCode: 4000, HangupCause: "NORMAL_CLEARING", HangupCauseName: "Normal Hangup", HangupSource: "Callee"},
		{CallUUID: testCDRBLeg, ParentCallUUID: testCDRDone, Direction: "outbound", From: "14155550100", To: "sip:carol@pbx.example.com",
			Initiated: *at("2026-10-28 10:30:06"), Ended: at("2026-10-28 10:30:36.5"),
			CallStatus: "no-answer", HangupCauseCode: 6010, HangupCause: "NO_ANSWER", HangupCauseName: "Ring Timeout Reached", HangupSource: "Vobiz"},
		{CallUUID: testCDRInConf, Direction: "inbound", From: "sip:alice@pbx.example.com", To: "14155550123", SourceIP: "198.51.100.20",
			ConferenceUUID: "7c6b5a49-3827-4165-9c4b-3a2918f7e6d5",
			Initiated:      *at("2026-10-29 08:00:00"), Answered: at("2026-10-29 08:00:01"), Ended: at("2026-10-29 08:15:00"),
			CallStatus: "completed", HangupCauseCode: 4010, HangupCause: "NORMAL_CLEARING", HangupCauseName: "End Of XML Instructions", HangupSource: "Vobiz"},
	}
	f.recs["MA_OTHER"] = []CallRecord{{CallUUID: "c0000000-0000-4000-8000-0000000000bb", Direction: "inbound",
		Initiated: *at("2026-10-28 10:00:00"), Ended: at("2026-10-28 10:01:00"), CallStatus: "completed"}}
	return f
}

func (f *fakeCallRecords) match(r CallRecord, flt CallRecordFilter) bool {
	secs := int64(0)
	if r.Answered != nil {
		secs = int64(r.Ended.Sub(*r.Answered) / time.Second)
	}
	switch {
	case flt.CallStatus != "" && r.CallStatus != flt.CallStatus,
		flt.Direction != "" && r.Direction != flt.Direction,
		!strings.HasPrefix(r.From, flt.FromPrefix), !strings.HasPrefix(r.To, flt.ToPrefix),
		flt.ParentCallUUID != "" && r.ParentCallUUID != flt.ParentCallUUID,
		flt.BillDurationMin != nil && secs < *flt.BillDurationMin,
		flt.BillDurationMax != nil && secs > *flt.BillDurationMax,
		flt.EndFrom != nil && r.Ended.Before(*flt.EndFrom),
		flt.EndBefore != nil && !r.Ended.Before(*flt.EndBefore),
		flt.HangupCauseCode != nil && r.HangupCauseCode != *flt.HangupCauseCode,
		flt.HangupSource != "" && r.HangupSource != flt.HangupSource:
		return false
	}
	return true
}

func (f *fakeCallRecords) List(ctx context.Context, account string, flt CallRecordFilter) ([]CallRecord, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	var all []CallRecord
	for _, r := range f.recs[account] {
		if f.match(r, flt) {
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b CallRecord) int {
		if c := b.Ended.Compare(*a.Ended); c != 0 {
			return c
		}
		return strings.Compare(a.CallUUID, b.CallUUID)
	})
	lo := min(flt.Offset, len(all))
	hi := min(lo+flt.Limit, len(all))
	return all[lo:hi], len(all), nil
}

func (f *fakeCallRecords) Get(ctx context.Context, account, id string) (CallRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs[account] {
		if r.CallUUID == id {
			return r, nil
		}
	}
	v, err := f.live.Get(ctx, account, id)
	if err != nil {
		return CallRecord{}, err
	}
	r := CallRecord{CallUUID: v.CallUUID, Direction: v.Direction, From: v.From, To: v.To, Initiated: v.SessionStart}
	if v.Answered {
		a := v.SessionStart.Add(5 * time.Second)
		r.Answered = &a
	}
	return r, nil
}
