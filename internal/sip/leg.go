package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
)

// ErrLegEnded is returned by leg operations once the leg has ended.
var ErrLegEnded = errors.New("call leg has ended")

// errNoMedia is returned by WriteRTP before EarlyMedia or Answer.
var errNoMedia = errors.New("no media session yet: call EarlyMedia or Answer first")

type legState int

const (
	stateNew       legState = iota // INVITE received, no final response
	stateEarly                     // 183 with SDP sent
	stateAnswering                 // 200 sent, waiting for ACK
	stateAnswered                  // ACK received (or ACK wait over)
	stateEnded
)

// ackWait bounds how long Answer waits for the ACK of its 200 OK (64*T1, RFC 3261 §13.3.1.4).
const ackWait = 32 * time.Second

// inboundLeg is a call.Leg for an INVITE we received.
type inboundLeg struct {
	legCore
	info      call.LegInfo
	dialog    *sipgo.DialogServerSession
	transport string
	authUser  string // endpoint username proven by digest, "" when none

	// Guarded by legCore.mu.
	state    legState
	localSDP []byte
	answerCh chan error // result of the one 200 OK attempt

	inviteDone chan struct{} // closed once the INVITE transaction needs us no more
	inviteOnce sync.Once
	reinviteMu sync.Mutex
	// reqMu keeps our in-dialog requests in CSeq order: sipgo numbers them when building.
	reqMu sync.Mutex
}

var (
	_ call.Leg             = (*inboundLeg)(nil)
	_ call.InfoDigitSender = (*inboundLeg)(nil)
)

func newInboundLeg(s *Server, req *sip.Request, dialog *sipgo.DialogServerSession, neg negotiated, localIP netip.Addr, transport string, src netip.AddrPort, log *slog.Logger) *inboundLeg {
	l := &inboundLeg{legCore: newLegCore(s, log, localIP), dialog: dialog, transport: transport, inviteDone: make(chan struct{})}
	l.info = legInfoFromInvite(req, src, transport)
	l.applyNegotiatedLocked(neg)
	return l
}

// JoinHeader carries the one-time token of a cluster node's internal conference leg.
const JoinHeader = "X-Parley-Join"

// legInfoFromInvite extracts what signalling tells about the caller.
func legInfoFromInvite(req *sip.Request, src netip.AddrPort, transport string) call.LegInfo {
	info := call.LegInfo{
		CallID:        callID(req),
		Inbound:       true,
		ToUser:        req.Recipient.User,
		Source:        src,
		Transport:     transport,
		CustomHeaders: map[string]string{},
		Created:       time.Now(),
	}
	if f := req.From(); f != nil {
		info.FromUser, info.FromHost, info.FromDisplay = f.Address.User, f.Address.Host, f.DisplayName
	}
	info.RequestURI = "sip:" + req.Recipient.Host
	if req.Recipient.User != "" {
		info.RequestURI = "sip:" + req.Recipient.User + "@" + req.Recipient.Host
	}
	for _, h := range req.Headers() {
		if name := h.Name(); len(name) > 5 && strings.EqualFold(name[:5], "x-ph-") {
			info.CustomHeaders[name] = h.Value()
		}
	}
	if h := req.GetHeader(JoinHeader); h != nil {
		info.JoinToken = h.Value()
	}
	for _, name := range []string{"Diversion", "History-Info"} {
		if h := req.GetHeader(name); h != nil && info.Diversion == "" {
			info.Diversion = addressUser(h.Value())
		}
	}
	return info
}

// addressUser returns the user part of the first name-addr in a header value.
func addressUser(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(strings.TrimSpace(v), &u, &params); err != nil {
		return ""
	}
	return u.User
}

func (l *inboundLeg) Info() call.LegInfo { return l.info }

// end records who ended the leg (first caller wins), closes Done and the RTP socket.
func (l *inboundLeg) end(by call.LegEnd) {
	if l.finish(by, func() { l.state = stateEnded }) {
		l.srv.forget(l.dialog.ID, l)
	}
}

func (l *inboundLeg) finishInvite() { l.inviteOnce.Do(func() { close(l.inviteDone) }) }

