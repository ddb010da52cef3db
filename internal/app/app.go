// Package app wires Parley together: it builds every part from the configuration, plugs the
// concrete types into the interfaces the lower packages declare, and starts and stops them in
// order. It is the only package allowed to import everything; it holds no call logic itself
// beyond routing a new inbound call to its application and, in a cluster, joining a call to a
// room on another node (cluster_conference.go).
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/cluster"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/console"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/sip"
	"github.com/parley-voice/parley/internal/sipguard"
	"github.com/parley-voice/parley/internal/store"
	"github.com/parley-voice/parley/internal/stream"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/webhook"
)

// Options are the process-level inputs of a Server.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Stdout receives the one-time printout of a generated account and the listen addresses.
	Stdout io.Writer
}

// Server is one running Parley.
type Server struct {
	cfg    *config.Config
	log    *slog.Logger
	stdout io.Writer

	store      store.Store
	docs       *webhook.Client
	dispatcher *webhook.Dispatcher
	runner     *flow.Runner
	streams    *flow.Streams
	conf       *conference.Manager
	synth      flow.Synthesizer
	calls      *call.Registry
	lastRooms  lastRooms // the room each live leg entered last, for its call record
	sip        *sip.Server
	sipGuard   *sipguard.Guard
	console    *console.Console
	httpSrv    *http.Server
	httpLn     net.Listener
	routes     *routes
	callMedia  *callMedia // overlays and REST recordings of the call-level media routes
	// rooms joins rooms homed on other cluster nodes and serves their internal legs; nil on a
	// single node.
	rooms *clusterRooms
	// nodeSources are the cluster's nodes, trusted by the SIP guard.
	nodeSources nodeSources
	// fetch is the policy of outgoing HTTP; Start adds the listeners' addresses before anything
	// is fetched.
	fetch *webhook.FetchPolicy

	drainMu  sync.Mutex // orders beginHandler against Shutdown's Wait
	draining atomic.Bool
	// joined is set at the end of Start on a cluster node: until then its SIP and REST answer
	// 503, and after it s.node and s.nodes are read without a lock.
	joined atomic.Bool
	// bootID names this process in its legs' records on a single node (a cluster node has the
	// cluster's boot id), so that its next run can close what it left live.
	bootID   string
	handlers sync.WaitGroup // one per inbound call being handled

	runCtx    context.Context
	cancelRun context.CancelFunc
	bg        sync.WaitGroup // background loops (dispatcher)

	metrics *metrics // the Prometheus registry and the instruments the hooks feed

	// node is this process in the cluster (nats_url set); nil on a single node. Everything
	// cluster-specific is behind `if s.node != nil`, in cluster*.go.
	node *cluster.Node
	// nodes is node behind the interface that REST forwarding, the cluster-wide lists, the
	// call directory and the reaper of dead nodes' calls use (cluster_*.go; tests put a fake
	// cluster there); nil on a single node and until the node has joined.
	nodes clusterNode
	// restAPI is the REST handler without the forwarding, which serves forwarded requests.
	restAPI http.Handler
	// peerTransport fetches recording files from the other nodes (cluster_recordings.go).
	peerTransport *http.Transport
	// hideRecordingFiles, set by tests, makes files this node would find look absent, as
	// another node's files are on its own disk.
	hideRecordingFiles func(path string) bool
}

