package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

// seedCallRecords stores n ended legs of MA_A with varied fields (and a few of MA_B and live
// legs that must never be listed) and returns MA_A's ended legs.
func seedCallRecords(t *testing.T, s store.Store, n int) []store.CallRecord {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 10, 28, 0, 0, 0, 0, time.UTC)
	statuses := []string{"completed", "busy", "no-answer", "failed", "timeout", "cancel"}
	sources := []string{"Caller", "Callee", "API Request", "Vobiz"}
	var out []store.CallRecord
	for i := range n {
		c := store.CallRecord{
			CallUUID:        fmt.Sprintf("call-%04d", (i*37)%n), // not in end-time order
			AuthID:          "MA_A",
			From:            fmt.Sprintf("1415555%04d", i%50),
			To:              []string{"14155550199", "sip:bob@pbx.example.com", "sip:bobby@pbx.example.com", "4930123"}[i%4],
			StartTime:       base.Add(time.Duration(i) * time.Minute),
			CallStatus:      statuses[i%len(statuses)],
			HangupSource:    sources[i%len(sources)],
			HangupCauseCode: []int{4000, 3010, 3000, 5000}[i%4],
		}
		c.Direction = "outbound"
		if i%3 == 0 {
			c.Direction = "inbound"
		}
		if i%5 == 1 {
			c.ParentCallUUID = "parent-1"
		}
		if c.CallStatus == "completed" {
			a := c.StartTime.Add(time.Second)
			c.AnswerTime = &a
		}
		// Several legs end in the same second, so the CallUUID tie-break matters.
		end := c.StartTime.Add(time.Duration(i%7) * 10 * time.Second).Add(time.Duration(i%3) * 400 * time.Millisecond)
		if i%10 == 0 && i > 0 {
			end = out[i-1].EndTime.Add(0)
		}
		c.EndTime = &end
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	others := []store.CallRecord{
		{CallUUID: "other-account", AuthID: "MA_B", Direction: "inbound", StartTime: base, EndTime: &base, CallStatus: "completed"},
		{CallUUID: "live-leg", AuthID: "MA_A", Direction: "inbound", StartTime: base},
	}
	for _, c := range others {
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func billSecs(c store.CallRecord) int64 {
	if c.AnswerTime == nil {
		return 0
	}
	return int64(c.EndTime.Sub(*c.AnswerTime) / time.Second)
}

// matches is the reference meaning of store.CallFilter.
func matches(c store.CallRecord, f store.CallFilter) bool {
	switch {
	case f.CallStatus != "" && c.CallStatus != f.CallStatus,
		f.Direction != "" && c.Direction != f.Direction,
		!strings.HasPrefix(c.From, f.FromPrefix), !strings.HasPrefix(c.To, f.ToPrefix),
		f.ParentCallUUID != "" && c.ParentCallUUID != f.ParentCallUUID,
		f.BillDurationMin != nil && billSecs(c) < *f.BillDurationMin,
		f.BillDurationMax != nil && billSecs(c) > *f.BillDurationMax,
		f.EndFrom != nil && c.EndTime.Before(*f.EndFrom),
		f.EndBefore != nil && !c.EndTime.Before(*f.EndBefore),
		f.HangupCauseCode != nil && c.HangupCauseCode != *f.HangupCauseCode,
		f.HangupSource != "" && c.HangupSource != f.HangupSource:
		return false
	}
	return true
}

func testListCallsFilters(t *testing.T, open Open) {
	s := open(t, dbName(t))
	all := seedCallRecords(t, s, 300)
	slices.SortFunc(all, func(a, b store.CallRecord) int {
		if c := b.EndTime.Compare(*a.EndTime); c != 0 {
			return c
		}
		return strings.Compare(a.CallUUID, b.CallUUID)
	})
	at := func(h, m int) *time.Time { v := time.Date(2026, 10, 28, h, m, 0, 0, time.UTC); return &v }
	filters := map[string]store.CallFilter{
		"none":                {},
		"status":              {CallStatus: "busy"},
		"direction":           {Direction: "inbound"},
		"from prefix":         {FromPrefix: "141555500"},
		"from exact":          {FromPrefix: "14155550007"},
		"to sip prefix":       {ToPrefix: "sip:bob"},
		"to sip exact prefix": {ToPrefix: "sip:bob@"},
		"prefix is not like":  {ToPrefix: "sip:bob%"},
		"parent":              {ParentCallUUID: "parent-1"},
		"bill range":          {BillDurationMin: ptr[int64](20), BillDurationMax: ptr[int64](40)},
		"bill zero":           {BillDurationMax: ptr[int64](0)},
		"end window":          {EndFrom: at(1, 0), EndBefore: at(2, 30)},
		"cause":               {HangupCauseCode: ptr(3010)},
		"source":              {HangupSource: "API Request"},
		"combined":            {Direction: "inbound", CallStatus: "completed", EndFrom: at(2, 0), ToPrefix: "sip:"},
		"nothing":             {CallStatus: "completed", HangupCauseCode: ptr(5000), Direction: "inbound", HangupSource: "nobody"},
	}
	ctx := context.Background()
	for name, f := range filters {
		var want []string
		for _, c := range all {
			if matches(c, f) {
				want = append(want, c.CallUUID)
			}
		}
		// Every page of 7 in turn, then the union must be the whole ordered result.
		var got []string
		for off := 0; ; off += 7 {
			f.Limit, f.Offset = 7, off
			page, total, err := s.ListCalls(ctx, "MA_A", f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if total != len(want) {
				t.Fatalf("%s: total %d, want %d", name, total, len(want))
			}
			for _, c := range page {
				got = append(got, c.CallUUID)
			}
			if len(page) < 7 {
				break
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %d records %v\nwant %d %v", name, len(got), got, len(want), want)
		}
		if name != "nothing" && name != "prefix is not like" && len(want) == 0 {
			t.Errorf("%s: the seed has no match, the filter is not exercised", name)
		}
	}
	// A listed record carries every stored field.
	page, _, err := s.ListCalls(ctx, "MA_A", store.CallFilter{Limit: 1})
	if err != nil || len(page) != 1 {
		t.Fatalf("first page: %v %v", page, err)
	}
	if !reflect.DeepEqual(page[0], all[0]) {
		t.Errorf("listed record\n got %+v\nwant %+v", page[0], all[0])
	}
	// Another account sees only its own; no limit means all.
	if page, total, err := s.ListCalls(ctx, "MA_B", store.CallFilter{}); err != nil || total != 1 || len(page) != 1 || page[0].CallUUID != "other-account" {
		t.Errorf("MA_B: %v %d %v", page, total, err)
	}
	if page, total, _ := s.ListCalls(ctx, "MA_A", store.CallFilter{Offset: 295}); total != 300 || len(page) != 5 {
		t.Errorf("offset 295 without limit: %d records of %d", len(page), total)
	}
}
