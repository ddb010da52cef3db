package sip

import "testing"

func TestParseInfoDTMF(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= *\r\nDuration=100", '*', true},
		{"Application/DTMF-Relay; charset=x", "signal=11\r\n", '#', true},
		{"application/dtmf-relay", "Signal=10", '*', true},
		{"application/dtmf-relay", "Signal=d", 'D', true},
		{"application/dtmf", "7", '7', true},
		{"application/dtmf-relay", "Duration=160", 0, false},
		{"application/dtmf-relay", "Signal=12", 0, false},
		{"application/sdp", "Signal=5", 0, false},
		{"", "", 0, false},
	} {
		got, ok := parseInfoDTMF(tc.ct, []byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInfoDTMF(%q, %q) = %q %v, want %q %v", tc.ct, tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
