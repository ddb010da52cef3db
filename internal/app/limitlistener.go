package app

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// connLimitListener caps the connections open at once. When all max slots are taken, a new
// connection takes the slot of the connection that has waited longest without a request in
// progress (just accepted and not yet sent a whole request, or an idle keep-alive): thousands
// of idle or slowloris connections then only ever push each other out, and a client that sends
// its request at once is served. Only when every open connection is busy (a request in
// progress, or hijacked, such as an agent's WebSocket) does Accept wait, so that the excess
// waits in the kernel's accept queue instead of costing a descriptor and a goroutine each.
// It must be told the connections' states: connState is the http.Server's ConnState hook.
type connLimitListener struct {
	net.Listener
	max       int
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	open    int
	waiting *list.List    // *limitedConn without a request in progress, longest waiting first
	freed   chan struct{} // a slot was freed or a connection became evictable (buffered, 1)
}

func newConnLimitListener(l net.Listener, max int) *connLimitListener {
	return &connLimitListener{Listener: l, max: max, done: make(chan struct{}),
		waiting: list.New(), freed: make(chan struct{}, 1)}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		full, evictable := l.open >= l.max, l.waiting.Len() > 0
		l.mu.Unlock()
		if full && !evictable {
			select {
			case <-l.freed:
				continue
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// Full: the connection waiting longest gives its slot to this one. If the busy ones
		// took them all meanwhile, this one is dropped rather than held over the cap.
		l.mu.Lock()
		var victim *limitedConn
		if l.open >= l.max {
			if e := l.waiting.Front(); e != nil {
				victim = e.Value.(*limitedConn)
				l.releaseLocked(victim)
			}
		}
		if l.open >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l}
		l.open++
		lc.elem = l.waiting.PushBack(lc)
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close()
		}
		return lc, nil
	}
}

// releaseLocked gives c's slot back, once. l.mu is held.
func (l *connLimitListener) releaseLocked(c *limitedConn) {
	if c.released {
		return
	}
	c.released = true
	if c.elem != nil {
		l.waiting.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	l.signal()
}

func (l *connLimitListener) signal() {
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// connState is the http.Server's ConnState hook: it tells which connections have a request in
// progress (never evicted) and which wait (evictable, longest waiting first).
func (l *connLimitListener) connState(nc net.Conn, state http.ConnState) {
	c := asLimitedConn(nc)
	if c == nil || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	switch state {
	case http.StateActive, http.StateHijacked:
		if c.elem != nil {
			l.waiting.Remove(c.elem)
			c.elem = nil
		}
	case http.StateIdle:
		if c.elem != nil {
			l.waiting.Remove(c.elem)
		}
		c.elem = l.waiting.PushBack(c)
		l.signal()
	}
}

// asLimitedConn finds the limitedConn under a connection the HTTP server holds (a TLS
// connection wraps it).
func asLimitedConn(c net.Conn) *limitedConn {
	for c != nil {
		if lc, ok := c.(*limitedConn); ok {
			return lc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

func (l *connLimitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its slot back when closed (once, however often Close is called).
type limitedConn struct {
	net.Conn
	l        *connLimitListener
	elem     *list.Element // in l.waiting while evictable; guarded by l.mu
	released bool          // guarded by l.mu
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return err
}
