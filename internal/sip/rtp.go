package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
)

// rtpHeaderLen is the fixed RTP header size (RFC 3550 §5.1) we write.
const rtpHeaderLen = 12

var errNotRTP = errors.New("not an RTP packet")

// parseRTP reads an RTP packet in place: p.Payload aliases b. It handles CSRCs, header
// extensions and padding, and rejects what is not RTP version 2 or is RTCP multiplexed on the
// RTP port (RFC 5761: payload types 72-76 with the marker bit are RTCP packet types 200-204).
func parseRTP(b []byte, p *media.Packet) error {
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		return errNotRTP
	}
	if pt := b[1] & 0x7f; pt >= 72 && pt <= 76 {
		return errNotRTP
	}
	off := rtpHeaderLen + int(b[0]&0x0f)*4
	if len(b) < off {
		return errNotRTP
	}
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return errNotRTP
		}
		off += 4 + int(binary.BigEndian.Uint16(b[off+2:]))*4
		if len(b) < off {
			return errNotRTP
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding: the last byte counts the padding bytes
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return errNotRTP
		}
		end -= pad
	}
	p.PayloadType = b[1] & 0x7f
	p.Marker = b[1]&0x80 != 0
	p.Seq = binary.BigEndian.Uint16(b[2:])
	p.Timestamp = binary.BigEndian.Uint32(b[4:])
	p.SSRC = binary.BigEndian.Uint32(b[8:])
	p.Payload = b[off:end]
	return nil
}

// putRTPHeader writes a 12-byte RTP header into b.
func putRTPHeader(b []byte, pt uint8, marker bool, seq uint16, ts, ssrc uint32) {
	b[0] = 0x80
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
}

// portAllocator hands out even UDP ports from one server's configured range. Each Server has
// its own, so several servers in one process never share state; a port taken by someone else
// is skipped.
type portAllocator struct {
	mu       sync.Mutex
	min, max int // inclusive; 0,0 = ephemeral ports
	next     int
}

func newPortAllocator(min, max int) *portAllocator {
	if min > 0 && min%2 == 1 {
		min++
	}
	return &portAllocator{min: min, max: max, next: min}
}

