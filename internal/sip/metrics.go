package sip

import (
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ResponseKey names a count of responses: the method of the request answered (from CSeq) and
// the status code.
type ResponseKey struct {
	Method string
	Code   int
}

// TrafficStats count the SIP requests the server received, by method, and the responses it
// sent to them, by method and status, since it started. Responses that sipgo sends on its own
// (retransmissions, 481 to a stray CANCEL) are not counted.
type TrafficStats struct {
	Requests  map[string]uint64
	Responses map[ResponseKey]uint64
}

// traffic holds the counters behind TrafficStats. A mutex is enough: it is taken once per SIP
// request and response, never on the RTP path.
type traffic struct {
	mu        sync.Mutex
	requests  map[string]uint64
	responses map[ResponseKey]uint64
}

func (t *traffic) request(method string) {
	t.mu.Lock()
	if t.requests == nil {
		t.requests = map[string]uint64{}
	}
	t.requests[method]++
	t.mu.Unlock()
}

func (t *traffic) response(method string, code int) {
	t.mu.Lock()
	if t.responses == nil {
		t.responses = map[ResponseKey]uint64{}
	}
	t.responses[ResponseKey{method, code}]++
	t.mu.Unlock()
}

// TrafficStats returns a copy of the SIP request and response counters.
func (s *Server) TrafficStats() TrafficStats {
	t := &s.traffic
	t.mu.Lock()
	defer t.mu.Unlock()
	out := TrafficStats{Requests: make(map[string]uint64, len(t.requests)), Responses: make(map[ResponseKey]uint64, len(t.responses))}
	for k, v := range t.requests {
		out.Requests[k] = v
	}
	for k, v := range t.responses {
		out.Responses[k] = v
	}
	return out
}

// counted wraps a request handler so the request, and every response sent through its
// transaction (also later ones, e.g. the 200 OK of an INVITE a dialog answers), are counted.
func (s *Server) counted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.traffic.request(string(req.Method))
		if tx != nil { // ACK has no transaction of its own
			tx = countingTx{ServerTransaction: tx, t: &s.traffic}
		}
		h(req, tx)
	}
}

// countingTx counts the responses sent through a server transaction.
type countingTx struct {
	sip.ServerTransaction
	t *traffic
}

func (c countingTx) Respond(res *sip.Response) error {
	method := ""
	if cseq := res.CSeq(); cseq != nil {
		method = string(cseq.MethodName)
	}
	c.t.response(method, res.StatusCode)
	return c.ServerTransaction.Respond(res)
}
