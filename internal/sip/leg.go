package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
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
	srv       *Server
	log       *slog.Logger
	info      call.LegInfo
	dialog    *sipgo.DialogServerSession
	localIP   netip.Addr
	transport string
	authUser  string // endpoint username proven by digest, "" when none

	mu       sync.Mutex
	state    legState
	neg      negotiated
	sessID   uint64
	sdpVer   uint64
	localSDP []byte
	endedBy  call.LegEnd
	answerCh chan error // result of the one 200 OK attempt

	rtp         atomic.Pointer[rtpStream]
	tePT        atomic.Uint32
	remoteSends atomic.Bool

	mediaReady chan struct{}
	done       chan struct{}
	endOnce    sync.Once
	inviteDone chan struct{} // closed once the INVITE transaction needs us no more
	inviteOnce sync.Once
	reinviteMu sync.Mutex
}

var _ call.Leg = (*inboundLeg)(nil)

func newInboundLeg(s *Server, req *sip.Request, dialog *sipgo.DialogServerSession, neg negotiated, localIP netip.Addr, transport string, src netip.AddrPort, log *slog.Logger) *inboundLeg {
	l := &inboundLeg{
		srv: s, log: log, dialog: dialog, localIP: localIP, transport: transport, neg: neg,
		mediaReady: make(chan struct{}), done: make(chan struct{}), inviteDone: make(chan struct{}),
	}
	l.info = legInfoFromInvite(req, src, transport)
	l.applyNegotiated(neg)
	return l
}

func (l *inboundLeg) applyNegotiated(n negotiated) {
	l.tePT.Store(uint32(n.tePT))
	l.remoteSends.Store(n.dir == dirSendRecv && n.remote.Addr().IsValid() && !n.remote.Addr().IsUnspecified())
}

func remoteAcceptsMedia(dir string) bool { return dir == dirSendRecv || dir == dirRecvOnly }

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

func (l *inboundLeg) Done() <-chan struct{} { return l.done }

func (l *inboundLeg) EndedBy() call.LegEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endedBy
}

func (l *inboundLeg) Codec() media.Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.neg.codec
}

func (l *inboundLeg) TelephoneEventPT() uint8 { return uint8(l.tePT.Load()) }

func (l *inboundLeg) RemoteSendsMedia() bool { return l.remoteSends.Load() }

// end records who ended the leg (first caller wins), closes Done and the RTP socket.
func (l *inboundLeg) end(by call.LegEnd) {
	l.endOnce.Do(func() {
		l.mu.Lock()
		l.endedBy = by
		l.state = stateEnded
		l.mu.Unlock()
		close(l.done)
		if r := l.rtp.Load(); r != nil {
			_ = r.close()
		}
		l.srv.forget(l.dialog.ID, l)
		l.log.Debug("call leg ended", "ended_by", int(by))
	})
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
	if l.rtp.Load() != nil {
		return nil
	}
	conn, err := l.srv.ports.listen(l.srv.bindIP)
	if err != nil {
		return fmt.Errorf("opening RTP socket: %w", err)
	}
	r := newRTPStream(conn)
	r.setRemote(l.neg.remote, remoteAcceptsMedia(l.neg.dir))
	l.sessID = uint64(rand.Uint32())
	l.sdpVer = l.sessID
	l.localSDP = buildSDP(l.sessID, l.sdpVer, l.localIP, r.localPort(), l.neg.codec, l.neg.tePT, answerDir(l.neg.dir), l.neg.offered, l.neg.mIndex)
	l.rtp.Store(r)
	close(l.mediaReady)
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
				l.log.Warn("answer failed", "error", err)
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
	byeDone := make(chan struct{})
	go func() {
		l.sendBye(5 * time.Second)
		close(byeDone)
	}()
	select { // BYE is on the wire quickly; do not wait long for the 200
	case <-byeDone:
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}

// sendBye sends BYE with our own Via (the right address even when listening on 0.0.0.0).
func (l *inboundLeg) sendBye(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	inv := l.dialog.InviteRequest
	target := inv.Recipient
	if c := inv.Contact(); c != nil {
		target = c.Address
	}
	bye := sip.NewRequest(sip.BYE, *target.Clone())
	bye.SetTransport(inv.Transport())
	params := sip.NewParams()
	params.Add("branch", sip.GenerateBranch())
	bye.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(l.transport),
		Host: l.localIP.String(), Port: int(l.srv.addr.Port()), Params: params})
	bye.AppendHeader(sip.NewHeader("User-Agent", l.srv.opts.UserAgent))
	if err := l.dialog.WriteBye(ctx, bye); err != nil {
		l.log.Debug("BYE not confirmed", "error", err)
	}
}

func (l *inboundLeg) ReadPacket(buf []byte) (media.Packet, error) {
	select {
	case <-l.mediaReady:
	case <-l.done:
		return media.Packet{}, ErrLegEnded
	}
	p, err := l.rtp.Load().read(buf)
	if err != nil {
		select {
		case <-l.done:
			return p, ErrLegEnded
		default:
		}
		return p, fmt.Errorf("reading RTP: %w", err)
	}
	return p, nil
}

func (l *inboundLeg) WriteRTP(payload []byte, payloadType uint8, marker bool, tsIncrement uint32) error {
	r := l.rtp.Load()
	if r == nil {
		return errNoMedia
	}
	select {
	case <-l.done:
		return ErrLegEnded
	default:
	}
	if err := r.write(payload, payloadType, marker, tsIncrement); err != nil {
		return fmt.Errorf("sending RTP: %w", err)
	}
	return nil
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
	if len(req.Body()) > 0 {
		offer, err := parseSDP(req.Body())
		var neg negotiated
		if err == nil {
			cur := l.neg.codec
			neg, err = negotiate(offer, &cur)
		}
		if err != nil {
			l.log.Info("re-INVITE refused", "error", err)
			l.srv.respond(req, tx, 488, "Not Acceptable Here")
			return
		}
		l.neg = neg
		l.applyNegotiated(neg)
		if r := l.rtp.Load(); r != nil {
			r.setRemote(neg.remote, remoteAcceptsMedia(neg.dir))
		}
		l.log.Info("media updated by re-INVITE", "direction", neg.dir, "codec", neg.codec.String(), "remote", neg.remote.String())
	}
	r := l.rtp.Load()
	l.sdpVer++
	l.localSDP = buildSDP(l.sessID, l.sdpVer, l.localIP, r.localPort(), l.neg.codec, l.neg.tePT, answerDir(l.neg.dir), l.neg.offered, l.neg.mIndex)
	res := sip.NewResponseFromRequest(req, 200, "OK", l.localSDP)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Server", l.srv.opts.UserAgent))
	if c := l.dialog.InviteResponse; c != nil && c.Contact() != nil {
		res.AppendHeader(sip.HeaderClone(c.Contact()))
	}
	if err := tx.Respond(res); err != nil {
		l.log.Debug("re-INVITE response not sent", "error", err)
	}
}
