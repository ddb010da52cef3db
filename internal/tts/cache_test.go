package tts

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSynth returns samples derived from the request and counts its calls. With gate set it
// blocks until the gate is closed or its context ends.
type fakeSynth struct {
	calls   atomic.Int32
	gate    chan struct{}
	fail    bool
	sawCanc atomic.Bool
}

func (f *fakeSynth) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			f.sawCanc.Store(true)
			return nil, ctx.Err()
		}
	}
	if f.fail {
		return nil, errors.New("boom")
	}
	out := make([]int16, 100*len(r.Text))
	for i := range out {
		out[i] = int16(len(r.Voice)*1000 + len(r.Language)*10 + i%7)
	}
	return out, nil
}

func TestCacheHit(t *testing.T) {
	f := &fakeSynth{}
	c := NewCache(f, 1<<20)
	ctx := context.Background()
	a, err := c.Synthesize(ctx, Request{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Synthesize(ctx, Request{Text: "hello", Voice: "woman", Language: "EN-us"})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("inner ran %d times, want 1 (defaults and case must share a key)", n)
	}
	if !slices.Equal(a, b) || len(a) != 500 {
		t.Errorf("cached samples differ")
	}
	// Callers own their copy.
	a[0] = 12345
	if c2, _ := c.Synthesize(ctx, Request{Text: "hello"}); c2[0] == 12345 {
		t.Error("a caller's change reached the cache")
	}
	// Every field of the key matters.
	for _, r := range []Request{{Text: "hello", Voice: "MAN"}, {Text: "hello", Language: "en-GB"}, {Text: "hello", SSML: true}, {Text: "hello!"}} {
		before := f.calls.Load()
		if _, err := c.Synthesize(ctx, r); err != nil {
			t.Fatal(err)
		}
		if f.calls.Load() != before+1 {
			t.Errorf("%+v was served from another request's entry", r)
		}
	}
}

func TestCacheEviction(t *testing.T) {
	f := &fakeSynth{}
	// Each 10-character text is 1000 samples = 2000 bytes plus overhead: room for two.
	c := NewCache(f, 4300).(*Cache)
	ctx := context.Background()
	get := func(text string) {
		if _, err := c.Synthesize(ctx, Request{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	get("aaaaaaaaaa")
	get("bbbbbbbbbb")
	get("aaaaaaaaaa") // a is now most recent
	get("cccccccccc") // evicts b
	if n, size := c.Len(); n != 2 || size > 4300 {
		t.Errorf("cache holds %d entries, %d bytes", n, size)
	}
	before := f.calls.Load()
	get("aaaaaaaaaa")
	if f.calls.Load() != before {
		t.Error("the recently used entry was evicted")
	}
	get("bbbbbbbbbb")
	if f.calls.Load() != before+1 {
		t.Error("the least recently used entry was kept")
	}
	// Too large for the cache: served, not stored.
	get(string(make([]byte, 100)))
	if n, _ := c.Len(); n > 2 {
		t.Errorf("oversized entry stored")
	}
}

func TestCacheErrorsNotCached(t *testing.T) {
	f := &fakeSynth{fail: true}
	c := NewCache(f, 1<<20)
	for range 2 {
		if _, err := c.Synthesize(context.Background(), Request{Text: "x"}); err == nil {
			t.Fatal("error lost")
		}
	}
	if f.calls.Load() != 2 {
		t.Errorf("a failure was cached")
	}
}

// waitWaiters waits until n callers wait on the flight for text.
func waitWaiters(t *testing.T, c *Cache, text string, n int) {
	t.Helper()
	_, key := normalizeKey(Request{Text: text})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		f := c.flights[key]
		got := 0
		if f != nil {
			got = f.waiters
		}
		c.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never saw %d waiters", n)
}

func TestCacheDeduplicates(t *testing.T) {
	f := &fakeSynth{gate: make(chan struct{})}
	c := NewCache(f, 1<<20).(*Cache)
	const n = 10
	var wg sync.WaitGroup
	results := make([][]int16, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = c.Synthesize(context.Background(), Request{Text: "same"}) })
	}
	waitWaiters(t, c, "same", n)
	close(f.gate)
	wg.Wait()
	if got := f.calls.Load(); got != 1 {
		t.Errorf("inner ran %d times for %d identical concurrent requests", got, n)
	}
	for i := range n {
		if errs[i] != nil || !slices.Equal(results[i], results[0]) || len(results[i]) != 400 {
			t.Errorf("caller %d: %d samples, %v", i, len(results[i]), errs[i])
		}
	}
}

func TestCacheCancellation(t *testing.T) {
	f := &fakeSynth{gate: make(chan struct{})}
	c := NewCache(f, 1<<20).(*Cache)

	// One caller leaves; the other still gets the result.
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { _, err := c.Synthesize(ctx1, Request{Text: "x"}); done1 <- err }()
	done2 := make(chan []int16, 1)
	go func() { pcm, _ := c.Synthesize(context.Background(), Request{Text: "x"}); done2 <- pcm }()
	waitWaiters(t, c, "x", 2)
	cancel1()
	if err := <-done1; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v", err)
	}
	close(f.gate)
	if pcm := <-done2; len(pcm) != 100 {
		t.Errorf("remaining caller got %d samples", len(pcm))
	}

	// When every caller leaves, the synthesis is cancelled, and a later request starts afresh.
	f2 := &fakeSynth{gate: make(chan struct{})}
	c2 := NewCache(f2, 1<<20).(*Cache)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = c2.Synthesize(ctx, Request{Text: "y"}) }()
	waitWaiters(t, c2, "y", 1)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for !f2.sawCanc.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !f2.sawCanc.Load() {
		t.Fatal("abandoned synthesis was not cancelled")
	}
	close(f2.gate)
	if _, err := c2.Synthesize(context.Background(), Request{Text: "y"}); err != nil {
		t.Errorf("request after an abandoned one: %v", err)
	}
}

func BenchmarkSynthesizeCached(b *testing.B) {
	f := &fakeSynth{}
	c := NewCache(f, 64<<20)
	// About 3 s of audio, the size of a typical prompt.
	r := Request{Text: string(make([]byte, 240)), Voice: "WOMAN", Language: "en-US"}
	ctx := context.Background()
	if _, err := c.Synthesize(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Synthesize(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if f.calls.Load() != 1 {
		b.Fatalf("inner ran %d times", f.calls.Load())
	}
}