// listen binds a UDP socket for RTP on ip.
func (a *portAllocator) listen(ip netip.Addr) (*net.UDPConn, error) {
	if a.min <= 0 || a.max < a.min {
		return net.ListenUDP(udpNet(ip), net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	span := (a.max-a.min)/2 + 1
	var lastErr error
	for i := 0; i < span; i++ {
		port := a.next
		a.next += 2
		if a.next > a.max {
			a.next = a.min
		}
		c, err := net.ListenUDP(udpNet(ip), net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free RTP port in %d-%d: %w", a.min, a.max, lastErr)
}

func udpNet(ip netip.Addr) string {
	if ip.Is4() || ip.Is4In6() {
		return "udp4"
	}
	return "udp"
}

// rtpStream is one leg's RTP socket. Reads and writes go straight to the socket (no goroutine,
// no pacing). The send address follows the peer's SDP until a source is learned by the source
// rules (rtpsource.go); from then on packets go where the peer's RTP comes from (symmetric
// RTP, so calls behind NAT work). A new remote address in a re-INVITE starts learning over.
type rtpStream struct {
	conn   *net.UDPConn
	remote atomic.Pointer[netip.AddrPort] // where our RTP goes
	// sendOK is false while the peer said it does not want media (sendonly, inactive, c=0.0.0.0).
	sendOK atomic.Bool

	viewMu sync.Mutex                 // serialises the writers of view
	view   atomic.Pointer[sourceView] // what signalling said; read by the reader
	filter sourceFilter               // owned by the one reader
	now    func() time.Time

	// sec, when set, makes the stream SRTP (srtp.go): received packets are authenticated and
	// decrypted before anything else looks at them, sent ones encrypted.
	sec atomic.Pointer[srtpSession]

	stats rtpStats
	rx    rxTracker      // owned by the one reader
	drops *atomic.Uint64 // the server's count of dropped packets; nil in tests

	// Write side. The call.Leg contract allows one writer at a time; the mutex (uncontended,
	// ~20 ns) keeps a sloppy hand-over between two owners from corrupting seq/timestamp.
	wmu  sync.Mutex
	wbuf [1500]byte
	seq  uint16
	ts   uint32
	ssrc uint32
}

func newRTPStream(conn *net.UDPConn) *rtpStream {
	s := &rtpStream{conn: conn, seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32(), now: time.Now}
	s.view.Store(&sourceView{})
	return s
}

func (s *rtpStream) localPort() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// updateView changes the source view under viewMu.
func (s *rtpStream) updateView(change func(v *sourceView)) {
	s.viewMu.Lock()
	v := *s.view.Load()
	change(&v)
	s.view.Store(&v)
	s.viewMu.Unlock()
}

// setRemote sets the SDP address of the peer; a change starts source learning over and opens
// the latch window.
func (s *rtpStream) setRemote(ap netip.AddrPort, sendOK bool) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s.updateView(func(v *sourceView) {
		if v.expected != ap || v.gen == 0 {
			v.expected = ap
			v.gen++
			v.windowUntil = s.now().Add(latchWindow).UnixNano()
			s.remote.Store(&ap)
		}
	})
	s.sendOK.Store(sendOK && ap.Addr().IsValid() && !ap.Addr().IsUnspecified() && ap.Port() != 0)
}

// setPeer records the address of the SIP peer: RTP from its IP may be learned outside the
// latch window.
func (s *rtpStream) setPeer(ip netip.Addr) {
	s.updateView(func(v *sourceView) { v.peer = ip.Unmap() })
}

// openLatchWindow lets a foreign source be learned for latchWindow from now: called on
// answer, when a phone behind NAT starts sending.
func (s *rtpStream) openLatchWindow() {
	s.updateView(func(v *sourceView) { v.windowUntil = s.now().Add(latchWindow).UnixNano() })
}

// read blocks for the next valid RTP packet from the accepted source; everything else is
// dropped and counted.
func (s *rtpStream) read(buf []byte) (media.Packet, error) {
	var p media.Packet
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return p, err
		}
		if sec := s.sec.Load(); sec != nil {
			// Forged or foreign packets fail authentication here and never reach the
			// source rules, so they cannot be learned as the source.
			plain, err := sec.decrypt(buf[:n])
			if err != nil {
				s.dropped()
				continue
			}
			n = len(plain)
		}
		if parseRTP(buf[:n], &p) != nil {
			s.dropped()
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		now := s.now()
		accept, learned := s.filter.admit(from, &p, now.UnixNano(), s.view.Load())
		if !accept {
			s.dropped()
			continue
		}
		if learned {
			if cur := s.remote.Load(); cur == nil || *cur != from {
				s.remote.Store(&from)
			}
		}
		s.rx.received(&p, now, &s.stats)
		return p, nil
	}
}

func (s *rtpStream) dropped() {
	s.stats.foreign.Add(1)
	if s.drops != nil {
		s.drops.Add(1)
	}
}

// newRTPStream makes a stream whose drops count in the server's total.
func (srv *Server) newRTPStream(conn *net.UDPConn) *rtpStream {
	r := newRTPStream(conn)
	r.drops = &srv.rtpDropped
	return r
}

// RTPDropped is how many received packets every leg dropped since start: not RTP, or from a
// source the source rules refused.
func (srv *Server) RTPDropped() uint64 { return srv.rtpDropped.Load() }

// write sends one packet at once.
func (s *rtpStream) write(payload []byte, pt uint8, marker bool, tsInc uint32) error {
	if len(payload) > len(s.wbuf)-rtpHeaderLen {
		return fmt.Errorf("RTP payload of %d bytes is too large", len(payload))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	putRTPHeader(s.wbuf[:], pt, marker, s.seq, s.ts, s.ssrc)
	s.seq++
	s.ts += tsInc
	dst := s.remote.Load()
	if dst == nil || !s.sendOK.Load() {
		return nil // the peer does not want media now: drop quietly, keep the clock running
	}
	n := copy(s.wbuf[rtpHeaderLen:], payload)
	pkt := s.wbuf[:rtpHeaderLen+n]
	if sec := s.sec.Load(); sec != nil {
		var err error
		if pkt, err = sec.encrypt(pkt); err != nil {
			return fmt.Errorf("SRTP: %w", err)
		}
	}
	if _, err := s.conn.WriteToUDPAddrPort(pkt, *dst); err != nil {
		return err
	}
	s.stats.packetsOut.Add(1)
	s.stats.bytesOut.Add(uint64(n))
	return nil
}

func (s *rtpStream) close() error { return s.conn.Close() }

// rtpStats are a stream's counters (call.MediaStats). They are atomics so that Stats, called
// from anywhere, never makes the packet path take a lock.
type rtpStats struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	lost                 atomic.Uint64
	foreign              atomic.Uint64 // packets dropped by the source rules, or not RTP
	jitter               atomic.Uint64 // RFC 3550 estimate, in 8 kHz timestamp units
}

func (s *rtpStats) snapshot() call.MediaStats {
	return call.MediaStats{
		PacketsIn:   s.packetsIn.Load(),
		BytesIn:     s.bytesIn.Load(),
		PacketsOut:  s.packetsOut.Load(),
		BytesOut:    s.bytesOut.Load(),
		PacketsLost: s.lost.Load(),
		Jitter:      time.Duration(s.jitter.Load()) * sampleDuration,
	}
}

// sampleDuration is one timestamp unit of the 8 kHz clock of G.711 and telephone-event.
const sampleDuration = time.Second / media.SampleRate

// Sequence rules of RFC 3550 appendix A.1: a jump forward of more than maxDropout or backwards
// of more than maxMisorder means the sender restarted its numbering, not that packets were lost.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// rxTracker follows the received sequence numbers and timestamps for the loss and jitter
// counters. Only the stream's one reader touches it.
type rxTracker struct {
	started bool
	ssrc    uint32
	maxSeq  uint16

	// Jitter of audio packets (telephone-event packets repeat their timestamp on purpose).
	epoch       time.Time
	haveTransit bool
	lastArrival int64  // in timestamp units since epoch
	lastTS      uint32 // RTP timestamp of that packet
	jitter16    int64  // 16 times the estimate (RFC 3550 appendix A.8)
}

// received counts one valid packet that arrived at now.
func (t *rxTracker) received(p *media.Packet, now time.Time, st *rtpStats) {
	st.packetsIn.Add(1)
	st.bytesIn.Add(uint64(len(p.Payload)))
	if !t.started || p.SSRC != t.ssrc {
		// A new source: its numbering and clock start afresh.
		t.started, t.ssrc, t.maxSeq, t.haveTransit = true, p.SSRC, p.Seq, false
		t.epoch = now
	} else {
		t.sequence(p.Seq, st)
	}
	if _, audio := media.CodecFromPayloadType(p.PayloadType); audio {
		t.transit(p.Timestamp, now, st)
	}
}

func (t *rxTracker) sequence(seq uint16, st *rtpStats) {
	d := int16(seq - t.maxSeq)
	switch {
	case d == 0: // a duplicate
	case d > 0 && d <= maxDropout:
		st.lost.Add(uint64(d - 1))
		t.maxSeq = seq
	case d < 0 && d > -maxMisorder:
		// Late, after it was counted lost: it arrived after all.
		if st.lost.Load() > 0 {
			st.lost.Add(^uint64(0))
		}
	default:
		t.maxSeq = seq // the sender restarted its numbering
	}
}

// transit updates the interarrival jitter: J += (|D| - J)/16, D the difference between two
// packets' spacing on arrival and in RTP timestamps (RFC 3550 §6.4.1).
func (t *rxTracker) transit(ts uint32, now time.Time, st *rtpStats) {
	arrival := int64(now.Sub(t.epoch) / sampleDuration)
	if t.haveTransit {
		d := (arrival - t.lastArrival) - int64(int32(ts-t.lastTS))
		if d < 0 {
			d = -d
		}
		t.jitter16 += d - (t.jitter16+8)>>4
		st.jitter.Store(uint64(t.jitter16 >> 4))
	}
	t.haveTransit, t.lastArrival, t.lastTS = true, arrival, ts
}
