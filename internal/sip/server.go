package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/sipguard"
)

// sipReadBuffer is the receive buffer asked for the SIP UDP socket (the kernel caps it at
// net.core.rmem_max).
const sipReadBuffer = 4 << 20

// Options configure a Server.
type Options struct {
	// ListenAddr is "host:port" for both UDP and TCP. Port 0 picks a free port (see Addr).
	ListenAddr string
	// PublicIP is the address put in SDP and Contact. Zero: the listen host when it is a
	// specific address, else, per call, the local address that routes toward the caller.
	PublicIP netip.Addr
	// RTPPortMin and RTPPortMax bound the RTP ports (even ports are used). 0,0 = ephemeral.
	RTPPortMin, RTPPortMax int
	// UserAgent is sent in User-Agent and Server headers. Default "Parley".
	UserAgent string
	// Logger receives the logs; nil = slog.Default().
	Logger *slog.Logger
	// Handler is called in its own goroutine for each new inbound INVITE that has a codec in
	// common with us (and that Authenticate accepted). It owns the leg: it may Reject, Ring,
	// EarlyMedia, Answer and Hangup. A leg that authenticated as an endpoint implements
	// Authenticated.
	Handler func(ctx context.Context, leg call.Leg)

	// Realm is the digest realm (the sip_domain) of REGISTER and INVITE challenges, and the
	// From host of outbound legs when set.
	Realm string
	// Registrar, when set, enables REGISTER (digest auth against its passwords) and INVITE
	// authentication. Without it REGISTER gets 403.
	Registrar Registrar
	// Authenticate, when set, decides for each new INVITE (after its digest credentials, if
	// any, were checked) whether to accept it, challenge it with 407 or reject it. authUser is
	// the endpoint username the INVITE proved, "" when it carried no valid credentials. Nil
	// accepts every INVITE. Wrong credentials are refused with 403 before it is called.
	Authenticate func(ctx context.Context, info call.LegInfo, authUser string) AuthDecision
	// Guard decides which untrusted sources may cost anything (rate limits, scanner
	// User-Agents, authentication back-off and bans) and keeps the digest nonces. Nil builds
	// one with sipguard's defaults and no trusted networks.
	Guard *sipguard.Guard
	// MaxPending caps the server transactions (INVITE, REGISTER, OPTIONS) alive at once, from
	// arrival until sipgo forgets them; over the cap a new request gets 503 when it comes from
	// a trusted network and no answer otherwise. 0 means no cap.
	MaxPending int
	// TCPMaxConns and TCPMaxConnsPerSource cap the inbound SIP-TCP connections open at once
	// (per source: untrusted sources only); 0 means no cap. TCPIdleTimeout closes an inbound
	// connection that sends nothing for that long; 0 means never.
	TCPMaxConns, TCPMaxConnsPerSource int
	TCPIdleTimeout                    time.Duration
	// NoResponseTimeout bounds the wait for any response to an outbound INVITE (not even
	// 100 Trying); then the attempt ends with call.ErrNoResponse. Default 32 s (Timer B).
	NoResponseTimeout time.Duration
	// TLS configures SIP over TLS and the SRTP policy of TLS calls (tls.go).
	TLS TLSOptions
	// SRTP configures SRTP with SDES keys (srtp.go).
	SRTP SRTPOptions
}

// Server is a SIP user agent server listening on UDP and TCP.
type Server struct {
	opts  Options
	log   *slog.Logger
	ports *portAllocator

	traffic traffic // requests and responses by method and status (metrics.go)

	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	udpClient *sipgo.Client
	tcpClient *sipgo.Client

	udpConn  *net.UDPConn
	tcpLn    *net.TCPListener
	tcpLimit *tcpLimitListener
	tls      tlsEdge
	addr     netip.AddrPort // bound address (actual port)
	bindIP   netip.Addr     // RTP bind address
	fixedIP  netip.Addr     // SDP/Contact address when known up front
	ctx      context.Context
	cancel   context.CancelFunc
	serveWG  sync.WaitGroup
	closeMu  sync.Mutex
	started  bool
	closed   bool
	legsMu   sync.Mutex
	legs     map[string]dialogLeg      // by SIP dialog ID (callID, our tag, their tag)
	outLegs  map[*outboundLeg]struct{} // every live outbound leg, answered or not

	guard      *sipguard.Guard
	rtpDropped atomic.Uint64    // RTP packets refused by the source rules (every leg)
	pending    atomic.Int64     // live server transactions counted against MaxPending
	shed       atomic.Uint64    // requests refused for MaxPending
	now        func() time.Time // the clock of registrations, nonces and the guard; tests move it
	regMu      sync.Mutex
	regs       registrations
}