// watchDialog ends the leg when sipgo ends the dialog: CANCEL, or the transaction dying.
func (l *inboundLeg) watchDialog() {
	ctx := l.dialog.Context()
	select {
	case <-ctx.Done():
	case <-l.done:
		<-ctx.Done()
	}
	if errors.Is(context.Cause(ctx), sip.ErrTransactionCanceled) {
		l.end(call.EndedRemoteCancel)
		l.log.Info("caller cancelled")
	} else {
		l.end(call.EndedTransport)
	}
	l.finishInvite()
}

// ensureMediaLocked opens the RTP socket and builds our SDP answer once.
func (l *inboundLeg) ensureMediaLocked() error {
	if l.media.rtp.Load() != nil {
		return nil
	}
	conn, err := l.srv.ports.listen(l.srv.bindIP)
	if err != nil {
		return fmt.Errorf("opening RTP socket: %w", err)
	}
	r := l.srv.newRTPStream(conn)
	r.setPeer(l.info.Source.Addr())
	r.setRemote(l.neg.remote, remoteAcceptsMedia(l.neg.dir))
	if err := l.keySRTPLocked(r); err != nil {
		_ = r.close()
		return err
	}
	l.startMedia(r)
	l.localSDP = l.answerSDPLocked()
	return nil
}

func (l *inboundLeg) sdpResponse(status int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(l.dialog.InviteRequest, status, reason, body)
	res.AppendHeader(sip.NewHeader("Server", l.srv.opts.UserAgent))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	}
	return res
}

func (l *inboundLeg) Ring(ctx context.Context) error {
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	if st != stateNew {
		return nil
	}
	if err := l.dialog.WriteResponse(l.sdpResponse(180, "Ringing", nil)); err != nil {
		return fmt.Errorf("sending 180 Ringing: %w", err)
	}
	return nil
}

func (l *inboundLeg) EarlyMedia(ctx context.Context) error {
	l.mu.Lock()
	switch l.state {
	case stateEnded:
		l.mu.Unlock()
		return ErrLegEnded
	case stateNew:
	default:
		l.mu.Unlock()
		return nil
	}
	if err := l.ensureMediaLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	l.state = stateEarly
	body := l.localSDP
	l.mu.Unlock()
	if err := l.dialog.WriteResponse(l.sdpResponse(183, "Session Progress", body)); err != nil {
		return fmt.Errorf("sending 183 Session Progress: %w", err)
	}
	return nil
}

func (l *inboundLeg) Answer(ctx context.Context) error {
	l.mu.Lock()
	switch l.state {
	case stateEnded:
		l.mu.Unlock()
		return ErrLegEnded
	case stateAnswered:
		l.mu.Unlock()
		return nil
	case stateAnswering:
		ch := l.answerCh
		l.mu.Unlock()
		return l.waitAnswer(ctx, ch)
	}
	if err := l.ensureMediaLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	l.media.rtp.Load().openLatchWindow() // a phone behind NAT starts sending now
	l.state = stateAnswering
	ch := make(chan error, 1)
	l.answerCh = ch
	res := l.sdpResponse(200, "OK", l.localSDP)
	l.mu.Unlock()

	go func() {
		errc := make(chan error, 1)
		go func() { errc <- l.dialog.WriteResponse(res) }() // returns on ACK
		var err error
		select {
		case err = <-errc:
		case <-time.After(ackWait):
			err = errors.New("no ACK for 200 OK")
		}
		if err == nil {
			l.mu.Lock()
			if l.state == stateAnswering {
				l.state = stateAnswered
			}
			l.mu.Unlock()
			l.log.Info("call answered")
		} else {
			l.mu.Lock()
			wasEnded := l.state == stateEnded
			l.mu.Unlock()
			if !wasEnded {
				l.log.Warn("answer failed", "err", err)
				l.end(call.EndedTransport)
				go l.sendBye(5 * time.Second)
			}
		}
		l.finishInvite()
		ch <- err
		close(ch)
	}()
	return l.waitAnswer(ctx, ch)
}