// New builds a Server from the configuration: it prepares the data directory, opens the store
// and applies the configured accounts and applications. Nothing listens until Start.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	nodeID := "" // a single node's lines and metrics carry no node
	if cfg.Clustered() {
		nodeID = cfg.NodeID()
		opts.Logger = opts.Logger.With("node_id", nodeID)
	}
	m := newMetrics(nodeID)
	s := &Server{cfg: cfg, bootID: uuid.NewString(), log: opts.Logger, stdout: opts.Stdout, metrics: m, calls: call.NewObservedRegistry(m.callEnded)}
	m.register.MustRegister(&serverCollector{s: s})
	s.callMedia = newCallMedia(s)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", cfg.DataDir, err)
	}
	if _, err := config.EnsureAccount(cfg, cfg.DataDir, opts.Stdout); err != nil {
		return nil, fmt.Errorf("preparing the first account: %w", err)
	}
	ctx := context.Background()
	st, ob, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	s.store = st
	if s.routes, err = applyConfig(ctx, st, cfg); err != nil {
		st.Close()
		return nil, err
	}

	s.fetch = &webhook.FetchPolicy{Deny: cfg.FetchDeny, SelfPaths: []string{demoPathPrefix}}
	docTransport := httpTransport(cfg.WebhookTLSVerify)
	if cfg.HTTPSEnabled() {
		if err := trustOwnCertificate(docTransport, cfg.HTTPSCertFile); err != nil {
			st.Close()
			return nil, err
		}
	}
	httpOpts := webhook.HTTPOptions{
		HTTPClient:         &http.Client{Transport: s.fetch.Transport(docTransport)},
		Version:            opts.Version,
		Timeout:            cfg.WebhookTimeout,
		InsecureSkipVerify: !cfg.WebhookTLSVerify,
	}
	if s.peerTransport, err = s.newPeerTransport(); err != nil {
		st.Close()
		return nil, err
	}
	s.docs = webhook.NewClient(webhook.ClientOptions{HTTPOptions: httpOpts, Logger: s.log})
	s.dispatcher = webhook.NewDispatcher(ob, s.token, webhook.DispatcherOptions{
		HTTPOptions: httpOpts,
		MaxAge:      cfg.WebhookMaxAge,
		Logger:      s.log,
		Observer:    s.metrics,
	})
	var synth flow.Synthesizer = tts.NewEspeak(tts.EspeakOptions{Command: cfg.TTSCommand})
	if cfg.TTSCacheBytes > 0 {
		synth = tts.NewCache(synth, cfg.TTSCacheBytes)
	}
	s.synth = synth
	s.runner = &flow.Runner{
		Fetcher:  s.docs,
		Notifier: s.dispatcher,
		Synth:    synth,
		Audio:    flow.NewAudioFetcher(&http.Client{Transport: s.fetch.Transport(httpTransport(cfg.WebhookTLSVerify))}, cfg.MediaCacheBytes),
		CallLog:  st,
		Logger:   s.log,
	}
	s.runner.RecordingsDir = cfg.RecordingsDir
	s.runner.SaveRecording = s.saveCallRecording
	s.conf = s.newConferences()
	s.runner.Conferences = s.conf
	s.runner.DialRouter = dialRouter{s}
	s.runner.TrackLeg = s.trackLeg
	s.streams = &flow.Streams{Notifier: s.dispatcher, Logger: s.log}
	// The apps' WebSockets obey the fetch policy like every other outgoing request, and the
	// operator's TLS opt-out (streams.md §2.1: self-signed development certificates). HTTP/1.1
	// only: the upgrade needs it. A small socket send buffer makes a slow app show in the
	// stream's backlog at once.
	wsBase := httpTransport(cfg.WebhookTLSVerify)
	wsBase.ForceAttemptHTTP2 = false
	wsBase.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	wsClient := &http.Client{Transport: s.fetch.Transport(wsBase, webhook.SendBuffer(stream.SocketSendBuffer))}
	maxBacklog := cfg.StreamMaxBacklog
	s.streams.Configure = func(_ *call.Call, c *stream.Config) {
		c.HTTPClient = wsClient
		c.MaxBacklog = maxBacklog
	}
	s.runner.Streams = s.streams
	s.runner.MaxAnswered = cfg.MaxCallDuration
	s.sipGuard = newSIPGuard(cfg, s)
	if s.runner.Speech, err = newSpeech(cfg, s.docs); err != nil {
		st.Close()
		return nil, err
	}
	s.sip, err = sip.New(sip.Options{
		Guard:                s.sipGuard,
		MaxPending:           cfg.SIP.MaxPending,
		TCPMaxConns:          sipTCPConnBudget(cfg, fileLimit(), s.log),
		TCPMaxConnsPerSource: cfg.SIP.TCPMaxConnsPerSource,
		TCPIdleTimeout:       cfg.SIP.TCPIdleTimeout,
		ListenAddr:           s.cfg.SIPAddr,
		PublicIP:             s.cfg.PublicIP,
		RTPPortMin:           s.cfg.RTPPorts.Min,
		RTPPortMax:           s.cfg.RTPPorts.Max,
		UserAgent:            "Parley",
		Logger:               s.log,
		Handler:              s.handleInbound,
		Realm:                s.cfg.SIPDomain(),
		Registrar:            endpointCredentials{s},
		Authenticate:         s.authenticate,
		TLS:                  sipTLSOptions(cfg),
		SRTP:                 sip.SRTPOptions{Offer: cfg.Encryption.SRTPOffer, RequireOverTLS: cfg.Encryption.SRTPRequireOverTLS},
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	s.runner.Dialer = s.sip
	s.console = s.newConsole()
	return s, nil
}

// httpTransport is the base transport of outgoing HTTP (documents, webhooks, audio files); the
// fetch policy wraps it.
func httpTransport(verify bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	if !verify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // operator's explicit choice (webhook_tls_verify=false)
	}
	return t
}

