package tts

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
)

// cacheKey identifies one synthesis; requests are normalised first so that defaults and case
// do not split the cache.
type cacheKey struct {
	text     string
	ssml     bool
	voice    string
	language string
}

type cacheEntry struct {
	key  cacheKey
	pcm  []int16
	size int64
}

// flight is one synthesis in progress that several callers may wait for.
type flight struct {
	key     cacheKey
	done    chan struct{}
	pcm     []int16
	err     error
	waiters int
	cancel  context.CancelFunc
}

// Cache is an LRU of synthesised speech, bounded in bytes, that runs identical concurrent
// requests once. It is safe for concurrent use.
type Cache struct {
	inner    Synthesizer
	maxBytes int64

	mu      sync.Mutex
	size    int64
	lru     *list.List // front = most recently used; values are *cacheEntry
	entries map[cacheKey]*list.Element
	flights map[cacheKey]*flight
}

// NewCache wraps inner with a cache of at most maxBytes of samples (plus keys). maxBytes ≤ 0
// keeps nothing but still merges concurrent identical requests. Failed syntheses are not cached.
func NewCache(inner Synthesizer, maxBytes int64) Synthesizer {
	return &Cache{
		inner:    inner,
		maxBytes: maxBytes,
		lru:      list.New(),
		entries:  map[cacheKey]*list.Element{},
		flights:  map[cacheKey]*flight{},
	}
}

// normalizeKey applies the request defaults without refusing anything: the inner synthesiser
// decides what it supports.
func normalizeKey(r Request) (Request, cacheKey) {
	if n, err := Normalize(r); err == nil {
		r = n
	}
	return r, cacheKey{text: r.Text, ssml: r.SSML, voice: strings.ToUpper(r.Voice), language: r.Language}
}

// Synthesize returns cached samples, or waits for an identical request in progress, or runs
// inner. The returned slice is the caller's own copy.
func (c *Cache) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	r, key := normalizeKey(r)

	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		pcm := el.Value.(*cacheEntry).pcm
		c.mu.Unlock()
		return clone(pcm), nil
	}
	f, ok := c.flights[key]
	if !ok {
		// The synthesis outlives any one caller; it is cancelled when every waiter has gone.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{key: key, done: make(chan struct{}), cancel: cancel}
		c.flights[key] = f
		go c.run(fctx, key, r, f)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		c.leave(f)
		if f.err != nil {
			return nil, f.err
		}
		return clone(f.pcm), nil
	case <-ctx.Done():
		c.leave(f)
		return nil, fmt.Errorf("speech synthesis: %w", ctx.Err())
	}
}

func (c *Cache) leave(f *flight) {
	c.mu.Lock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		// A later identical request must start afresh, not join a cancelled synthesis.
		if c.flights[f.key] == f {
			delete(c.flights, f.key)
		}
	}
	c.mu.Unlock()
}

func (c *Cache) run(ctx context.Context, key cacheKey, r Request, f *flight) {
	pcm, err := c.inner.Synthesize(ctx, r)
	c.mu.Lock()
	f.pcm, f.err = pcm, err
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if err == nil {
		c.add(key, pcm)
	}
	c.mu.Unlock()
	close(f.done)
}

// add stores pcm and evicts the least recently used entries beyond the bound; c.mu is held.
func (c *Cache) add(key cacheKey, pcm []int16) {
	size := int64(len(pcm))*2 + int64(len(key.text)+len(key.voice)+len(key.language)) + 64
	if size > c.maxBytes {
		return
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, pcm: pcm, size: size})
	c.size += size
	for c.size > c.maxBytes {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.size -= e.size
	}
}

// Len returns the number of cached syntheses and their size in bytes.
func (c *Cache) Len() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.size
}

func clone(pcm []int16) []int16 {
	if pcm == nil {
		return nil
	}
	return append(make([]int16, 0, len(pcm)), pcm...)
}
