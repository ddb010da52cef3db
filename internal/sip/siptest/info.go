package siptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// infoWait bounds the wait for the answer to one SIP INFO the client sends.
const infoWait = 5 * time.Second

// infoMiddleware answers SIP INFO DTMF (application/dtmf-relay, application/dtmf) for the
// client's calls and records the digit; diago itself refuses them. Other requests, and INFO
// of unknown calls, go to next.
func (c *Client) infoMiddleware(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if req.Method != sip.INFO {
			next(req, tx)
			return
		}
		call := c.findCall(callIDOf(req))
		if call == nil {
			next(req, tx)
			return
		}
		ct := ""
		if h := req.ContentType(); h != nil {
			ct = h.Value()
		}
		d, ok := parseInfoDigit(ct, req.Body())
		if !ok {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
			return
		}
		status := call.opts.InfoStatus
		if status == 0 {
			status = 200
		}
		if status/100 == 2 {
			call.mu.Lock()
			call.infoDigits = append(call.infoDigits, d)
			call.mu.Unlock()
		}
		reason := "OK"
		if status != 200 {
			reason = reasonFor(status)
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, status, reason, nil))
	}
}

// findCall is the client's call with this Call-ID, nil when none.
func (c *Client) findCall(callID string) *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, call := range c.calls {
		if call.callID == callID {
			return call
		}
	}
	return nil
}

// parseInfoDigit reads the digit of a SIP INFO body: application/dtmf-relay ("Signal=5"
// line, 10 and 11 meaning * and #) or application/dtmf (the digit alone).
func parseInfoDigit(contentType string, body []byte) (rune, bool) {
	ct, _, _ := strings.Cut(contentType, ";")
	var sig string
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				sig = strings.TrimSpace(v)
			}
		}
	case "application/dtmf":
		sig = strings.TrimSpace(string(body))
	default:
		return 0, false
	}
	switch sig {
	case "10":
		return '*', true
	case "11":
		return '#', true
	}
	if len(sig) != 1 {
		return 0, false
	}
	if _, ok := dtmfEvent(rune(sig[0])); !ok {
		return 0, false
	}
	return []rune(strings.ToUpper(sig))[0], true
}

// InfoDigits returns the DTMF digits received as SIP INFO so far, in arrival order (only
// those answered with a 2xx).
func (call *Call) InfoDigits() []rune {
	call.mu.Lock()
	defer call.mu.Unlock()
	return append([]rune(nil), call.infoDigits...)
}

// SendInfoDTMF sends each digit as one SIP INFO (application/dtmf-relay, Duration 100 ms),
// each after the previous one was answered, and returns an error when one is not answered
// with a 2xx.
func (call *Call) SendInfoDTMF(ctx context.Context, digits string) error {
	select {
	case <-call.answered:
	default:
		return errors.New("siptest: call not answered")
	}
	for _, r := range digits {
		if _, ok := dtmfEvent(r); !ok {
			return fmt.Errorf("siptest: %q is not a DTMF digit", r)
		}
	}
	for _, r := range strings.ToUpper(digits) {
		select {
		case <-call.ended:
			return errors.New("siptest: call ended while sending DTMF")
		default:
		}
		if err := call.sendInfo(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// sendInfo sends one digit as SIP INFO in the call's dialog and waits for the answer.
func (call *Call) sendInfo(ctx context.Context, d rune) error {
	ctx, cancel := context.WithTimeout(ctx, infoWait)
	defer cancel()
	var (
		res *sip.Response
		err error
	)
	body := fmt.Appendf(nil, "Signal=%c\r\nDuration=100\r\n", d)
	if call.incoming {
		sd := call.sdialog
		contact := sd.InviteRequest.Contact()
		if contact == nil {
			return errors.New("siptest: the INVITE had no Contact")
		}
		req := newInfo(*contact.Address.Clone(), body)
		res, err = sd.Do(ctx, req)
	} else {
		cd := call.dialog
		if cd.InviteResponse == nil || cd.InviteResponse.Contact() == nil {
			return errors.New("siptest: the 200 OK had no Contact")
		}
		req := newInfo(*cd.InviteResponse.Contact().Address.Clone(), body)
		res, err = cd.Do(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("siptest: INFO %c: %w", d, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("siptest: INFO %c answered %d %s", d, res.StatusCode, res.Reason)
	}
	return nil
}

func newInfo(target sip.Uri, body []byte) *sip.Request {
	req := sip.NewRequest(sip.INFO, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody(body)
	return req
}