// token returns an account's auth token for signing.
func (s *Server) token(authID string) (string, bool) {
	if a, ok := s.cfg.Account(authID); ok {
		return a.AuthToken, true
	}
	return "", false
}

// Start binds the HTTP and SIP listeners and starts the background loops. It prints where
// Parley listens.
func (s *Server) Start(ctx context.Context) error {
	raiseFileLimit(s.log)
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	s.httpLn = ln
	// Before the dispatcher starts: the policy must know our own listeners first.
	s.fetch.Self, s.fetch.LocalAddrs = s.ownListeners()
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.dispatcher.Run(s.runCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("webhook dispatcher stopped", "err", err)
		}
	}()

	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.janitor(s.runCtx)
	}()

	s.routes.baseURL = s.publicBaseURL()
	s.runner.PublicBaseURL = s.routes.baseURL
	s.httpSrv = s.newHTTPServer()
	var serveLn net.Listener = ln
	if s.cfg.HTTPMaxConns > 0 {
		limited := newConnLimitListener(ln, s.cfg.HTTPMaxConns)
		s.httpSrv.ConnState = limited.connState
		serveLn = limited
	}
	if s.cfg.HTTPSEnabled() {
		if serveLn, err = httpsListener(serveLn, s.cfg.HTTPSCertFile, s.cfg.HTTPSKeyFile); err != nil {
			ln.Close()
			return err
		}
	}
	go func() {
		if err := s.httpSrv.Serve(serveLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", "err", err)
		}
	}()

	if err := s.sip.Start(ctx); err != nil {
		return err
	}
	if s.cfg.Clustered() { // once the listeners are bound: the registry shows real addresses
		if err := s.joinCluster(ctx); err != nil {
			return err
		}
	}
	s.startCluster()
	if s.nodes != nil {
		s.joined.Store(true)
	}
	if err := s.installDemo(ctx); err != nil {
		return fmt.Errorf("installing the demo application: %w", err)
	}
	// The first two fields keep their form: test/kit and scripts read them.
	extra := ""
	if a, ok := s.sip.TLSAddr(); ok {
		extra += " sip-tls=" + a.String()
	}
	if s.cfg.HTTPSEnabled() {
		extra += " (http serves HTTPS)"
	}
	fmt.Fprintf(s.stdout, "Parley listening: http=%s sip=%s (udp+tcp) rtp=%s%s\n", ln.Addr(), s.sip.Addr(), s.cfg.RTPPorts, extra)
	s.log.Info("parley started", "http", ln.Addr().String(), "sip", s.sip.Addr().String(), "data_dir", s.cfg.DataDir)
	return nil
}

// publicBaseURL is the configured public base URL, or one derived from the bound HTTP address.
func (s *Server) publicBaseURL() string {
	if s.cfg.PublicBaseURLOverride != "" {
		return s.cfg.PublicBaseURLOverride
	}
	addr := s.httpLn.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	scheme := "http://"
	if s.cfg.HTTPSEnabled() {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Logger is the server's root logger: the one given in Options, with node_id on a node of a
// cluster.
func (s *Server) Logger() *slog.Logger { return s.log }

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Shutdown drains as spec §9.8 says: new calls are refused, live calls get shutdown_grace to
// finish, then they are hung up (4000, source Vobiz); their webhooks go to the outbox, which is
// flushed for at most 5 s. When ctx ends (a second signal) the drain stops at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.drainMu.Lock()
	s.draining.Store(true)
	s.drainMu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	grace := time.NewTimer(s.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		s.hangupAll()
	case <-ctx.Done():
		s.hangupAll()
	}
	// Handlers finish quickly once their calls are down: they queue the last webhooks.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("some calls did not finish after hang-up")
	}
	// Rooms end once their last member has left; their recordings are finalised (and stored)
	// by then, and their queued events written to the outbox: wait for both before the store
	// closes.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if st := s.conf.Stats(); st.RoomsLive == 0 && st.EventsQueued == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := s.dispatcher.Flush(flushCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		s.log.Warn("webhook flush", "err", err)
	}
	cancel()
	return s.Close()
}

func (s *Server) hangupAll() {
	for _, c := range s.calls.All() {
		c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 503)
	}
	s.rooms.hangupMembers()
}

// Close stops everything at once.
func (s *Server) Close() error {
	var errs []error
	if s.cancelRun != nil {
		s.cancelRun()
	}
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.httpSrv.Shutdown(ctx)
		cancel()
	}
	if s.node != nil { // leave before the store closes: forwarded requests may still use it
		errs = append(errs, s.node.Close())
	}
	if s.sip != nil {
		errs = append(errs, s.sip.Close())
	}
	s.bg.Wait()
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}
