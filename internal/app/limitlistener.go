package app

import (
	"net"
	"sync"
)

// connLimitListener caps the connections open at once: Accept waits while max are open, so
// the excess waits in the kernel's accept queue instead of costing a descriptor and a goroutine
// each. It is the few lines of golang.org/x/net/netutil.LimitListener, written here so that
// x/net, only an indirect dependency, does not become a direct one for this.
type connLimitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newConnLimitListener(l net.Listener, max int) *connLimitListener {
	return &connLimitListener{Listener: l, slots: make(chan struct{}, max), done: make(chan struct{})}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *connLimitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its slot back when closed (once, however often Close is called).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
