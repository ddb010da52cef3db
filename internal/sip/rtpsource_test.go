package sip

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

var (
	sdpAddr  = netip.MustParseAddrPort("192.0.2.10:40000")
	natAddr  = netip.MustParseAddrPort("198.51.100.7:61000") // the phone behind NAT
	evilAddr = netip.MustParseAddrPort("203.0.113.66:5004")
)

// sourceRig drives a sourceFilter with a fake clock.
type sourceRig struct {
	f    sourceFilter
	v    sourceView
	now  int64
	seqs map[netip.AddrPort]uint16
}

func newSourceRig(peer netip.Addr) *sourceRig {
	r := &sourceRig{now: int64(time.Hour), seqs: map[netip.AddrPort]uint16{}}
	r.v = sourceView{expected: sdpAddr, peer: peer, gen: 1, windowUntil: r.now + int64(latchWindow)}
	return r
}

// send offers one packet of stream ssrc from from, in sequence; it reports acceptance.
func (r *sourceRig) send(from netip.AddrPort, ssrc uint32) bool {
	r.seqs[from]++
	p := media.Packet{SSRC: ssrc, Seq: r.seqs[from]}
	ok, _ := r.f.admit(from, &p, r.now, &r.v)
	return ok
}

func (r *sourceRig) advance(d time.Duration) { r.now += int64(d) }

func TestRTPSourceSDPAddressWins(t *testing.T) {
	r := newSourceRig(netip.Addr{})
	if !r.send(sdpAddr, 1) {
		t.Fatal("the SDP address was refused")
	}
	// An injector inside the window, with its own SSRC and in sequence: refused while the
	// phone talks.
	for i := 0; i < 10; i++ {
		r.advance(20 * time.Millisecond)
		if r.send(evilAddr, 99) {
			t.Fatalf("injected packet %d accepted while the SDP source is active", i)
		}
		if !r.send(sdpAddr, 1) {
			t.Fatal("the SDP source was refused during an injection")
		}
	}
	// Even after the phone falls silent, a foreign source outside the window is refused.
	r.advance(latchWindow + relatchQuiet)
	for i := 0; i < 10; i++ {
		if r.send(evilAddr, 99) {
			t.Fatal("a foreign source re-latched outside the window")
		}
	}
}

func TestRTPSourceNATLatchInWindowOnly(t *testing.T) {
	r := newSourceRig(natAddr.Addr()) // the phone's SIP came from its NAT's address
	// The phone behind NAT sends from an address its SDP does not name: learned after the
	// probation, within the window.
	var got []bool
	for i := 0; i < latchProbation+2; i++ {
		got = append(got, r.send(natAddr, 5))
		r.advance(20 * time.Millisecond)
	}
	for i, ok := range got {
		if want := i >= latchProbation-1; ok != want {
			t.Errorf("NAT packet %d: accepted=%v, want %v", i, ok, want)
		}
	}
	// From an address that is neither the SDP's nor the SIP peer's, the probation is longer.
	other := newSourceRig(netip.Addr{})
	for i := 0; i < foreignProbation; i++ {
		if ok := other.send(natAddr, 5); ok != (i == foreignProbation-1) {
			t.Errorf("foreign packet %d: accepted=%v", i, ok)
		}
	}
	// Too late: the same from a new leg whose window has closed.
	late := newSourceRig(natAddr.Addr())
	late.advance(latchWindow + time.Millisecond)
	for i := 0; i < 10; i++ {
		if late.send(natAddr, 5) {
			t.Fatal("a foreign source was learned after the window")
		}
	}
}

