package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/call"
)

// defaultRingTimeout applies when a DialRequest has none.
const defaultRingTimeout = 120 * time.Second

var _ call.Dialer = (*Server)(nil)

// outPhase is where an outbound leg stands.
type outPhase int

const (
	outPending  outPhase = iota // INVITE(s) sent, no outcome yet
	outAnswered                 // a 200 won and was ACKed
	outFailed                   // refused, cancelled, timed out
)

// outboundLeg is a call.OutboundLeg: one or more parallel INVITEs (one per contact), of
// which the first 200 wins.
type outboundLeg struct {
	legCore
	req   call.DialRequest
	offer []byte

	// Guarded by legCore.mu.
	info      call.LegInfo
	phase     outPhase
	status    int
	result    error
	branches  []*branch
	left      int // branches still waiting for a final response
	winner    *branch
	early     *branch // branch whose 18x SDP drives early media
	got180    bool
	got183    bool
	dialogID  string
	remoteSeq uint32
	localSeq  uint32
	lastErr   error
	best      int // best final error status across branches

	outcome     chan struct{}
	outcomeOnce sync.Once
	ringTimer   *time.Timer
}

var (
	_ call.OutboundLeg     = (*outboundLeg)(nil)
	_ call.InfoDigitSender = (*outboundLeg)(nil)
)

// destination is where one INVITE goes.
type destination struct {
	uri       sip.Uri // Request-URI
	addr      netip.AddrPort
	transport string
}

// Dial implements call.Dialer: it sends the INVITE(s) and returns the leg at once; follow it
// with WaitAnswer. ctx bounds only the work done before returning (host name lookup); the
// leg lives until it ends (RingTimeout, Cancel, Hangup, a BYE, or Close).
func (s *Server) Dial(ctx context.Context, req call.DialRequest) (call.OutboundLeg, error) {
	s.closeMu.Lock()
	ready := s.started && !s.closed
	s.closeMu.Unlock()
	if !ready {
		return nil, errors.New("dial: the SIP server is not running")
	}
	var target sip.Uri
	if err := sip.ParseUri(strings.TrimSpace(req.Target), &target); err != nil {
		return nil, fmt.Errorf("dial: target %q is not a SIP URI: %w", req.Target, err)
	}
	if err := checkSIPURI(target, req.Target); err != nil {
		return nil, err
	}
	if err := checkHeaders(req.Headers); err != nil {
		return nil, err
	}
	if strings.ContainsAny(req.FromUser, " \t\r\n<>\"@;:,?") || strings.ContainsAny(req.FromDisplay, "\r\n") {
		return nil, fmt.Errorf("dial: caller id %q or name %q has characters a SIP header cannot carry", req.FromUser, req.FromDisplay)
	}
	var dests []destination
	if len(req.Contacts) == 0 {
		d, err := s.resolve(ctx, target)
		if err != nil {
			return nil, err
		}
		dests = append(dests, d)
	} else {
		var lastErr error
		for _, c := range req.Contacts {
			var u sip.Uri
			if err := sip.ParseUri(c, &u); err != nil {
				lastErr = fmt.Errorf("dial: contact %q: %w", c, err)
				continue
			}
			if err := checkSIPURI(u, c); err != nil {
				lastErr = err
				continue
			}
			if b, ok := s.bindingFor(contactKey(u)); ok && b.source.IsValid() {
				dests = append(dests, destination{uri: u, addr: b.source, transport: b.transport})
				continue
			}
			d, err := s.resolve(ctx, u)
			if err != nil {
				lastErr = err
				continue
			}
			dests = append(dests, d)
		}
		if len(dests) == 0 {
			return nil, fmt.Errorf("dial: no usable contact: %w", lastErr)
		}
	}

	conn, err := s.ports.listen(s.bindIP)
	if err != nil {
		return nil, fmt.Errorf("dial: opening RTP socket: %w", err)
	}
	l := &outboundLeg{legCore: newLegCore(s, s.log, s.localIPFor(dests[0].addr.Addr())), req: req, outcome: make(chan struct{})}
	r := s.newRTPStream(conn)
	l.startMedia(r)
	if s.opts.SRTP.Offer {
		if l.localKey, err = newLocalCrypto(1, suiteAES80); err != nil {
			_ = r.close()
			return nil, fmt.Errorf("dial: %w", err)
		}
	}
	l.offer = buildOffer(l.sessID, l.sdpVer, l.localIP, r.localPort(), l.localKey)
	fromHost := s.opts.Realm
	if fromHost == "" {
		fromHost = l.localIP.String()
	}
	toURI := sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}
	l.info = call.LegInfo{
		FromUser: req.FromUser, FromHost: fromHost, FromDisplay: req.FromDisplay, ToUser: target.User,
		RequestURI: toURI.String(), Source: dests[0].addr, Transport: dests[0].transport,
		CustomHeaders: map[string]string{}, Created: time.Now(),
	}
	for k, v := range req.Headers {
		l.info.CustomHeaders[k] = v
	}
	for _, d := range dests {
		b := l.newBranch(d, toURI, fromHost)
		l.branches = append(l.branches, b)
	}
	l.left = len(l.branches)
	l.info.CallID = l.branches[0].callID
	l.log = withCallTag(s.log.With("sip_call_id", l.info.CallID, "direction", "outbound"))

	s.legsMu.Lock()
	s.outLegs[l] = struct{}{}
	s.legsMu.Unlock()

	ring := req.RingTimeout
	if ring <= 0 {
		ring = defaultRingTimeout
	}
	l.mu.Lock()
	l.ringTimer = time.AfterFunc(ring, func() { l.giveUp(call.ErrRingTimeout, call.EndedLocal) })
	l.mu.Unlock()
	l.log.Info("outbound call", "target", req.Target, "branches", len(l.branches), "from", req.FromUser)
	for _, b := range l.branches {
		go b.run()
	}
	return l, nil
}

