//go:build linux

package webhook

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"
	"testing"
)

// sendBuffer reads a connection's SO_SNDBUF.
func sendBuffer(t *testing.T, conn net.Conn) int {
	t.Helper()
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		n, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return n
}

// TestSendBufferOption: the option reaches the socket of a policy dialer and of a policy
// transport's connections, and the policy is still checked first.
func TestSendBufferOption(t *testing.T) {
	const size = 48 << 10 // Linux reports twice what was set
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := &FetchPolicy{}
	conn, err := p.Dialer(false, SendBuffer(size)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if n := sendBuffer(t, conn); n != 2*size {
		t.Errorf("dialer: SO_SNDBUF %d, want %d", n, 2*size)
	}

	var got int
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DisableKeepAlives = true
	rt := p.Transport(base, SendBuffer(size), func(c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		})
	})
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != 2*size {
		t.Errorf("transport: SO_SNDBUF %d, want %d", got, 2*size)
	}

	denied := &FetchPolicy{Self: []netip.AddrPort{netip.MustParseAddrPort(ln.Addr().String())}}
	var applied bool
	_, err = denied.Dialer(false, func(syscall.RawConn) error { applied = true; return nil }).Dial("tcp", ln.Addr().String())
	if !errors.Is(err, ErrFetchDenied) || applied {
		t.Errorf("denied dial: err %v, option applied %v", err, applied)
	}
}