func TestRTPSourceRelatchIsStrict(t *testing.T) {
	peer := natAddr.Addr()
	r := newSourceRig(peer)
	for i := 0; i < latchProbation; i++ {
		r.send(natAddr, 5)
	}
	if !r.send(natAddr, 5) {
		t.Fatal("NAT source not learned")
	}
	rebound := netip.AddrPortFrom(peer, 62000) // the NAT gave the phone a new port
	r.advance(latchWindow)
	r.send(natAddr, 5)
	// Not while the learned source is fresh.
	for i := 0; i < 5; i++ {
		if r.send(rebound, 6) {
			t.Fatal("re-latched while the old source was not quiet")
		}
	}
	r.advance(relatchQuiet)
	// Not with the learned SSRC (a copy of the stream).
	for i := 0; i < 5; i++ {
		if r.send(rebound, 5) {
			t.Fatal("re-latched to the same SSRC from another address")
		}
	}
	// A foreign address never, outside the window.
	for i := 0; i < 5; i++ {
		if r.send(evilAddr, 7) {
			t.Fatal("re-latched to a foreign address outside the window")
		}
	}
	// The peer's IP with a new SSRC in sequence: after the probation.
	accepted := 0
	for i := 0; i < latchProbation; i++ {
		if r.send(rebound, 6) {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("rebound source: %d of %d probation packets accepted, want the last only", accepted, latchProbation)
	}
	if r.send(natAddr, 5) {
		t.Error("the old source is still accepted after the re-latch")
	}
}

func TestRTPSourceNewSDPStartsOver(t *testing.T) {
	r := newSourceRig(netip.Addr{})
	r.send(sdpAddr, 1)
	r.advance(time.Minute)
	moved := netip.MustParseAddrPort("192.0.2.11:40002")
	r.v = sourceView{expected: moved, gen: 2, windowUntil: r.now + int64(latchWindow)}
	if r.send(sdpAddr, 1) {
		t.Error("the old SDP address is still accepted after a re-INVITE moved the media")
	}
	if !r.send(moved, 1) {
		t.Error("the new SDP address is refused")
	}
}

// TestRTPStreamDropsInjectedPackets runs the rules on real sockets: injected packets are not
// returned by read, are counted, and draw nothing back.
func TestRTPStreamDropsInjectedPackets(t *testing.T) {
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ours, phone := listen(), listen()
	evil, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	t.Cleanup(func() { evil.Close() })
	s := newRTPStream(ours)
	s.setRemote(phone.LocalAddr().(*net.UDPAddr).AddrPort(), true)
	s.updateView(func(v *sourceView) { v.windowUntil = 0 }) // the window is over
	pkt := func(seq uint16, ssrc uint32, payload byte) []byte {
		b := make([]byte, rtpHeaderLen+160)
		putRTPHeader(b, 0, false, seq, uint32(seq)*160, ssrc)
		for i := rtpHeaderLen; i < len(b); i++ {
			b[i] = payload
		}
		return b
	}
	to := ours.LocalAddr()
	for i := uint16(0); i < 20; i++ {
		evil.WriteTo(pkt(i, 99, 0xee), to)
	}
	phone.WriteTo(pkt(1, 7, 0x11), to)
	buf := make([]byte, 1500)
	ours.SetReadDeadline(time.Now().Add(2 * time.Second))
	p, err := s.read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if p.SSRC != 7 || p.Payload[0] != 0x11 {
		t.Fatalf("read returned SSRC %d payload %#x, want the phone's", p.SSRC, p.Payload[0])
	}
	if got := s.stats.foreign.Load(); got != 20 {
		t.Errorf("dropped %d, want 20", got)
	}
	if st := s.stats.snapshot(); st.PacketsIn != 1 {
		t.Errorf("packets in %d, want 1", st.PacketsIn)
	}
	if err := s.write(make([]byte, 160), 0, false, 160); err != nil {
		t.Fatal(err)
	}
	evil.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := evil.ReadFrom(buf); err == nil {
		t.Errorf("the injector got a %d-byte packet back", n)
	}
	phone.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := phone.ReadFrom(buf); err != nil {
		t.Errorf("the phone got nothing: %v", err)
	}
}

// FuzzRTPSource feeds the source rules and the RTP parser arbitrary packets from three
// addresses: parsing never panics, an accepted packet always comes from the source the filter
// then holds, and a foreign address is never accepted outside the window while the SDP
// address keeps talking.
func FuzzRTPSource(f *testing.F) {
	f.Add([]byte("\x80\x00\x00\x01\x00\x00\x00\xa0\x00\x00\x00\x07payload"), uint8(0), uint16(20))
	f.Add([]byte{0x90, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 1, 2, 3, 4}, uint8(2), uint16(3000))
	f.Fuzz(func(t *testing.T, raw []byte, who uint8, gapMs uint16) {
		r := newSourceRig(natAddr.Addr())
		froms := []netip.AddrPort{sdpAddr, natAddr, evilAddr}
		var p media.Packet
		for i := 0; i+12 <= len(raw) && i < 4096; i += 12 {
			chunk := raw[i:min(len(raw), i+40)]
			if parseRTP(chunk, &p) != nil {
				p = media.Packet{Seq: binary.BigEndian.Uint16(chunk[2:]), SSRC: binary.BigEndian.Uint32(chunk[8:])}
			}
			from := froms[(int(who)+int(chunk[0]))%len(froms)]
			before := r.f
			ok, _ := r.f.admit(from, &p, r.now, &r.v)
			if ok && r.f.source != from {
				t.Fatalf("accepted from %v but the source is %v", from, r.f.source)
			}
			if ok && from == evilAddr && r.now >= r.v.windowUntil && before.source == sdpAddr && r.now-before.lastAcc < int64(relatchQuiet) {
				t.Fatal("a foreign address took over an active SDP source outside the window")
			}
			r.now += int64(gapMs) * int64(time.Millisecond) / 8
		}
	})
}