func checkSIPURI(u sip.Uri, raw string) error {
	switch {
	case u.Scheme != "sip" && u.Scheme != "sips":
		return fmt.Errorf("dial: %q: only sip: and sips: URIs can be dialled", raw)
	case u.Host == "":
		return fmt.Errorf("dial: %q has no host", raw)
	}
	if tr, ok := u.UriParams.Get("transport"); ok && !strings.EqualFold(tr, "udp") && !strings.EqualFold(tr, "tcp") && !strings.EqualFold(tr, "tls") {
		return fmt.Errorf("dial: %q: transport %s is not supported", raw, tr)
	} else if ok && u.Scheme == "sips" && strings.EqualFold(tr, "udp") {
		return fmt.Errorf("dial: %q: sips: needs TLS, not UDP", raw)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-.!%*_+`'~", c)) {
			return false
		}
	}
	return true
}

var reservedHeaders = map[string]bool{"via": true, "from": true, "to": true, "call-id": true, "cseq": true,
	"contact": true, "content-type": true, "content-length": true, "max-forwards": true, "route": true}

func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if !isToken(k) || reservedHeaders[strings.ToLower(k)] {
			return fmt.Errorf("dial: %q cannot be sent as an extra header", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("dial: the value of header %s has a line break", k)
		}
	}
	return nil
}

// resolve turns a SIP URI into an address: an IP host as is, a name by A/AAAA lookup.
func (s *Server) resolve(ctx context.Context, u sip.Uri) (destination, error) {
	transport, port := uriTransport(u)
	host := strings.Trim(u.Host, "[]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, lerr := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if lerr != nil || len(ips) == 0 {
			return destination{}, fmt.Errorf("dial: cannot resolve host %q: %w", host, lerr)
		}
		ip = ips[0]
		for _, a := range ips {
			if a.Unmap().Is4() == s.bindIP.Is4() {
				ip = a
				break
			}
		}
	}
	ip = ip.Unmap()
	if s.bindIP.Is4() && !ip.Is4() {
		return destination{}, fmt.Errorf("dial: %s is IPv6 but SIP listens on IPv4", host)
	}
	u2 := *u.Clone()
	u2.Headers = nil
	return destination{uri: u2, addr: netip.AddrPortFrom(ip, uint16(port)), transport: transport}, nil
}

// ---- call.Leg ----

func (l *outboundLeg) Info() call.LegInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	info := l.info
	info.CustomHeaders = make(map[string]string, len(l.info.CustomHeaders))
	for k, v := range l.info.CustomHeaders {
		info.CustomHeaders[k] = v
	}
	return info
}

// Ring does not apply to an outbound leg.
func (l *outboundLeg) Ring(context.Context) error { return nil }

// EarlyMedia does not apply to an outbound leg: early media flows once the far end sends it.
func (l *outboundLeg) EarlyMedia(context.Context) error { return nil }

// Answer waits for the far end to answer.
func (l *outboundLeg) Answer(ctx context.Context) error {
	status, err := l.WaitAnswer(ctx)
	if err != nil {
		if status != 0 {
			return fmt.Errorf("outbound call not answered (SIP %d): %w", status, err)
		}
		return fmt.Errorf("outbound call not answered: %w", err)
	}
	return nil
}

// Reject does not apply to an outbound leg.
func (l *outboundLeg) Reject(int, string, ...string) error {
	return errors.New("reject: an outbound leg cannot be rejected; use Cancel or Hangup")
}

func (l *outboundLeg) WaitAnswer(ctx context.Context) (int, error) {
	select {
	case <-l.outcome:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.result
}

func (l *outboundLeg) Cancel() { l.giveUp(call.ErrDialCanceled, call.EndedLocal) }

func (l *outboundLeg) Hangup(ctx context.Context) error {
	l.mu.Lock()
	phase := l.phase
	l.mu.Unlock()
	switch phase {
	case outPending:
		l.Cancel()
		return nil
	case outFailed:
		return nil
	}
	if l.ended() {
		return nil
	}
	l.end(call.EndedLocal)
	l.log.Info("hanging up")
	byeBriefly(ctx, l.sendBye)
	return nil
}

// ---- outcome ----

func (l *outboundLeg) settle() {
	l.outcomeOnce.Do(func() {
		if l.ringTimer != nil {
			l.ringTimer.Stop()
		}
		close(l.outcome)
	})
}

// giveUp ends a pending leg (Cancel, ring timeout, Close): every branch is cancelled.
func (l *outboundLeg) giveUp(why error, by call.LegEnd) {
	l.mu.Lock()
	if l.phase != outPending {
		l.mu.Unlock()
		return
	}
	l.phase = outFailed
	l.status = 0
	l.result = why
	branches := l.branches
	l.mu.Unlock()
	l.settle()
	l.log.Info("outbound call given up", "err", why)
	for _, b := range branches {
		b.cancel()
	}
	l.end(by)
}

// branchFailed records a branch's final failure; the last one decides the outcome.
func (l *outboundLeg) branchFailed(b *branch, status int, err error) {
	l.mu.Lock()
	l.left--
	if status >= 300 && statusRank(status) > statusRank(l.best) {
		l.best = status
	}
	if err != nil && !errors.Is(err, call.ErrNoResponse) {
		l.lastErr = err
	}
	if l.left > 0 || l.phase != outPending {
		l.mu.Unlock()
		return
	}
	l.phase = outFailed
	by := call.EndedRemoteCancel
	switch {
	case l.best != 0:
		l.status = l.best
		l.result = fmt.Errorf("%w: SIP %d", call.ErrRefused, l.best)
	case l.lastErr != nil:
		l.result = l.lastErr
		by = call.EndedTransport
	default:
		l.result = call.ErrNoResponse
		by = call.EndedTransport
	}
	status, result := l.status, l.result
	l.mu.Unlock()
	l.log.Info("outbound call failed", "status", status, "err", result)
	l.settle()
	l.end(by)
}

// statusRank orders final error responses of forks (RFC 3261 §16.7, simplified): a 6xx
// beats all, then any real refusal, then 408/480-like no-answers.
func statusRank(code int) int {
	switch {
	case code == 0:
		return 0
	case code >= 600:
		return 4
	case code == 408 || code == 487:
		return 1
	case code == 480:
		return 2
	}
	return 3
}

// end records who ended the leg (first caller wins), closes Done and the RTP socket.
func (l *outboundLeg) end(by call.LegEnd) {
	ended := l.finish(by, func() {
		if l.phase == outPending {
			l.phase = outFailed
		}
	})
	if !ended {
		return
	}
	s := l.srv
	s.legsMu.Lock()
	l.mu.Lock()
	id := l.dialogID
	l.mu.Unlock()
	delete(s.outLegs, l)
	if id != "" && s.legs[id] == dialogLeg(l) {
		delete(s.legs, id)
	}
	s.legsMu.Unlock()
}

// ---- in-dialog requests from the far end ----

func (l *outboundLeg) handleAck(*sip.Request, sip.ServerTransaction) {}

func (l *outboundLeg) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	l.srv.respond(req, tx, 200, "OK")
	l.end(call.EndedRemoteBye)
	l.log.Info("remote hung up")
}

func (l *outboundLeg) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase != outAnswered {
		l.srv.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if cs := req.CSeq(); cs == nil || cs.SeqNo <= l.remoteSeq {
		l.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	} else {
		l.remoteSeq = cs.SeqNo
	}
	l.answerReInviteLocked(req, tx, l.winner.contactHeader())
}

// sendBye sends BYE on the answered dialog and waits for its answer (bounded).
func (l *outboundLeg) sendBye(timeout time.Duration) {
	l.mu.Lock()
	w := l.winner
	l.localSeq++
	seq := l.localSeq
	l.mu.Unlock()
	if w == nil {
		return
	}
	w.bye(seq, timeout)
}

// SendInfoDigit implements call.InfoDigitSender.
func (l *outboundLeg) SendInfoDigit(ctx context.Context, digit rune, duration time.Duration) error {
	return l.sendInfoDigit(ctx, digit, duration, l.request)
}

// request sends an in-dialog request on the answered dialog and waits for its final response.
func (l *outboundLeg) request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error) {
	if l.ended() {
		return nil, ErrLegEnded
	}
	l.mu.Lock()
	w := l.winner
	if l.phase != outAnswered || w == nil {
		l.mu.Unlock()
		return nil, errNotAnswered
	}
	l.localSeq++
	seq := l.localSeq
	l.mu.Unlock()
	req := w.inDialog(method, seq)
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		req.SetBody(body)
	}
	tx, err := w.client.TransactionRequest(ctx, req, sipgo.ClientRequestBuild)
	if err != nil {
		return nil, fmt.Errorf("sending %s: %w", method, err)
	}
	defer tx.Terminate()
	return l.finalResponse(ctx, tx)
}

// ---- branches ----

// branch is one INVITE transaction toward one destination.
type branch struct {
	leg       *outboundLeg
	dest      destination
	client    *sipgo.Client
	callID    string
	fromTag   string
	invite    *sip.Request
	cancelCh  chan struct{}
	cancelOne sync.Once

	// Set once the 200 won (read after, never changed).
	res200       *sip.Response
	remoteTarget sip.Uri
	routes       []string
}

func (l *outboundLeg) newBranch(d destination, toURI sip.Uri, fromHost string) *branch {
	s := l.srv
	b := &branch{leg: l, dest: d, callID: uuid.NewString(), fromTag: sip.GenerateTagN(16), cancelCh: make(chan struct{})}
	b.client = s.udpClient
	if d.transport != "udp" {
		b.client = s.tcpClient // TCP and TLS: sipgo picks the transport from the request
	}
	inv := sip.NewRequest(sip.INVITE, d.uri)
	inv.SetTransport(strings.ToUpper(d.transport))
	inv.SetDestination(d.addr.String())
	inv.AppendHeader(b.via())
	fromParams := sip.NewParams()
	fromParams.Add("tag", b.fromTag)
	user := l.req.FromUser
	if user == "" {
		user = "parley"
	}
	inv.AppendHeader(&sip.FromHeader{DisplayName: l.req.FromDisplay, Address: sip.Uri{Scheme: "sip", User: user, Host: fromHost}, Params: fromParams})
	inv.AppendHeader(&sip.ToHeader{Address: toURI, Params: sip.NewParams()})
	cid := sip.CallIDHeader(b.callID)
	inv.AppendHeader(&cid)
	inv.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(70)
	inv.AppendHeader(&mf)
	inv.AppendHeader(b.contactHeader())
	inv.AppendHeader(sip.NewHeader("User-Agent", s.opts.UserAgent))
	inv.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	keys := make([]string, 0, len(l.req.Headers))
	for k := range l.req.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		inv.AppendHeader(sip.NewHeader(k, l.req.Headers[k]))
	}
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(l.offer)
	b.invite = inv
	return b
}

func (b *branch) via() *sip.ViaHeader {
	params := sip.NewParams()
	params.Add("branch", sip.GenerateBranch())
	params.Add("rport", "")
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(b.dest.transport),
		Host: b.leg.localIP.String(), Port: b.leg.srv.listenPort(b.dest.transport), Params: params}
}

func (b *branch) contactHeader() *sip.ContactHeader {
	return b.leg.srv.contactHeader(b.leg.localIP, b.dest.transport)
}

// cancel asks the branch to give up (CANCEL once a provisional response came).
func (b *branch) cancel() { b.cancelOne.Do(func() { close(b.cancelCh) }) }

func (b *branch) cancelled() bool { return isClosed(b.cancelCh) }

// run drives the branch's INVITE transaction to its end.
func (b *branch) run() {
	l := b.leg
	authTries := 0
	for {
		tx, err := b.client.TransactionRequest(context.Background(), b.invite, sipgo.ClientRequestBuild)
		if err != nil {
			l.branchFailed(b, 0, fmt.Errorf("sending INVITE to %s: %w", b.dest.addr, err))
			return
		}
		retry, status, ferr := b.follow(tx, &authTries)
		if retry {
			continue
		}
		if status != 200 {
			l.branchFailed(b, status, ferr)
		}
		return
	}
}

// follow reads one INVITE transaction. retry asks for a new INVITE with credentials.
func (b *branch) follow(tx sip.ClientTransaction, authTries *int) (retry bool, status int, err error) {
	l := b.leg
	noResp := time.NewTimer(l.srv.opts.NoResponseTimeout)
	defer noResp.Stop()
	var giveUp <-chan time.Time
	cancelCh := b.cancelCh
	provisional := false
	cancelWanted := false
	cancelSent := false
	got := false
	for {
		select {
		case res := <-tx.Responses():
			got = true
			noResp.Stop()
			code := res.StatusCode
			switch {
			case code < 200:
				if code > 100 {
					provisional = true
					b.onProvisional(res)
				} else {
					provisional = true
				}
				if cancelWanted && !cancelSent {
					cancelSent = true
					b.sendCancel()
				}
			case code < 300:
				b.onSuccess(tx, res)
				return false, 200, nil
			case (code == 401 || code == 407) && l.req.Password != "" && *authTries < 2 && !b.cancelled():
				*authTries++
				if b.addCredentials(res) {
					return true, 0, nil
				}
				return false, code, nil
			default:
				l.log.Debug("branch refused", "status", code, "dest", b.dest.addr.String())
				return false, code, nil
			}
		case <-tx.Done():
			if terr := tx.Err(); !got && (terr == nil || errors.Is(terr, sip.ErrTransactionTimeout)) {
				return false, 0, call.ErrNoResponse
			}
			if terr := tx.Err(); terr != nil && !errors.Is(terr, sip.ErrTransactionTerminated) {
				return false, 0, fmt.Errorf("INVITE transaction to %s failed: %w", b.dest.addr, terr)
			}
			return false, 0, call.ErrNoResponse
		case <-noResp.C:
			if !got {
				tx.Terminate()
				l.log.Info("no response to INVITE", "dest", b.dest.addr.String())
				return false, 0, call.ErrNoResponse
			}
		case <-cancelCh:
			cancelCh = nil
			cancelWanted = true
			if provisional && !cancelSent {
				cancelSent = true
				b.sendCancel()
			}
			// A far end that never answers the CANCEL must not keep us forever.
			giveUp = time.After(sip.Timer_B)
		case <-giveUp:
			tx.Terminate()
			return false, 487, nil
		}
	}
}

func (b *branch) onProvisional(res *sip.Response) {
	l := b.leg
	code := res.StatusCode
	hasSDP := len(res.Body()) > 0 && isSDPType(res.ContentType())
	var notify []int
	l.mu.Lock()
	if l.phase == outPending {
		if code == 180 && !l.got180 {
			l.got180 = true
			notify = append(notify, 180)
		}
		if code == 183 && !l.got183 {
			l.got183 = true
			notify = append(notify, 183)
		}
		if hasSDP && (l.early == nil || l.early == b) {
			if r, err := parseSDP(res.Body()); err == nil {
				if n, err := negotiate(r, nil); err == nil && l.answerMatchesOfferLocked(n) == nil {
					l.early = b
					l.media.rtp.Load().setPeer(b.dest.addr.Addr())
					l.applyNegotiatedLocked(n)
				}
			}
		}
	}
	l.mu.Unlock()
	if cb := l.req.OnProgress; cb != nil {
		for _, c := range notify {
			cb(c, hasSDP)
		}
	}
}

// isSDPType tells whether a Content-Type header names SDP (parameters ignored).
func isSDPType(ct *sip.ContentTypeHeader) bool {
	return ct != nil && strings.EqualFold(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]), "application/sdp")
}

// onSuccess handles a 200 to our INVITE: the first one wins the leg, later ones are
// ACKed and hung up.
func (b *branch) onSuccess(tx sip.ClientTransaction, res *sip.Response) {
	l := b.leg
	b.res200 = res
	b.remoteTarget = b.invite.Recipient
	if c := res.Contact(); c != nil {
		b.remoteTarget = *c.Address.Clone()
	}
	hdrs := res.GetHeaders("Record-Route")
	for i := len(hdrs) - 1; i >= 0; i-- {
		b.routes = append(b.routes, hdrs[i].Value())
	}
	toTag := ""
	if to := res.To(); to != nil {
		toTag, _ = to.Params.Get("tag")
	}

	ack := b.inDialog(sip.ACK, b.invite.CSeq().SeqNo)
	sendAck := func() {
		if err := b.client.WriteRequest(ack.Clone(), sipgo.ClientRequestBuild); err != nil {
			l.log.Debug("ACK not sent", "err", err)
		}
	}
	sendAck()
	tx.OnRetransmission(func(r *sip.Response) {
		if r.StatusCode/100 != 2 {
			return
		}
		if to := r.To(); to != nil {
			if tag, _ := to.Params.Get("tag"); tag == toTag {
				sendAck()
			}
		}
	})

	l.mu.Lock()
	lost := l.phase != outPending || l.winner != nil
	var neg negotiated
	var negErr error
	if !lost {
		switch {
		case len(res.Body()) > 0:
			var r *remoteSDP
			if r, negErr = parseSDP(res.Body()); negErr == nil {
				neg, negErr = negotiate(r, nil)
			}
			if negErr == nil {
				negErr = l.answerMatchesOfferLocked(neg)
			}
		case l.early == b:
			neg = l.neg
		default:
			negErr = errors.New("the answer has no SDP")
		}
	}
	if lost || negErr != nil {
		l.mu.Unlock()
		if negErr != nil {
			l.log.Warn("answer unusable, hanging up", "err", negErr)
		} else {
			l.log.Info("late answer from a losing branch, hanging up", "dest", b.dest.addr.String())
		}
		go b.bye(2, 5*time.Second)
		if negErr != nil {
			l.branchFailed(b, 0, fmt.Errorf("far end answered with unusable media: %w", negErr))
		}
		return
	}
	l.winner = b
	l.phase = outAnswered
	l.status = 200
	l.localSeq = b.invite.CSeq().SeqNo
	l.media.rtp.Load().setPeer(b.dest.addr.Addr())
	l.applyNegotiatedLocked(neg)
	l.media.rtp.Load().openLatchWindow()
	l.info.CallID = b.callID
	l.info.Source = responseSource(res, b.dest.addr)
	l.info.Transport = b.dest.transport
	l.dialogID = sip.DialogIDMake(b.callID, b.fromTag, toTag)
	branches := l.branches
	l.mu.Unlock()

	s := l.srv
	s.legsMu.Lock()
	if !l.ended() {
		s.legs[l.dialogID] = l
	}
	s.legsMu.Unlock()
	l.log.Info("call answered", "answered_call_id", b.callID, "codec", neg.codec.String(), "dest", b.dest.addr.String())
	l.settle()
	for _, o := range branches {
		if o != b {
			o.cancel()
		}
	}
}

// responseSource is where a response came from, or fallback.
func responseSource(res *sip.Response, fallback netip.AddrPort) netip.AddrPort {
	if a, err := netip.ParseAddrPort(res.Source()); err == nil {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	return fallback
}

// inDialog builds ACK or BYE for the dialog the 200 created.
func (b *branch) inDialog(method sip.RequestMethod, seq uint32) *sip.Request {
	r := sip.NewRequest(method, *b.remoteTarget.Clone())
	r.SetTransport(strings.ToUpper(b.dest.transport))
	r.AppendHeader(b.via())
	r.AppendHeader(sip.HeaderClone(b.invite.From()))
	r.AppendHeader(sip.HeaderClone(b.res200.To()))
	r.AppendHeader(sip.HeaderClone(b.invite.CallID()))
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	r.AppendHeader(&mf)
	for _, rt := range b.routes {
		r.AppendHeader(sip.NewHeader("Route", rt))
	}
	if len(b.routes) == 0 {
		// Where the 200 came from: right behind NAT, and the same TCP connection.
		r.SetDestination(responseSource(b.res200, b.dest.addr).String())
	}
	r.AppendHeader(sip.NewHeader("User-Agent", b.leg.srv.opts.UserAgent))
	r.SetBody(nil)
	return r
}

// bye sends BYE with CSeq seq (above the INVITE's) and waits for the answer, bounded.
func (b *branch) bye(seq uint32, timeout time.Duration) {
	if seq <= b.invite.CSeq().SeqNo {
		seq = b.invite.CSeq().SeqNo + 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := b.inDialog(sip.BYE, seq)
	tx, err := b.client.TransactionRequest(ctx, req, sipgo.ClientRequestBuild)
	if err != nil {
		b.leg.log.Debug("BYE not sent", "err", err)
		return
	}
	defer tx.Terminate()
	awaitFinal(ctx, tx)
}

// awaitFinal drops a client transaction's responses until the final one, its end or ctx's.
func awaitFinal(ctx context.Context, tx sip.ClientTransaction) {
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return
			}
		case <-tx.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// sendCancel sends CANCEL for the current INVITE (RFC 3261 §9.1) and drops its answer.
func (b *branch) sendCancel() {
	inv := b.invite
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	if v := inv.Via(); v != nil {
		c.AppendHeader(v.Clone())
	}
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	for _, h := range inv.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.SetBody(nil)
	tx, err := b.client.TransactionRequest(context.Background(), c, sipgo.ClientRequestBuild)
	if err != nil {
		b.leg.log.Debug("CANCEL not sent", "err", err)
		return
	}
	go func() {
		defer tx.Terminate()
		ctx, cancel := context.WithTimeout(context.Background(), sip.Timer_B)
		defer cancel()
		awaitFinal(ctx, tx)
	}()
}

// addCredentials turns the INVITE into its authenticated retry; false when the challenge
// cannot be answered.
func (b *branch) addCredentials(res *sip.Response) bool {
	l := b.leg
	hdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(hdr)
	if h == nil {
		return false
	}
	inv := b.invite.Clone()
	cseq := inv.CSeq().SeqNo + 1
	value, err := answerChallenge(h.Value(), "INVITE", inv.Recipient.String(), l.req.Username, l.req.Password, 1)
	if err != nil {
		l.log.Info("cannot answer the far end's challenge", "err", err)
		return false
	}
	inv.RemoveHeader("Via")
	inv.PrependHeader(b.via())
	inv.CSeq().SeqNo = cseq
	inv.RemoveHeader(authHdr)
	inv.AppendHeader(sip.NewHeader(authHdr, value))
	inv.SetDestination(b.invite.Destination())
	b.invite = inv
	return true
}