// dialogLeg is a leg that in-dialog requests from the far end are routed to.
type dialogLeg interface {
	handleBye(req *sip.Request, tx sip.ServerTransaction)
	handleAck(req *sip.Request, tx sip.ServerTransaction)
	handleReInvite(req *sip.Request, tx sip.ServerTransaction)
	handleInfoDigit(d rune)
	Hangup(ctx context.Context) error
}

// New checks the options and builds a Server; Start binds it.
func New(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("sip server: a Handler is required")
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Parley"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RTPPortMin < 0 || opts.RTPPortMax > 65535 || (opts.RTPPortMin > 0 && opts.RTPPortMax < opts.RTPPortMin+1) {
		return nil, fmt.Errorf("sip server: RTP port range %d-%d is not usable", opts.RTPPortMin, opts.RTPPortMax)
	}
	host, portStr, err := net.SplitHostPort(opts.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("sip server: listen address %q: %w", opts.ListenAddr, err)
	}
	if _, err := strconv.Atoi(portStr); err != nil {
		return nil, fmt.Errorf("sip server: listen port %q is not a number", portStr)
	}
	if opts.Registrar != nil && opts.Realm == "" {
		return nil, errors.New("sip server: a Realm (the sip_domain) is required with a Registrar")
	}
	if opts.NoResponseTimeout <= 0 {
		opts.NoResponseTimeout = sip.Timer_B
	}
	s := &Server{opts: opts, log: opts.Logger, ports: newPortAllocator(opts.RTPPortMin, opts.RTPPortMax),
		legs: map[string]dialogLeg{}, outLegs: map[*outboundLeg]struct{}{},
		guard: opts.Guard, now: time.Now, regs: registrations{}}
	if s.guard == nil {
		s.guard = sipguard.New(sipguard.Config{Logger: opts.Logger})
	}
	// Made here, not in Start, so that EdgeStats may read its counters at any time.
	s.tcpLimit = &tcpLimitListener{maxTotal: opts.TCPMaxConns, maxPerSource: opts.TCPMaxConnsPerSource,
		idle: opts.TCPIdleTimeout, trusted: s.guard.Trusted, log: s.log, perSource: map[netip.Addr]int{}}
	s.bindIP = netip.IPv4Unspecified()
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("sip server: listen host %q must be an IP address: %w", host, err)
		}
		s.bindIP = ip.Unmap()
	}
	if opts.PublicIP.IsValid() {
		s.fixedIP = opts.PublicIP.Unmap()
	} else if !s.bindIP.IsUnspecified() {
		s.fixedIP = s.bindIP
	}
	return s, nil
}

