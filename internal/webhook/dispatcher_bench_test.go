package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDispatcherThroughput measures hangup-style deliveries (one per OrderKey, 2xx at
// once) from a MemoryOutbox to an httptest receiver on loopback, in notifications per second:
//   - backlog: b.N notifications are queued first, then Run drains them (the situation after
//     a burst, where the old scheduler re-read and decoded 260 rows per delivery);
//   - stream: a producer calls Notify while Run delivers; the clock stops when the last
//     one is delivered.
func BenchmarkDispatcherThroughput(b *testing.B) {
	for _, mode := range []string{"backlog", "stream"} {
		for _, workers := range []int{4, 32} { // the old and the new default {
			b.Run(fmt.Sprintf("%s/workers=%d", mode, workers), func(b *testing.B) {
				benchThroughput(b, mode == "backlog", workers)
			})
		}
	}
}

func benchThroughput(b *testing.B, backlog bool, workers int) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	defer tr.CloseIdleConnections()
	o := fastOptions(nil)
	o.HTTPClient = &http.Client{Transport: tr}
	o.Workers = workers
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, o)
	params := func(i int) url.Values { // about what a Hangup notification carries
		return url.Values{"CallUUID": {fmt.Sprintf("c0a8f2d6-1b2c-4d5e-8f90-%012d", i)}, "Event": {"Hangup"},
			"From": {"15550001000"}, "To": {"15550002000"}, "Direction": {"inbound"}, "CallStatus": {"completed"},
			"HangupCause": {"NORMAL_CLEARING"}, "HangupSource": {"Callee"}, "Duration": {"1"}, "BillDuration": {"1"},
			"StartTime": {"2026-11-27 00:30:00"}, "AnswerTime": {"2026-11-27 00:30:00"}, "EndTime": {"2026-11-27 00:30:01"}}
	}
	notify := func(i int) {
		n := Notification{AuthID: "MA_TEST", URL: srv.URL + "/hangup", Method: "POST",
			OrderKey: fmt.Sprint("call-", i), Params: params(i)}
		if err := d.Notify(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
	if backlog {
		for i := range b.N {
			notify(i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	t0 := time.Now()
	go func() { _ = d.Run(ctx); close(done) }()
	if !backlog {
		go func() {
			for i := range b.N {
				notify(i)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d delivered", got.Load(), b.N)
		}
		time.Sleep(200 * time.Microsecond)
	}
	for len(ob.Pending()) != 0 { // the last outcomes are being recorded
		if time.Now().After(deadline) {
			b.Fatalf("%d left in the outbox", len(ob.Pending()))
		}
		time.Sleep(200 * time.Microsecond)
	}
	el := time.Since(t0)
	b.StopTimer()
	cancel()
	<-done
	if got.Load() != int64(b.N) {
		b.Fatalf("%d requests for %d notifications", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "notifications/s")
}
