package sqlite

import (
	"context"
	"net/url"
	"testing"

	"github.com/parley-voice/parley/internal/store"
)

func BenchmarkOutboxEnqueue(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b)
	params := url.Values{"CallUUID": {"5d5a3bd6-6a4b-4c0a-9a39-1f0c1e3c3e4d"}, "Event": {"Hangup"},
		"From": {"14155550100"}, "To": {"14155550101"}, "HangupCause": {"NORMAL_CLEARING"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Enqueue(ctx, store.OutboxItem{AuthID: "MA_A", URL: "http://h/hangup", Method: "POST",
			Params: params, OrderKey: "call"}); err != nil {
			b.Fatal(err)
		}
	}
}
