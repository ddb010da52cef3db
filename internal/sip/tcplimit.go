package sip

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// tcpLimitListener is the SIP-TCP listener handed to sipgo. It caps the connections open at
// once, in total and per source address (trusted networks are exempt from the per-source cap),
// closes a connection idle for longer than idle, and never lets an accept error end the accept
// loop: sipgo's loop returns on the first error, so a burst of EMFILE would end SIP over TCP
// for good. Errors are logged (at most once a second) and retried with a back-off.
type tcpLimitListener struct {
	net.Listener
	maxTotal, maxPerSource int
	idle                   time.Duration
	trusted                func(netip.Addr) bool
	log                    *slog.Logger

	open    atomic.Int64
	refused atomic.Uint64

	mu        sync.Mutex
	perSource map[netip.Addr]int
	lastLog   time.Time
}

// Accept-error back-off bounds.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

func (l *tcpLimitListener) Accept() (net.Conn, error) {
	backoff := acceptBackoffMin
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.logRarely("SIP TCP accept failed; retrying", "err", err, "retry_in", backoff.String())
			time.Sleep(backoff)
			backoff = min(backoff*2, acceptBackoffMax)
			continue
		}
		backoff = acceptBackoffMin
		if lc, ok := l.admit(c); ok {
			return lc, nil
		}
		l.refused.Add(1)
		_ = c.Close()
	}
}

// admit counts c against the caps; ok is false when it is over one.
func (l *tcpLimitListener) admit(c net.Conn) (net.Conn, bool) {
	var src netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = a.AddrPort().Addr().Unmap()
	}
	perSource := l.maxPerSource > 0 && !(l.trusted != nil && l.trusted(src))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.open.Load() >= int64(l.maxTotal) {
		l.logRarelyLocked("SIP TCP connection refused: too many open", "source", src.String(), "open", l.open.Load())
		return nil, false
	}
	if perSource && l.perSource[src] >= l.maxPerSource {
		l.logRarelyLocked("SIP TCP connection refused: too many from one source", "source", src.String())
		return nil, false
	}
	l.open.Add(1)
	if perSource {
		l.perSource[src]++
	}
	return &limitedConn{Conn: c, l: l, src: src, counted: perSource}, true
}

func (l *tcpLimitListener) release(src netip.Addr, counted bool) {
	l.mu.Lock()
	l.open.Add(-1)
	if counted {
		if n := l.perSource[src] - 1; n > 0 {
			l.perSource[src] = n
		} else {
			delete(l.perSource, src)
		}
	}
	l.mu.Unlock()
}

func (l *tcpLimitListener) logRarely(msg string, args ...any) {
	l.mu.Lock()
	l.logRarelyLocked(msg, args...)
	l.mu.Unlock()
}

func (l *tcpLimitListener) logRarelyLocked(msg string, args ...any) {
	if now := time.Now(); now.Sub(l.lastLog) >= time.Second {
		l.lastLog = now
		l.log.Warn(msg, args...)
	}
}

// limitedConn gives its slot back when closed and times out reads after the idle time.
type limitedConn struct {
	net.Conn
	l       *tcpLimitListener
	src     netip.Addr
	counted bool
	once    sync.Once
}

func (c *limitedConn) Read(b []byte) (int, error) {
	if c.l.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.idle))
	}
	return c.Conn.Read(b)
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.src, c.counted) })
	return c.Conn.Close()
}