// Start binds UDP and TCP on the listen address and serves until Close. It returns once both
// listeners are bound, or an error (for example when the port is taken).
func (s *Server) Start(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.started || s.closed {
		return errors.New("sip server: already started")
	}
	_, portStr, _ := net.SplitHostPort(s.opts.ListenAddr)
	port, _ := strconv.Atoi(portStr)
	network := "udp4"
	tnetwork := "tcp4"
	if !s.bindIP.Is4() {
		network, tnetwork = "udp", "tcp"
	}
	var lastErr error
	for try := 0; try < 10; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.bindIP, uint16(port))))
		if err != nil {
			return fmt.Errorf("sip server: cannot listen on UDP %s: %w", s.opts.ListenAddr, err)
		}
		// A burst of requests while the reader is off the CPU must not overflow the kernel's
		// default buffer (about 200 KB): lost 200 OKs cost retransmissions and failed calls.
		if err := uc.SetReadBuffer(sipReadBuffer); err != nil {
			s.log.Warn("cannot enlarge the SIP UDP receive buffer", "err", err)
		}
		bound := uc.LocalAddr().(*net.UDPAddr).AddrPort()
		tl, err := net.ListenTCP(tnetwork, net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.bindIP, bound.Port())))
		if err != nil {
			uc.Close()
			lastErr = err
			if port == 0 {
				continue // the random UDP port was free but its TCP twin was not: try another
			}
			return fmt.Errorf("sip server: cannot listen on TCP %s: %w", s.opts.ListenAddr, err)
		}
		s.udpConn, s.tcpLn = uc, tl
		s.addr = netip.AddrPortFrom(s.bindIP, bound.Port())
		break
	}
	if s.udpConn == nil {
		return fmt.Errorf("sip server: no port free for both UDP and TCP: %w", lastErr)
	}

	logOpt := []sipgo.UserAgentOption{
		sipgo.WithUserAgent(s.opts.UserAgent),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(s.log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(s.log),
			sip.WithTransportLayerReadFilter(s.dropBanned)),
		sipgo.WithUserAgenTLSConfig(s.clientTLSConfig()),
	}
	if s.fixedIP.IsValid() {
		logOpt = append(logOpt, sipgo.WithUserAgentHostname(s.fixedIP.String()))
	}
	ua, err := sipgo.NewUA(logOpt...)
	if err != nil {
		s.udpConn.Close()
		s.tcpLn.Close()
		return fmt.Errorf("sip server: %w", err)
	}
	s.ua = ua
	s.srv, _ = sipgo.NewServer(ua, sipgo.WithServerLogger(s.log))
	s.udpClient, err = sipgo.NewClient(ua, sipgo.WithClientLogger(s.log),
		sipgo.WithClientConnectionAddr(s.udpConn.LocalAddr().String()))
	if err != nil {
		s.udpConn.Close()
		s.tcpLn.Close()
		return fmt.Errorf("sip server: %w", err)
	}
	s.tcpClient, _ = sipgo.NewClient(ua, sipgo.WithClientLogger(s.log))

	s.srv.OnInvite(s.counted(s.onInvite))
	s.srv.OnAck(s.counted(s.onAck))
	s.srv.OnBye(s.counted(s.onBye))
	s.srv.OnCancel(s.counted(s.onCancel))
	s.srv.OnOptions(s.counted(s.onOptions))
	s.srv.OnInfo(s.counted(s.onInfo))
	s.srv.OnUpdate(s.counted(s.onUpdate))
	s.srv.OnRegister(s.counted(s.onRegister))

	s.tcpLimit.Listener = s.tcpLn
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.serveWG.Add(3)
	go s.sweepLoop()
	go func() {
		defer s.serveWG.Done()
		if err := s.srv.ServeUDP(s.udpConn); err != nil && !s.isClosed() {
			s.log.Error("SIP UDP listener stopped", "err", err)
		}
	}()
	go func() {
		defer s.serveWG.Done()
		if err := s.srv.ServeTCP(s.tcpLimit); err != nil && !s.isClosed() {
			s.log.Error("SIP TCP listener stopped", "err", err)
		}
	}()
	if err := s.listenTLS(); err != nil {
		s.cancel()
		s.udpConn.Close()
		s.tcpLn.Close()
		s.ua.Close()
		s.serveWG.Wait()
		return err
	}
	// Outbound requests reuse the UDP listener's socket: wait until sipgo has it.
	laddr := s.udpConn.LocalAddr().String()
	for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait); time.Sleep(time.Millisecond) {
		if c, err := s.ua.TransportLayer().GetConnection("udp", laddr); err == nil && c != nil {
			_, _ = c.TryClose() // drops the reference GetConnection took
			break
		}
	}
	s.started = true
	s.log.Info("SIP listening", "addr", s.addr.String(), "transports", "udp,tcp")
	return nil
}

// Addr is the bound listen address (with the real port when ListenAddr had port 0).
func (s *Server) Addr() netip.AddrPort { return s.addr }

func (s *Server) isClosed() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}

// Close hangs up every live call (BYE or 480, without waiting long), then stops listening.
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed || !s.started {
		s.closed = true
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()

	s.legsMu.Lock()
	legs := make([]interface{ Hangup(context.Context) error }, 0, len(s.legs)+len(s.outLegs))
	for _, l := range s.legs {
		legs = append(legs, l)
	}
	for l := range s.outLegs {
		legs = append(legs, l)
	}
	s.legsMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range legs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Hangup(ctx) }()
	}
	wg.Wait()
	s.cancel()
	err := errors.Join(s.udpConn.Close(), s.tcpLn.Close(), s.closeTLS())
	s.ua.Close()
	s.serveWG.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// localIPFor is the address we advertise to a peer.
func (s *Server) localIPFor(peer netip.Addr) netip.Addr {
	if s.fixedIP.IsValid() {
		return s.fixedIP
	}
	if peer.IsValid() {
		// Connecting a UDP socket sends nothing; it only asks the kernel for the route.
		if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 9))); err == nil {
			ip := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
			c.Close()
			return ip
		}
	}
	if ip, _, err := sip.ResolveInterfacesIP("ip4", nil); err == nil {
		if a, ok := netip.AddrFromSlice(ip); ok {
			return a.Unmap()
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, status int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.opts.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP response not sent", "status", status, "err", err)
	}
}

