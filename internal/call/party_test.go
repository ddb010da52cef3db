package call_test

import (
	"testing"

	. "github.com/parley-voice/parley/internal/call"
)

func TestURIParty(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:carol@127.0.0.1:39054":              "sip:carol@127.0.0.1",
		"sips:alice@pbx.example.com:5061;x=y":    "sip:alice@pbx.example.com",
		"sip:+4930123@gw.example.com;user=phone": "4930123",
		"sip:bob@[2001:db8::1]:5060":             "sip:bob@[2001:db8::1]",
		"sip:[::1]":                              "sip:[::1]",
		"sip:pbx.example.com:5060":               "sip:pbx.example.com",
	} {
		if got := URIParty(uri); got != want {
			t.Errorf("URIParty(%q) = %q, want %q", uri, got, want)
		}
	}
}
