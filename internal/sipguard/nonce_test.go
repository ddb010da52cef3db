package sipguard

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func TestNonceLifecycle(t *testing.T) {
	clk := newClock()
	g := New(Config{NonceTTL: time.Minute, NonceKey: []byte("test key"), Logger: quietLogger()})
	ns := g.Nonces()
	n := ns.Issue(clk.now())
	if len(n) != nonceLen {
		t.Fatalf("nonce %q has %d characters", n, len(n))
	}
	if n2 := ns.Issue(clk.now()); n2 == n {
		t.Fatal("two nonces issued in the same instant are equal")
	}
	steps := []struct {
		name    string
		advance time.Duration
		nonce   string
		nc      string
		want    NonceResult
	}{
		{"first use", 0, n, "00000001", NonceOK},
		{"the same nc again is a replay", 0, n, "00000001", NonceReplay},
		{"a lower nc is a replay", 0, n, "00000000", NonceReplay},
		{"the next nc", 0, n, "00000002", NonceOK},
		{"a jump forward is fine", 0, n, "0000000A", NonceOK},
		{"upper-case hex is the same nonce", 0, strings.ToUpper(n), "0000000a", NonceReplay},
		{"malformed nc", 0, n, "1", NonceInvalid},
		{"nc with a non-hex digit", 0, n, "0000000g", NonceInvalid},
		{"expired", time.Minute + time.Second, n, "0000000b", NonceStale},
	}
	for _, s := range steps {
		clk.advance(s.advance)
		if got := ns.Use(s.nonce, s.nc, clk.now()); got != s.want {
			t.Fatalf("%s: Use = %s, want %s", s.name, got, s.want)
		}
	}
	// Without qop a nonce is single use.
	m := ns.Issue(clk.now())
	if r := ns.Use(m, "", clk.now()); r != NonceOK {
		t.Fatalf("first use without qop: %s", r)
	}
	if r := ns.Use(m, "", clk.now()); r != NonceReplay {
		t.Fatalf("second use without qop: %s, want replay", r)
	}
	st := g.Stats()
	if st.NonceReplays != 4 || st.NoncesStale != 1 || st.NoncesInvalid != 2 || st.NoncesIssued != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestNonceCheck(t *testing.T) {
	clk := newClock()
	ns := New(Config{NonceTTL: time.Minute, Logger: quietLogger()}).Nonces()
	other := New(Config{Logger: quietLogger()}).Nonces()
	n := ns.Issue(clk.now())
	tampered := []byte(n)
	tampered[3] ^= 1 // still hex: '0'..'9' and 'a'..'f' flip to other hex digits or not; check below
	for _, tc := range []struct {
		name, nonce string
		want        NonceResult
	}{
		{"ours", n, NonceOK},
		{"another process's", other.Issue(clk.now()), NonceInvalid},
		{"tampered", string(tampered), NonceInvalid},
		{"empty", "", NonceInvalid},
		{"too short", n[:40], NonceInvalid},
		{"not hex", strings.Repeat("z", nonceLen), NonceInvalid},
	} {
		if got := ns.Check(tc.nonce, clk.now()); got != tc.want {
			t.Errorf("%s: Check = %s, want %s", tc.name, got, tc.want)
		}
	}
	// Checking does not use the nonce.
	if r := ns.Use(n, "00000001", clk.now()); r != NonceOK {
		t.Fatalf("Use after Check: %s", r)
	}
	if r := ns.Check(ns.Issue(clk.now().Add(2*time.Minute)), clk.now()); r != NonceStale {
		t.Errorf("nonce from two minutes in the future: %s, want stale", r)
	}
	clk.advance(61 * time.Second)
	if r := ns.Check(n, clk.now()); r != NonceStale {
		t.Errorf("after the TTL: %s, want stale", r)
	}
}

// TestForgottenNonceIsStale fills the ring of used nonces so the oldest must be forgotten: its
// replay must still be refused (stale), not accepted.
func TestForgottenNonceIsStale(t *testing.T) {
	clk := newClock()
	ns := New(Config{MaxNonces: 4, NonceTTL: time.Hour, Logger: quietLogger()}).Nonces()
	var issued []string
	for i := 0; i < 6; i++ {
		clk.advance(time.Second)
		issued = append(issued, ns.Issue(clk.now()))
	}
	for i := 0; i < 5; i++ {
		if r := ns.Use(issued[i], "00000001", clk.now()); r != NonceOK {
			t.Fatalf("use %d: %s", i, r)
		}
	}
	if ns.size() != 4 {
		t.Fatalf("%d nonces remembered, cap 4", ns.size())
	}
	if r := ns.Use(issued[0], "00000001", clk.now()); r != NonceStale {
		t.Fatalf("replay of a forgotten nonce: %s, want stale", r)
	}
	if r := ns.Use(issued[0], "00000002", clk.now()); r != NonceStale {
		t.Fatalf("forgotten nonce with the next nc: %s, want stale", r)
	}
	if r := ns.Use(issued[4], "00000001", clk.now()); r != NonceReplay {
		t.Fatalf("replay of a remembered nonce: %s, want replay", r)
	}
	if r := ns.Use(issued[5], "00000001", clk.now()); r != NonceOK {
		t.Fatalf("a nonce issued after the forgotten ones: %s, want ok", r)
	}
	// Expired entries leave without raising the watermark.
	clk.advance(2 * time.Hour)
	fresh := ns.Issue(clk.now())
	if r := ns.Use(fresh, "00000001", clk.now()); r != NonceOK {
		t.Fatalf("fresh nonce after expiry: %s", r)
	}
	if ns.size() != 1 {
		t.Errorf("%d nonces remembered after expiry, want 1", ns.size())
	}
}

func FuzzNonce(f *testing.F) {
	clk := newClock()
	ns := New(Config{NonceKey: []byte("fuzz key"), Logger: quietLogger()}).Nonces()
	// The fuzzing workers are separate processes: the nonce they know must not depend on
	// random bytes.
	raw := [16]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	binary.BigEndian.PutUint64(raw[:8], uint64(clk.now().UnixNano()))
	real := ns.encode(raw)
	f.Add(real, "00000001")
	f.Add(strings.ToUpper(real), "")
	f.Add("", "")
	f.Add(strings.Repeat("0", nonceLen), "ffffffff")
	f.Add(real[:nonceLen-1]+"g", "0000000x")
	f.Fuzz(func(t *testing.T, s, nc string) {
		raw, mac, ok := parseNonce(s)
		if ok {
			if len(s) != nonceLen {
				t.Fatalf("parsed %d characters", len(s))
			}
			var b strings.Builder
			for _, c := range raw {
				b.WriteString(hex2(c))
			}
			for _, c := range mac {
				b.WriteString(hex2(c))
			}
			if b.String() != strings.ToLower(s) {
				t.Fatalf("round trip %q -> %q", s, b.String())
			}
		}
		r := ns.Check(s, clk.now())
		if r == NonceOK && strings.ToLower(s) != real {
			t.Fatalf("accepted a nonce we did not issue: %q", s)
		}
		u := ns.Use(s, nc, clk.now())
		if u == NonceOK && strings.ToLower(s) != real {
			t.Fatalf("used a nonce we did not issue: %q", s)
		}
		if _, okNC := parseNC(nc); !okNC && u == NonceOK {
			t.Fatalf("accepted malformed nc %q", nc)
		}
	})
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}
