package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client sends requests to the REST API of one account of a running Parley.
type Client struct {
	// BaseURL is the server, e.g. "http://127.0.0.1:8080"; a trailing slash is ignored.
	BaseURL   string
	AuthID    string
	AuthToken string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is an answer of the server outside 2xx.
type APIError struct {
	Status int
	// Message is the error text of the body ({"error": …}), or the body itself when it is
	// not an error body.
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// maxBody bounds what is read of an answer; the API's largest pages are far smaller.
const maxBody = 32 << 20

// Do sends method to path (relative to /api/v1/Account/{auth_id}, e.g. "/Conference/") with
// query and, when params is not nil, params as a JSON body. It returns the body of a 2xx
// answer, or an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, params map[string]any) ([]byte, error) {
	u := strings.TrimRight(c.BaseURL, "/") + "/api/v1/Account/" + url.PathEscape(c.AuthID) + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("encoding parameters: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if params != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.AuthID, c.AuthToken)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &APIError{Status: resp.StatusCode, Message: errorText(resp.StatusCode, data)}
	}
	return data, nil
}

// errorText is the "error" of an API error body, or the trimmed body, or the status text.
func errorText(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	if t := strings.TrimSpace(string(body)); t != "" {
		if len(t) > 200 {
			t = t[:200] + "…"
		}
		return t
	}
	return strings.ToLower(http.StatusText(status))
}
