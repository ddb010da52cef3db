package sipguard

import (
	"bytes"
	"strings"
)

// DefaultScanners are User-Agent fragments of well-known SIP scanners and brute-force tools.
// No telephone or PBX sends them.
var DefaultScanners = []string{
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip",
	"sip-scan", "sipscan", "sundayddr", "iwar", "sivus", "voipbuster", "smap-",
}

// scannerList lower-cases and de-duplicates the fragments.
func scannerList(extra []string, defaults bool) []string {
	var in []string
	if defaults {
		in = append(in, DefaultScanners...)
	}
	in = append(in, extra...)
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// isScanner reports whether userAgent contains a scanner fragment, ignoring ASCII case. It
// lower-cases into a stack buffer so the search can use the fast byte search; a header longer
// than the buffer (no real phone sends one) takes the slow path.
func (g *Guard) isScanner(userAgent string) bool {
	if userAgent == "" {
		return false
	}
	var buf [256]byte
	if len(userAgent) > len(buf) {
		for _, frag := range g.scanners {
			if containsFold(userAgent, frag) {
				return true
			}
		}
		return false
	}
	lower := buf[:len(userAgent)]
	for i := 0; i < len(userAgent); i++ {
		c := userAgent[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, frag := range g.scannerBytes {
		if bytes.Contains(lower, frag) {
			return true
		}
	}
	return false
}

// IsScanner reports whether userAgent belongs to a known scanner.
func (g *Guard) IsScanner(userAgent string) bool { return g.isScanner(userAgent) }

// containsFold reports whether s contains lower (already lower case) ignoring ASCII case,
// without allocating.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
