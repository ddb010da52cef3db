package sipguard

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkAdmit measures the cost of the check every new request pays: a known source with
// tokens left, a browser-like User-Agent.
func BenchmarkAdmit(b *testing.B) {
	g := New(Config{Invite: Limit{Rate: 1e12, Burst: 1 << 30}, Logger: quietLogger()})
	src := netip.MustParseAddr("192.0.2.1")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if g.Admit(src, "INVITE", "Linphone/5.2.0 (belle-sip/5.2.0)", now) != Allow {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAdmitFlood is a flood from ever new sources, the worst case for the tables: every
// call creates an entry and evicts the least recently used one.
func BenchmarkAdmitFlood(b *testing.B) {
	g := New(Config{MaxSources: 4096, Logger: quietLogger()})
	now := time.Now()
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		src := netip.AddrFrom4([4]byte{198, byte(i >> 16), byte(i >> 8), byte(i)})
		g.Admit(src, "INVITE", "", now)
	}
}
