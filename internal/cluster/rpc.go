package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers of the request/reply envelope; the bodies travel as they are.
const (
	hdrFrom    = "Parley-From"    // the calling node's ID
	hdrTimeout = "Parley-Timeout" // the caller's remaining patience in ms
	hdrError   = "Parley-Error"   // on an answer: errRemote (body = text) or errNoHandler
)

const (
	errRemote    = "remote"
	errNoHandler = "no-handler"
	errTooLarge  = "too-large"
)

// headerRoom is what the envelope's headers may take of a message, besides the body.
const headerRoom = 1024

// Handle serves method for the other nodes (and for this one: Call to Self works).
// Register every handler before the node takes traffic.
func (n *Node) Handle(method string, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[method] = h
}

// Call sends body to method on node nodeID and waits for its answer or ctx.
func (n *Node) Call(ctx context.Context, nodeID, method string, body []byte) ([]byte, error) {
	if ValidateNodeID(nodeID) != nil || method == "" {
		return nil, fmt.Errorf("%w: %q", ErrUnreachable, nodeID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.o.CallTimeout)
		defer cancel()
	}
	if max := n.nc.MaxPayload(); max > 0 && int64(len(body))+headerRoom > max {
		return nil, fmt.Errorf("%w: a request of %d bytes (max_payload %d)", ErrTooLarge, len(body), max)
	}
	dl, _ := ctx.Deadline()
	m := nats.NewMsg(nodeSubject(nodeID) + method)
	m.Data = body
	m.Header.Set(hdrFrom, n.self.ID)
	m.Header.Set(hdrTimeout, strconv.FormatInt(time.Until(dl).Milliseconds(), 10))
	resp, err := n.nc.RequestMsgWithContext(ctx, m)
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		return nil, err
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %s: nobody serves it", ErrUnreachable, nodeID)
	default: // timeout, connection closed or down
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, nodeID, err)
	}
	switch resp.Header.Get(hdrError) {
	case "":
		return resp.Data, nil
	case errNoHandler:
		return nil, fmt.Errorf("%w: %s on node %s", ErrNoHandler, method, nodeID)
	case errTooLarge:
		return nil, fmt.Errorf("%w: the answer of %s on node %s: %s", ErrTooLarge, method, nodeID, resp.Data)
	default:
		return nil, &RemoteError{Text: string(resp.Data)}
	}
}

// dispatch runs on the NATS connection's goroutine: it only starts the handler on its own
// goroutine, so a slow handler never holds up the others.
func (n *Node) dispatch(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	method := strings.TrimPrefix(m.Subject, nodeSubject(n.self.ID))
	n.mu.Lock()
	h := n.handlers[method]
	n.mu.Unlock()
	n.serving.Add(1)
	go func() {
		defer n.serving.Done()
		n.serve(m, method, h)
	}()
}

func (n *Node) serve(m *nats.Msg, method string, h Handler) {
	answer := nats.NewMsg(m.Reply)
	if h == nil {
		answer.Header.Set(hdrError, errNoHandler)
	} else {
		timeout := n.o.CallTimeout
		if ms, err := strconv.ParseInt(m.Header.Get(hdrTimeout), 10, 64); err == nil && ms > 0 {
			timeout = time.Duration(ms) * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), fromNodeKey{}, m.Header.Get(hdrFrom)), timeout)
		body, err := n.run(ctx, method, h, m.Data)
		cancel()
		switch max := n.nc.MaxPayload(); {
		case err != nil:
			answer.Header.Set(hdrError, errRemote)
			body = []byte(err.Error())
		case max > 0 && int64(len(body))+headerRoom > max:
			n.log.Warn("cluster: answer too large for NATS", "method", method, "bytes", len(body), "max_payload", max)
			answer.Header.Set(hdrError, errTooLarge)
			body = fmt.Appendf(nil, "%d bytes (max_payload %d)", len(body), max)
		}
		answer.Data = body
	}
	if err := m.RespondMsg(answer); err != nil {
		n.log.Warn("cluster: answer not sent", "method", method, "err", err)
	}
}

// run calls a handler; a panic becomes its error, not the process's end.
func (n *Node) run(ctx context.Context, method string, h Handler, body []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("cluster: handler panicked", "method", method, "panic", r)
			err = fmt.Errorf("cluster: handler of %s panicked", method)
		}
	}()
	return h(ctx, body)
}
