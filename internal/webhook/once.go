package webhook

import "context"

// SendOnce makes one signed request and discards the reply: for notifications that are useless
// once late (interim speech results, calls-more.md §C.4), so no retry and no outbox. A reply
// outside 2xx is a *StatusError.
func (c *Client) SendOnce(ctx context.Context, r Request) error {
	rep, err := c.s.attempt(ctx, r.Method, r.URL, r.Params, r.AuthToken, nil, 0)
	if err != nil {
		return err
	}
	if rep.status < 200 || rep.status > 299 {
		return &StatusError{Code: rep.status}
	}
	return nil
}
