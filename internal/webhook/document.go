package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// MaxDocumentBytes is the largest document reply read (§7.14, 100 KB).
const MaxDocumentBytes = 102400

var (
	// ErrUnreachable means no attempt got a 2xx reply (§8.6 "unreachable").
	ErrUnreachable = errors.New("URL unreachable")
	// ErrDocumentTooLarge means a 2xx reply was larger than MaxDocumentBytes; the caller treats
	// the document as invalid (§8.6).
	ErrDocumentTooLarge = errors.New("document larger than 100 KB")
)

// defaultRetryWaits are the waits between document attempts (§9.3): 3 attempts.
var defaultRetryWaits = [...]time.Duration{500 * time.Millisecond, time.Second}

// ClientOptions configure a Client.
type ClientOptions struct {
	HTTPOptions
	// RetryWaits are the waits before the 2nd, 3rd, ... attempt; nil means 0.5 s then 1 s.
	RetryWaits []time.Duration
	// Logger receives failed attempts at debug level; nil means slog.Default().
	Logger *slog.Logger
}

// Client makes document requests: the caller waits for the reply and runs it.
type Client struct {
	s     *sender
	waits []time.Duration
	log   *slog.Logger
}

// NewClient returns a Client.
func NewClient(opts ClientOptions) *Client {
	c := &Client{s: newSender(opts.HTTPOptions), waits: opts.RetryWaits, log: opts.Logger}
	if c.waits == nil {
		c.waits = defaultRetryWaits[:]
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Request is a document request.
type Request struct {
	URL    string
	Method string // GET or POST (any case); "" means POST
	Params url.Values
	// AuthToken signs the request: the token of the account owning the call or room.
	AuthToken string
}

// Document is a fetched reply.
type Document struct {
	Body []byte
	// URL is the final URL after redirects; relative URLs in the document resolve against it.
	URL *url.URL
}

// FetchDocument requests r.URL and returns the reply of the first attempt answered with a 2xx
// status. It makes up to len(RetryWaits)+1 attempts. When all fail the error satisfies
// errors.Is(err, ErrUnreachable) and wraps the last cause. A 2xx reply larger than
// MaxDocumentBytes returns the first MaxDocumentBytes with an error satisfying
// errors.Is(err, ErrDocumentTooLarge). When ctx ends it returns at once with ctx's error (and
// not ErrUnreachable).
func (c *Client) FetchDocument(ctx context.Context, r Request) (Document, error) {
	attempts := len(c.waits) + 1
	var last error
	n := 0
	for n < attempts {
		if n > 0 {
			t := time.NewTimer(c.waits[n-1])
			select {
			case <-ctx.Done():
				t.Stop()
				return Document{}, fmt.Errorf("fetching %s: %w", rawBase(r.URL), ctx.Err())
			case <-t.C:
			}
		}
		n++
		rep, err := c.s.attempt(ctx, r.Method, r.URL, r.Params, r.AuthToken, nil, MaxDocumentBytes)
		if ctx.Err() != nil {
			return Document{}, fmt.Errorf("fetching %s: %w", rawBase(r.URL), ctx.Err())
		}
		if err == nil && rep.status >= 200 && rep.status <= 299 {
			doc := Document{Body: rep.body, URL: rep.final}
			if rep.tooLarge {
				return doc, fmt.Errorf("reply from %s: %w", redactedBase(rep.final), ErrDocumentTooLarge)
			}
			return doc, nil
		}
		if err == nil {
			err = &StatusError{Code: rep.status}
		}
		last = err
		c.log.Debug("document request failed", "url", rawBase(r.URL), "attempt", n, "err", err)
		if errors.Is(err, errPermanent) {
			break
		}
	}
	return Document{}, fmt.Errorf("%w: %s: %d attempt(s) failed, last: %w", ErrUnreachable, rawBase(r.URL), n, last)
}