func (l *inboundLeg) waitAnswer(ctx context.Context, ch chan error) error {
	select {
	case err, ok := <-ch:
		if !ok || err == nil {
			l.mu.Lock()
			ended := l.state == stateEnded
			l.mu.Unlock()
			if ended {
				return ErrLegEnded
			}
			return nil
		}
		return fmt.Errorf("answering call: %w", err)
	case <-l.done:
		return ErrLegEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *inboundLeg) Reject(status int, reason string, extraHeaders ...string) error {
	if status < 300 || status > 699 {
		return fmt.Errorf("reject: status %d is not a final error status", status)
	}
	res := sip.NewResponseFromRequest(l.dialog.InviteRequest, status, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", l.srv.opts.UserAgent))
	for _, h := range extraHeaders {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("reject: header %q is not \"Name: value\"", h)
		}
		res.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	l.mu.Lock()
	switch l.state {
	case stateEnded:
		l.mu.Unlock()
		return ErrLegEnded
	case stateAnswering, stateAnswered:
		l.mu.Unlock()
		return errors.New("reject: the call is already answered")
	}
	l.mu.Unlock()
	l.end(call.EndedLocal)
	errc := make(chan error, 1)
	go func() {
		err := l.dialog.WriteResponse(res) // waits for the ACK of the error response
		l.finishInvite()
		errc <- err
	}()
	l.log.Info("call rejected", "status", status)
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("sending %d: %w", status, err)
		}
	case <-time.After(2 * time.Second):
	}
	return nil
}

func (l *inboundLeg) Hangup(ctx context.Context) error {
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	switch st {
	case stateEnded:
		return nil
	case stateNew, stateEarly:
		if err := l.Reject(480, "Temporarily Unavailable"); err != nil && !errors.Is(err, ErrLegEnded) {
			return err
		}
		return nil
	}
	l.end(call.EndedLocal)
	l.log.Info("hanging up")
	byeBriefly(ctx, l.sendBye)
	return nil
}

// newRequest builds an in-dialog request with our own Via (the right address even when
// listening on 0.0.0.0); sipgo adds the dialog's headers and CSeq when sending.
func (l *inboundLeg) newRequest(method sip.RequestMethod) *sip.Request {
	inv := l.dialog.InviteRequest
	target := inv.Recipient
	if c := inv.Contact(); c != nil {
		target = c.Address
	}
	req := sip.NewRequest(method, *target.Clone())
	req.SetTransport(inv.Transport())
	params := sip.NewParams()
	params.Add("branch", sip.GenerateBranch())
	req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(l.transport),
		Host: l.localIP.String(), Port: int(l.srv.addr.Port()), Params: params})
	req.AppendHeader(sip.NewHeader("User-Agent", l.srv.opts.UserAgent))
	return req
}

// sendBye sends BYE and waits for its answer (bounded).
func (l *inboundLeg) sendBye(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bye := l.newRequest(sip.BYE)
	// A request being numbered goes out before the BYE (Hangup ended the leg first, so no
	// new one starts).
	l.reqMu.Lock()
	l.reqMu.Unlock()
	if err := l.dialog.WriteBye(ctx, bye); err != nil {
		l.log.Debug("BYE not confirmed", "err", err)
	}
}

// SendInfoDigit implements call.InfoDigitSender.
func (l *inboundLeg) SendInfoDigit(ctx context.Context, digit rune, duration time.Duration) error {
	return l.sendInfoDigit(ctx, digit, duration, l.request)
}

// request sends an in-dialog request on the answered call and waits for its final response.
func (l *inboundLeg) request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error) {
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	switch st {
	case stateEnded:
		return nil, ErrLegEnded
	case stateAnswered:
	default:
		return nil, errNotAnswered
	}
	req := l.newRequest(method)
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		req.SetBody(body)
	}
	l.reqMu.Lock()
	if l.ended() {
		l.reqMu.Unlock()
		return nil, ErrLegEnded
	}
	tx, err := l.dialog.TransactionRequest(ctx, req)
	l.reqMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("sending %s: %w", method, err)
	}
	defer tx.Terminate()
	return l.finalResponse(ctx, tx)
}

// handleReInvite answers an in-dialog INVITE (hold, unhold, new address or codec).
func (l *inboundLeg) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	l.reinviteMu.Lock()
	defer l.reinviteMu.Unlock()
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	switch st {
	case stateEnded:
		l.srv.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	case stateAnswered:
	default:
		l.srv.respond(req, tx, 491, "Request Pending")
		return
	}
	if err := l.dialog.ReadRequest(req, tx); err != nil {
		l.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var contact sip.Header
	if res := l.dialog.InviteResponse; res != nil && res.Contact() != nil {
		contact = sip.HeaderClone(res.Contact())
	}
	if body := l.answerReInviteLocked(req, tx, contact); body != nil {
		l.localSDP = body
	}
}