// challengeOrRefuse sends a final 401, 403 or 407; to an untrusted source it then ends the
// transaction at once, so the response is never retransmitted (an INVITE's would be, for 32 s,
// to a flooder that never ACKs) and its memory is freed. A real phone that lost the response
// retransmits its request and gets a new one.
func (s *Server) challengeOrRefuse(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, status int, reason string, hdrs ...sip.Header) {
	s.respond(req, tx, status, reason, hdrs...)
	if !s.guard.Trusted(src.Addr()) {
		tx.Terminate()
	}
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func (s *Server) leg(id string) dialogLeg {
	s.legsMu.Lock()
	defer s.legsMu.Unlock()
	return s.legs[id]
}

func (s *Server) matchLeg(req *sip.Request) dialogLeg {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	return s.leg(id)
}

// contactHeader is our Contact toward a peer that reaches us at localIP over transport.
func (s *Server) contactHeader(localIP netip.Addr, transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: "parley", Host: localIP.String(), Port: s.listenPort(transport),
		UriParams: sip.NewParams(), Headers: sip.NewParams()}
	if transport == "tcp" || transport == "tls" {
		u.UriParams.Add("transport", transport)
	}
	return &sip.ContactHeader{Address: u, Params: sip.NewParams()}
}

const allowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER"

// dropBanned is the transport read filter: bytes from a banned source are dropped before they
// are parsed. It never returns an error: sipgo's UDP read loop would stop on one, and TCP would
// close the connection.
func (s *Server) dropBanned(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if ap, ok := addrPortOf(props.RemoteAddr); ok && s.guard.Banned(ap.Addr(), s.now()) {
		return nil, nil
	}
	return data, nil
}

// addrPortOf reads the address of a UDP or TCP peer without allocating.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort(), true
	case *net.TCPAddr:
		return a.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

// admit asks the guard whether a new request from src may cost anything. When it may not,
// the caller returns without any response: sipgo then ends the transaction at once and
// nothing is retransmitted, so an attacker gets nothing back.
func (s *Server) admit(req *sip.Request, src netip.AddrPort) bool {
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	return s.guard.Admit(src.Addr(), string(req.Method), ua, s.now()) == sipguard.Allow
}

// hold counts tx against MaxPending until sipgo terminates it. Over the cap it answers 503
// to a trusted source, nothing to others (an answer would be retransmitted: amplification),
// and returns false.
func (s *Server) hold(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) bool {
	n := s.pending.Add(1)
	if s.opts.MaxPending > 0 && n > int64(s.opts.MaxPending) {
		s.pending.Add(-1)
		s.shed.Add(1)
		if s.guard.Trusted(src.Addr()) {
			s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		}
		return false
	}
	if !tx.OnTerminate(func(string, error) { s.pending.Add(-1) }) {
		s.pending.Add(-1) // already over
	}
	return true
}

// EdgeStats are the SIP edge's counters besides the guard's.
type EdgeStats struct {
	PendingTransactions int64  // server transactions alive now (counted against MaxPending)
	Shed                uint64 // requests refused because MaxPending was reached
	RTPDropped          uint64 // received RTP packets dropped (see RTPDropped)
	TCPConns            int64  // inbound SIP-TCP connections open now
	TCPRefused          uint64 // inbound SIP-TCP connections refused by the caps
}

