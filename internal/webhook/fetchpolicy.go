package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrFetchDenied is the cause of a request refused by a FetchPolicy: the address the URL's
// host resolved to is in a denied network, or is one of Parley's own listeners.
var ErrFetchDenied = errors.New("fetch policy: destination denied")

// DefaultFetchDeny are the networks denied unless configured otherwise: link-local (where cloud
// metadata services live, 169.254.169.254 among them) and the IPv6 metadata addresses of AWS.
// Loopback is allowed: a web app on the same host is a normal set-up.
var DefaultFetchDeny = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// FetchPolicy says which addresses Parley's outgoing HTTP (documents, callbacks, audio files,
// streams) may connect to. It is enforced when a connection is made, on the address the name
// resolved to, so a name that resolves to a denied address (DNS rebinding included) is refused.
type FetchPolicy struct {
	// Deny are the denied networks.
	Deny []netip.Prefix
	// Self are Parley's own listeners. An unspecified address (0.0.0.0, ::) stands for every
	// address of this host, given by LocalAddrs, and loopback.
	Self []netip.AddrPort
	// LocalAddrs are this host's addresses (used with an unspecified Self address).
	LocalAddrs []netip.Addr
	// SelfPaths are URL path prefixes that may reach Self (Parley's demo application is fetched
	// from Parley's own HTTP listener). Such requests use a separate connection pool, so a
	// connection made for one of them never carries another request.
	SelfPaths []string
}

// check says why ip:port may not be dialled, or nil.
func (p *FetchPolicy) check(ap netip.AddrPort, allowSelf bool) error {
	ip := ap.Addr().Unmap()
	for _, d := range p.Deny {
		if d.Contains(ip) {
			return fmt.Errorf("%w: %s is in the denied network %s", ErrFetchDenied, ip, d)
		}
	}
	if allowSelf {
		return nil
	}
	for _, s := range p.Self {
		if s.Port() != ap.Port() {
			continue
		}
		if sa := s.Addr().Unmap(); sa == ip || (sa.IsUnspecified() && p.isLocal(ip)) || (sa.IsLoopback() && ip.IsLoopback()) {
			return fmt.Errorf("%w: %s is Parley's own listener", ErrFetchDenied, ap)
		}
	}
	return nil
}

func (p *FetchPolicy) isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	for _, a := range p.LocalAddrs {
		if a.Unmap() == ip {
			return true
		}
	}
	return false
}

// SocketOption sets an option of a socket before it connects (e.g. SendBuffer). It runs in the
// dialer's Control step, after the policy has allowed the address.
type SocketOption func(c syscall.RawConn) error

// Control is a net.Dialer Control function enforcing the policy, then applying opts; allowSelf
// lets it reach Self. It sees the address after name resolution, for every address tried.
func (p *FetchPolicy) Control(allowSelf bool, opts ...SocketOption) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: unexpected address %q", ErrFetchDenied, address)
		}
		if err := p.check(ap, allowSelf); err != nil {
			return err
		}
		for _, opt := range opts {
			if err := opt(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// Dialer returns a dialer enforcing the policy and applying opts to its sockets, for clients
// other than HTTP; allowSelf lets it reach Self.
func (p *FetchPolicy) Dialer(allowSelf bool, opts ...SocketOption) *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control(allowSelf, opts...)}
}

// Transport wraps base (cloned, never modified) so every connection obeys the policy and has
// opts applied to its socket. Requests whose path starts with one of SelfPaths go through a
// second clone that may reach Self.
func (p *FetchPolicy) Transport(base *http.Transport, opts ...SocketOption) http.RoundTripper {
	mk := func(allowSelf bool) *http.Transport {
		t := base.Clone()
		t.DialContext = p.Dialer(allowSelf, opts...).DialContext
		return t
	}
	pt := &policyTransport{p: p, main: mk(false)}
	if len(p.SelfPaths) > 0 {
		pt.self = mk(true)
	}
	return pt
}

type policyTransport struct {
	p          *FetchPolicy
	main, self *http.Transport
}

func (t *policyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.self != nil {
		for _, prefix := range t.p.SelfPaths {
			if strings.HasPrefix(r.URL.Path, prefix) && !strings.Contains(r.URL.Path, "..") {
				return t.self.RoundTrip(r)
			}
		}
	}
	return t.main.RoundTrip(r)
}

// CloseIdleConnections closes both pools' idle connections.
func (t *policyTransport) CloseIdleConnections() {
	t.main.CloseIdleConnections()
	if t.self != nil {
		t.self.CloseIdleConnections()
	}
}
