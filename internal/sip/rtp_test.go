package sip

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// receive feeds the tracker one packet of the given sequence number, timestamp and arrival.
func receive(tr *rxTracker, st *rtpStats, seq uint16, ts uint32, at time.Time) {
	p := media.Packet{PayloadType: 0, Seq: seq, Timestamp: ts, SSRC: 7, Payload: make([]byte, 160)}
	tr.received(&p, at, st)
}

func TestRTPStatsLoss(t *testing.T) {
	var tr rxTracker
	var st rtpStats
	t0 := time.Now()
	for i, seq := range []uint16{65533, 65534, 65535, 2, 3, 1, 3, 10} { // wraps; 0,1 missing; 1 late; 3 twice; 4-9 missing
		receive(&tr, &st, seq, uint32(i)*160, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	s := st.snapshot()
	if s.PacketsIn != 8 || s.BytesIn != 8*160 {
		t.Errorf("in: %d packets, %d bytes", s.PacketsIn, s.BytesIn)
	}
	if s.PacketsLost != 1+6 {
		t.Errorf("lost %d, want 7 (0 after the wrap, then 4-9)", s.PacketsLost)
	}
	// A restart of the numbering is not loss.
	receive(&tr, &st, 40000, 0, t0)
	if got := st.snapshot().PacketsLost; got != 7 {
		t.Errorf("lost %d after a sequence restart, want 7", got)
	}
}

func TestRTPStatsJitter(t *testing.T) {
	var tr rxTracker
	var st rtpStats
	t0 := time.Now()
	for i := range 50 { // perfectly paced
		receive(&tr, &st, uint16(i), uint32(i)*160, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	if j := st.snapshot().Jitter; j != 0 {
		t.Fatalf("jitter %v for a perfectly paced stream", j)
	}
	var tr2 rxTracker
	var st2 rtpStats
	for i := range 200 { // every other packet 10 ms late: |D| = 10 ms each time
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		if i%2 == 1 {
			at = at.Add(10 * time.Millisecond)
		}
		receive(&tr2, &st2, uint16(i), uint32(i)*160, at)
	}
	if j := st2.snapshot().Jitter; j < 9*time.Millisecond || j > 10*time.Millisecond {
		t.Fatalf("jitter %v, want close to 10 ms", j)
	}
}

func TestRTPStatsJitterIgnoresTelephoneEvents(t *testing.T) {
	var tr rxTracker
	var st rtpStats
	t0 := time.Now()
	for i := range 10 { // one event: the same timestamp for 200 ms
		p := media.Packet{PayloadType: 101, Seq: uint16(i), Timestamp: 800, SSRC: 7, Payload: make([]byte, 4)}
		tr.received(&p, t0.Add(time.Duration(i)*20*time.Millisecond), &st)
	}
	if s := st.snapshot(); s.Jitter != 0 || s.PacketsIn != 10 || s.PacketsLost != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// loopbackStreams returns two RTP streams on 127.0.0.1 that send to each other.
func loopbackStreams(tb testing.TB) (a, b *rtpStream) {
	tb.Helper()
	open := func() *rtpStream {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		s := newRTPStream(c)
		tb.Cleanup(func() { _ = s.close() })
		return s
	}
	a, b = open(), open()
	a.setRemote(netip.MustParseAddrPort("127.0.0.1:"+itoa(b.localPort())), true)
	b.setRemote(netip.MustParseAddrPort("127.0.0.1:"+itoa(a.localPort())), true)
	return a, b
}

func TestRTPStreamCountsWhatItSends(t *testing.T) {
	a, b := loopbackStreams(t)
	payload := make([]byte, 160)
	buf := make([]byte, 1500)
	for range 5 {
		if err := a.write(payload, 0, false, 160); err != nil {
			t.Fatal(err)
		}
		if _, err := b.read(buf); err != nil {
			t.Fatal(err)
		}
	}
	a.setRemote(netip.MustParseAddrPort("127.0.0.1:"+itoa(b.localPort())), false) // on hold: dropped
	_ = a.write(payload, 0, false, 160)
	if s := a.stats.snapshot(); s.PacketsOut != 5 || s.BytesOut != 5*160 {
		t.Errorf("sender: %+v", s)
	}
	if s := b.stats.snapshot(); s.PacketsIn != 5 || s.BytesIn != 5*160 || s.PacketsLost != 0 {
		t.Errorf("receiver: %+v", s)
	}
}

// BenchmarkParseRTP is the header parse of every received packet.
func BenchmarkParseRTP(b *testing.B) {
	pkt := make([]byte, rtpHeaderLen+160)
	putRTPHeader(pkt, 0, false, 1, 160, 99)
	var p media.Packet
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := parseRTP(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRTPReceive is the CPU work per received packet without the socket: parse, counters,
// loss and jitter.
func BenchmarkRTPReceive(b *testing.B) {
	pkt := make([]byte, rtpHeaderLen+160)
	var p media.Packet
	var tr rxTracker
	var st rtpStats
	now := time.Now()
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		putRTPHeader(pkt, 0, false, seq, uint32(seq)*160, 99)
		if err := parseRTP(pkt, &p); err != nil {
			b.Fatal(err)
		}
		now = now.Add(20 * time.Millisecond)
		tr.received(&p, now, &st)
	}
}

// BenchmarkRTPWrite sends one 20 ms PCMU packet to a loopback socket (the syscall dominates).
func BenchmarkRTPWrite(b *testing.B) {
	a, _ := loopbackStreams(b)
	payload := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.write(payload, 0, false, 160); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRTPWriteRead is one packet through loopback: write on one stream, read and count on
// the other.
func BenchmarkRTPWriteRead(b *testing.B) {
	a, r := loopbackStreams(b)
	payload := make([]byte, 160)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.write(payload, 0, false, 160); err != nil {
			b.Fatal(err)
		}
		if _, err := r.read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