// EdgeStats returns the counters.
func (s *Server) EdgeStats() EdgeStats {
	return EdgeStats{PendingTransactions: s.pending.Load(), Shed: s.shed.Load(), RTPDropped: s.rtpDropped.Load(),
		TCPConns: s.tcpLimit.open.Load(), TCPRefused: s.tcpLimit.refused.Load()}
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if src := sourceOf(req); !s.admit(req, src) || !s.hold(req, tx, src) {
		return
	}
	s.respond(req, tx, 200, "OK",
		sip.NewHeader("Allow", allowedMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", ""))
}

func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matched a pending INVITE was handled by the transaction layer (200 + 487).
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

// dialogOf is the leg of an in-dialog request; without one it answers 481 and returns nil.
func (s *Server) dialogOf(req *sip.Request, tx sip.ServerTransaction) dialogLeg {
	l := s.matchLeg(req)
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
	}
	return l
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if l := s.matchLeg(req); l != nil {
		l.handleAck(req, tx)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if l := s.dialogOf(req, tx); l != nil {
		l.handleBye(req, tx)
	}
}

func (l *inboundLeg) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	if err := l.dialog.ReadAck(req, tx); err != nil {
		l.log.Debug("ACK ignored", "err", err)
	}
}

func (l *inboundLeg) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	l.end(call.EndedRemoteBye)
	if err := l.dialog.ReadBye(req, tx); err != nil {
		l.log.Debug("BYE handling", "err", err)
		l.srv.respond(req, tx, 200, "OK")
	}
	l.log.Info("remote hung up")
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	l := s.dialogOf(req, tx)
	if l == nil {
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if d, ok := parseInfoDTMF(ct, req.Body()); ok {
		l.handleInfoDigit(d)
	}
	s.respond(req, tx, 200, "OK")
}

// parseInfoDTMF reads the digit of a SIP INFO: application/dtmf-relay ("Signal=5" lines) or
// application/dtmf (the digit alone).
func parseInfoDTMF(contentType string, body []byte) (rune, bool) {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	var sig string
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				sig = strings.TrimSpace(v)
			}
		}
	case "application/dtmf":
		sig = strings.TrimSpace(string(body))
	default:
		return 0, false
	}
	switch {
	case sig == "10":
		return '*', true
	case sig == "11":
		return '#', true
	case len(sig) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(sig[0])):
		return []rune(strings.ToUpper(sig))[0], true
	}
	return 0, false
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if s.dialogOf(req, tx) == nil {
		return
	}
	if len(req.Body()) > 0 {
		s.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	s.respond(req, tx, 200, "OK")
}

// onInvite handles new INVITEs and re-INVITEs. For a new call it blocks until the INVITE
// transaction has its final response (or is cancelled), since sipgo ends the transaction when
// the handler returns.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			s.onReInvite(req, tx)
			return
		}
	}
	src := sourceOf(req)
	if !s.admit(req, src) || !s.hold(req, tx, src) {
		return
	}
	log := withCallTag(s.log.With("sip_call_id", callID(req)))
	if s.isClosed() {
		s.respond(req, tx, 503, "Service Unavailable")
		return
	}
	s.respond(req, tx, 100, "Trying")

	transport := strings.ToLower(req.Transport())
	authUser, ok := s.authenticateInvite(req, tx, src, transport)
	if !ok {
		return
	}

	if len(req.Body()) == 0 || !isSDPType(req.ContentType()) {
		log.Info("INVITE refused: no SDP offer (late offer is not supported)")
		s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", `399 parley "SDP offer required"`))
		return
	}
	offer, err := parseSDP(req.Body())
	var neg negotiated
	if err == nil {
		neg, err = negotiate(offer, nil)
	}
	if err == nil {
		err = s.checkSRTPPolicy(transport, neg)
	}
	if err != nil {
		log.Info("INVITE refused", "status", 488, "err", err)
		s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", `305 parley "Incompatible media format"`))
		return
	}

	localIP := s.localIPFor(src.Addr())

	contact := s.contactHeader(localIP, transport)
	client := s.udpClient
	if transport != "udp" {
		client = s.tcpClient
	}
	// Over TLS our requests reuse the caller's connection (RFC 5923's reasoning): a phone
	// rarely has a certificate to accept one, and NAT would block it anyway.
	dua := &sipgo.DialogUA{Client: client, ContactHDR: *contact, RewriteContact: transport == "udp" || transport == "tls"}
	dialog, err := dua.ReadInvite(req, tx)
	if err != nil {
		log.Info("INVITE refused", "status", 400, "err", err)
		s.respond(req, tx, 400, "Bad Request")
		return
	}

	l := newInboundLeg(s, req, dialog, neg, localIP, transport, src, log)
	l.authUser = authUser
	s.legsMu.Lock()
	s.legs[dialog.ID] = l
	s.legsMu.Unlock()
	log.Info("inbound call", "auth_user", authUser, "from", l.info.FromUser, "to", l.info.ToUser, "source", src.String(), "transport", transport, "codec", neg.codec.String(), "srtp", neg.crypto != nil)

	go l.watchDialog()
	go s.opts.Handler(s.ctx, l)

	<-l.inviteDone
}

func (s *Server) forget(id string, l dialogLeg) {
	s.legsMu.Lock()
	if s.legs[id] == l {
		delete(s.legs, id)
	}
	s.legsMu.Unlock()
}

func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	if l := s.dialogOf(req, tx); l != nil {
		l.handleReInvite(req, tx)
	}
}
