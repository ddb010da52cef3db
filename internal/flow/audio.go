package flow

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Limits of spec §9.7.
const (
	maxAudioFileBytes = 50 << 20
	audioAttempts     = 2
	audioHeaderWait   = 10 * time.Second
)

// AudioFetcher fetches Play files (and sound documents' Play URLs) over HTTP GET, decodes them
// to 8 kHz PCM and caches the result by URL, honouring ETag, Last-Modified and
// Cache-Control: max-age, up to a byte budget. Safe for concurrent use.
type AudioFetcher struct {
	client   *http.Client
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front = most recently used
	size    int64
	flights map[string]*audioFlight
}

type audioEntry struct {
	url          string
	pcm          []int16
	etag         string
	lastModified string
	freshUntil   time.Time
}

type audioFlight struct {
	done chan struct{}
	pcm  []int16
	err  error
}

// NewAudioFetcher returns a fetcher using client (its Timeout should be unset: attempts are
// bounded here) with a cache of at most maxBytes of decoded audio.
func NewAudioFetcher(client *http.Client, maxBytes int64) *AudioFetcher {
	if client == nil {
		client = &http.Client{}
	}
	return &AudioFetcher{
		client:   client,
		maxBytes: maxBytes,
		now:      time.Now,
		entries:  make(map[string]*list.Element),
		lru:      list.New(),
		flights:  make(map[string]*audioFlight),
	}
}

// Fetch returns the decoded audio at url. Concurrent requests for one URL share one download.
func (f *AudioFetcher) Fetch(ctx context.Context, url string) ([]int16, error) {
	f.mu.Lock()
	var cached *audioEntry
	if el, ok := f.entries[url]; ok {
		cached = el.Value.(*audioEntry)
		f.lru.MoveToFront(el)
		if f.now().Before(cached.freshUntil) {
			f.mu.Unlock()
			return cached.pcm, nil
		}
	}
	if fl, ok := f.flights[url]; ok {
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.pcm, fl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fl := &audioFlight{done: make(chan struct{})}
	f.flights[url] = fl
	f.mu.Unlock()

	fl.pcm, fl.err = f.download(ctx, url, cached)
	f.mu.Lock()
	delete(f.flights, url)
	f.mu.Unlock()
	close(fl.done)
	return fl.pcm, fl.err
}

func (f *AudioFetcher) download(ctx context.Context, url string, cached *audioEntry) ([]int16, error) {
	var lastErr error
	for attempt := 0; attempt < audioAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		pcm, retry, err := f.try(ctx, url, cached)
		if err == nil {
			return pcm, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// try makes one attempt; retry says whether another attempt may help.
func (f *AudioFetcher) try(ctx context.Context, url string, cached *audioEntry) (pcm []int16, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false, fmt.Errorf("audio URL %q: %w", url, err)
	}
	if cached != nil {
		if cached.etag != "" {
			req.Header.Set("If-None-Match", cached.etag)
		}
		if cached.lastModified != "" {
			req.Header.Set("If-Modified-Since", cached.lastModified)
		}
	}
	headerCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(audioHeaderWait, cancel)
	resp, err := f.client.Do(req.WithContext(headerCtx))
	timer.Stop()
	if err != nil {
		return nil, true, fmt.Errorf("fetching audio %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && cached != nil:
		f.store(url, cached.pcm, resp, cached)
		return cached.pcm, false, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, resp.StatusCode >= 500, fmt.Errorf("fetching audio %s: HTTP %d", url, resp.StatusCode)
	}
	if resp.ContentLength > maxAudioFileBytes {
		return nil, false, fmt.Errorf("audio file %s is larger than 50 MB", url)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAudioFileBytes+1))
	if err != nil {
		return nil, true, fmt.Errorf("reading audio %s: %w", url, err)
	}
	if len(data) > maxAudioFileBytes {
		return nil, false, fmt.Errorf("audio file %s is larger than 50 MB", url)
	}
	pcm, err = media.DecodeAudio(data)
	if err != nil {
		return nil, false, fmt.Errorf("decoding audio %s: %w", url, err)
	}
	f.store(url, pcm, resp, nil)
	return pcm, false, nil
}

func (f *AudioFetcher) store(url string, pcm []int16, resp *http.Response, prev *audioEntry) {
	cc := strings.ToLower(resp.Header.Get("Cache-Control"))
	if strings.Contains(cc, "no-store") {
		return
	}
	e := &audioEntry{url: url, pcm: pcm, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	if prev != nil {
		if e.etag == "" {
			e.etag = prev.etag
		}
		if e.lastModified == "" {
			e.lastModified = prev.lastModified
		}
	}
	if age, ok := maxAge(cc); ok {
		e.freshUntil = f.now().Add(age)
	}
	if e.etag == "" && e.lastModified == "" && e.freshUntil.IsZero() {
		return // nothing lets us reuse it safely
	}
	size := int64(len(pcm)) * 2
	if size > f.maxBytes {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if el, ok := f.entries[url]; ok {
		f.size -= int64(len(el.Value.(*audioEntry).pcm)) * 2
		f.lru.Remove(el)
	}
	f.entries[url] = f.lru.PushFront(e)
	f.size += size
	for f.size > f.maxBytes {
		last := f.lru.Back()
		old := last.Value.(*audioEntry)
		f.lru.Remove(last)
		delete(f.entries, old.url)
		f.size -= int64(len(old.pcm)) * 2
	}
}

func maxAge(cacheControl string) (time.Duration, bool) {
	if strings.Contains(cacheControl, "no-cache") {
		return 0, false
	}
	for _, part := range strings.Split(cacheControl, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second, true
			}
		}
	}
	return 0, false
}

// errSkipped marks a Play whose file could not be used; the element ends at once.
var errSkipped = errors.New("audio skipped")
