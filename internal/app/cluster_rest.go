package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/store"
)

// REST requests on any node of a cluster (docs/cluster.md): a conference route is served by the
// room's home, a call route by the node that holds the call; the node that received the request
// forwards it whole over the "http" method and writes back the answer as it came.
const (
	// forwardedHeader marks a request forwarded by another node (its value names that node):
	// it is served where it arrives, never forwarded again.
	forwardedHeader = "X-Parley-Forwarded"
	methodHTTP      = "http"
	// forwardTimeout bounds a forwarded request; REST actions wait at most applyWait.
	forwardTimeout = 10 * time.Second
)

// forwardedRequest is the body of an "http" call: the request as this node received it.
type forwardedRequest struct {
	From   string      `json:"from"`
	Method string      `json:"method"`
	Path   string      `json:"path"` // escaped path and query
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
	// RemoteAddr is the client's address: the home's limits and source_ip count the client,
	// not the forwarding node.
	RemoteAddr string `json:"remote_addr"`
}

// forwardedResponse is the answer of an "http" call.
type forwardedResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// clustered reports whether this server is, or is about to be, a node of a cluster (it joins
// in Start, after its HTTP handler is built). The tests of the cluster paths set s.nodes before
// Start instead of nats_url.
func (s *Server) clustered() bool { return s.cfg.Clustered() || s.nodes != nil }

// clusterREST puts the forwarding in front of the REST handler, which it keeps for the "http"
// method; on a single node it returns rest as it is. Until the node has joined (Start sets
// s.joined), requests get 503: a call placed or a room made before the node has an id and a
// boot would be invisible to the rest of the cluster.
func (s *Server) clusterREST(rest http.Handler) http.Handler {
	if !s.clustered() {
		return rest
	}
	s.restAPI = rest
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.joined.Load() {
			writeClusterError(w, http.StatusServiceUnavailable, "this node is joining the cluster, retry shortly")
			return
		}
		if r.Header.Get(forwardedHeader) == "" {
			if node, ok := s.restNode(r); ok {
				s.forward(w, r, node)
				return
			}
		}
		rest.ServeHTTP(w, r)
	})
}

// serveHTTPMethod is the "http" method: a request another node forwarded, served by this node's
// REST handler.
func (s *Server) serveHTTPMethod(ctx context.Context, body []byte) ([]byte, error) {
	if s.restAPI == nil {
		return nil, errors.New("this node serves no REST requests yet")
	}
	return serveForwarded(ctx, s.restAPI, body)
}

// restNode returns the other node that serves r: the live home of the room a conference route
// names, or the live node of the call a call route names. Anything else, an unknown call, a
// room without a live home, or a failed look-up is served here, where the REST handler gives
// the single node's answer (404 for what does not exist).
func (s *Server) restNode(r *http.Request) (string, bool) {
	t, ok := api.ParseTarget(r.URL.EscapedPath())
	if !ok || t.ID == "" {
		return "", false
	}
	switch t.Resource {
	case "Conference":
		return s.roomNode(r.Context(), t.Account, t.ID)
	case "Call", "Request": // a request_uuid is the CallUUID
		return s.callNode(r.Context(), t.ID)
	}
	return "", false
}

// roomNode returns the live home of the room when it is another node. A room without a live
// home, or a failed look-up, is this node's to answer (as not found). The REST forwarding and
// the console's actions both ask here.
func (s *Server) roomNode(ctx context.Context, acct, name string) (string, bool) {
	home, ok, err := s.nodes.RoomHome(ctx, roomKey(acct, name))
	if err != nil {
		s.log.Warn("finding the home of a room", "conference", name, "err", err)
		return "", false
	}
	if ok && home.ID != s.nodes.Self().ID {
		return home.ID, true
	}
	return "", false
}

// callNode returns the live node that holds the live call when it is another node (the call
// directory: the node_id of its record). An unknown or ended call, or a failed look-up, is
// this node's to answer. The REST forwarding and the console's actions both ask here.
func (s *Server) callNode(ctx context.Context, callUUID string) (string, bool) {
	node, err := s.store.LiveCallNode(ctx, callUUID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("finding the node of a call", "call_uuid", callUUID, "err", err)
		}
		return "", false
	}
	if node == "" || node == s.nodes.Self().ID {
		return "", false
	}
	if _, live := s.nodes.Peer(node); live {
		return node, true
	}
	return "", false
}

// forward sends r to node and writes its answer: status, headers and body as the node wrote
// them. When the node cannot be asked, the answer is 503 with Retry-After.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, node string) {
	limit := s.cfg.MaxBodyBytes
	if limit <= 0 {
		limit = api.DefaultMaxBodyBytes
	}
	// One byte more than the limit lets the home refuse an oversized body as it would its own.
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		s.log.Info("reading a request to forward", "err", err)
		return
	}
	req, err := json.Marshal(forwardedRequest{From: s.nodes.Self().ID, Method: r.Method, Path: r.URL.RequestURI(),
		Host: r.Host, Header: r.Header, Body: body, RemoteAddr: r.RemoteAddr})
	if err != nil {
		s.forwardFailed(w, node, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	out, err := s.nodes.Call(ctx, node, methodHTTP, req)
	if err != nil {
		s.forwardFailed(w, node, err)
		return
	}
	var resp forwardedResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.Status < 100 || resp.Status > 999 {
		s.forwardFailed(w, node, fmt.Errorf("bad answer (status %d): %w", resp.Status, err))
		return
	}
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// forwardFailed answers a request that could not be forwarded: 502 when the request or its
// answer is larger than one message between nodes may be (a retry fails the same way), else
// 503 with Retry-After: the node that serves it is going away or overloaded, and a retry soon
// reaches it or its successor.
func (s *Server) forwardFailed(w http.ResponseWriter, node string, err error) {
	s.log.Warn("forwarding a REST request failed", "node", node, "err", err)
	status, msg := http.StatusServiceUnavailable, "the node serving this request is unavailable, retry shortly"
	if errors.Is(err, cluster.ErrTooLarge) {
		status, msg = http.StatusBadGateway, "the request or its answer is too large to pass between the nodes of the cluster"
	}
	writeClusterError(w, status, msg)
}

// writeClusterError answers in the API's error form; a 503 says when to retry.
func writeClusterError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		APIID string `json:"api_id"`
		Error string `json:"error"`
	}{uuid.NewString(), msg})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serveForwarded runs a request another node forwarded through the REST handler, marked so
// that it is served here, and returns the answer.
func serveForwarded(ctx context.Context, rest http.Handler, body []byte) ([]byte, error) {
	var fr forwardedRequest
	if err := json.Unmarshal(body, &fr); err != nil {
		return nil, fmt.Errorf("reading a forwarded request: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, fr.Method, fr.Path, bytes.NewReader(fr.Body))
	if err != nil {
		return nil, fmt.Errorf("reading a forwarded request: %w", err)
	}
	if fr.Header != nil {
		r.Header = fr.Header
	}
	r.Header.Set(forwardedHeader, fr.From)
	r.Host, r.RemoteAddr, r.RequestURI = fr.Host, fr.RemoteAddr, fr.Path
	rec := &bufferedResponse{header: http.Header{}}
	rest.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return json.Marshal(forwardedResponse{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
}

// bufferedResponse keeps what a handler writes.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
