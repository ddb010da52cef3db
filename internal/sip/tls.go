package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// TLSOptions configure SIP over TLS (RFC 3261 §26.2; RFC 5630 for sips:).
type TLSOptions struct {
	// ListenAddr is "host:port" of the TLS listener (usually :5061); "" turns inbound TLS off.
	// Port 0 picks a free port (see TLSAddr). It needs CertFile and KeyFile.
	ListenAddr string
	// CertFile and KeyFile are the PEM certificate chain and private key the listener presents.
	CertFile, KeyFile string
	// Client is the configuration of outbound TLS connections (INVITEs to sips: URIs and
	// ;transport=tls contacts). Nil verifies the far end against the system's roots.
	Client *tls.Config
}

// tlsEdge is the server's TLS listener.
type tlsEdge struct {
	ln    net.Listener // the bound TCP listener (closed by Close)
	limit *tcpLimitListener
	addr  netip.AddrPort
}

// serverTLSConfig loads the listener's certificate.
func serverTLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("sip server: a TLS listen address needs a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sip server: loading the TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// clientTLSConfig is the configuration of outbound TLS (never nil: sipgo needs one).
func (s *Server) clientTLSConfig() *tls.Config {
	if c := s.opts.TLS.Client; c != nil {
		return c
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// listenTLS binds the TLS listener when one is configured; the caller serves it.
func (s *Server) listenTLS() error {
	o := s.opts.TLS
	if o.ListenAddr == "" {
		return nil
	}
	conf, err := serverTLSConfig(o)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(o.ListenAddr)
	if err != nil {
		return fmt.Errorf("sip server: TLS listen address %q: %w", o.ListenAddr, err)
	}
	ip := s.bindIP
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return fmt.Errorf("sip server: TLS listen host %q must be an IP address: %w", host, err)
		}
	}
	network := "tcp4"
	if !ip.Unmap().Is4() {
		network = "tcp"
	}
	ln, err := net.Listen(network, net.JoinHostPort(ip.Unmap().String(), port))
	if err != nil {
		return fmt.Errorf("sip server: cannot listen on TLS %s: %w", o.ListenAddr, err)
	}
	// The same caps and idle timeout as SIP-TCP, counted apart; an idle timeout also ends a
	// connection that never completes its handshake.
	s.tls.limit = &tcpLimitListener{Listener: ln, maxTotal: s.opts.TCPMaxConns, maxPerSource: s.opts.TCPMaxConnsPerSource,
		idle: s.opts.TCPIdleTimeout, trusted: s.guard.Trusted, log: s.log, perSource: map[netip.Addr]int{}}
	s.tls.ln = ln
	s.tls.addr = netip.AddrPortFrom(ip.Unmap(), uint16(ln.Addr().(*net.TCPAddr).Port))
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.srv.ServeTLS(tls.NewListener(s.tls.limit, conf)); err != nil && !s.isClosed() {
			s.log.Error("SIP TLS listener stopped", "err", err)
		}
	}()
	s.log.Info("SIP listening", "addr", s.tls.addr.String(), "transports", "tls")
	return nil
}

// TLSAddr is the bound TLS listen address; ok is false when TLS is off.
func (s *Server) TLSAddr() (addr netip.AddrPort, ok bool) {
	return s.tls.addr, s.tls.ln != nil
}

// listenPort is the port we listen on for transport: the TLS listener's for tls, else the
// UDP/TCP one.
func (s *Server) listenPort(transport string) int {
	if transport == "tls" && s.tls.ln != nil {
		return int(s.tls.addr.Port())
	}
	return int(s.addr.Port())
}

func (s *Server) closeTLS() error {
	if s.tls.ln == nil {
		return nil
	}
	if err := s.tls.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// uriTransport is the transport and port a SIP URI asks for: sips: and ;transport=tls mean TLS
// (default port 5061), else the transport parameter or UDP (default port 5060).
func uriTransport(u sip.Uri) (transport string, port int) {
	transport = "udp"
	if tr, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToLower(tr)
	}
	if u.Scheme == "sips" {
		transport = "tls"
	}
	port = u.Port
	if port == 0 {
		port = 5060
		if transport == "tls" {
			port = 5061
		}
	}
	return transport, port
}
