package streamspec

import (
	"slices"
	"strings"
	"testing"
)

func TestParseContentType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{
		{"audio/x-mulaw;rate=8000", Format{EncodingMulaw, 8000}, true},
		{"audio/x-mulaw", Format{EncodingMulaw, 8000}, true},
		{" Audio/PCMU ; Rate = 8000 ", Format{EncodingMulaw, 8000}, true},
		{"audio/mulaw", Format{EncodingMulaw, 8000}, true},
		{"audio/x-l16;rate=16000", Format{EncodingL16, 16000}, true},
		{"audio/l16;rate=24000", Format{EncodingL16, 24000}, true},
		{"audio/x-l16", Format{EncodingL16, 8000}, true},
		{"audio/x-mulaw;rate=16000", DefaultFormat, false},
		{"audio/x-l16;rate=44100", DefaultFormat, false},
		{"audio/x-l16;rate=abc", DefaultFormat, false},
		{"audio/ogg", DefaultFormat, false},
		{"", DefaultFormat, false},
	} {
		f, ok := ParseContentType(tc.in)
		if f != tc.want || ok != tc.ok {
			t.Errorf("%q: %v %v, want %v %v", tc.in, f, ok, tc.want, tc.ok)
		}
	}
	if s := (Format{EncodingL16, 16000}).String(); s != "audio/x-l16;rate=16000" {
		t.Errorf("String %q", s)
	}
}

func TestParseExtraHeaders(t *testing.T) {
	p, dropped, long := ParseExtraHeaders("k1=v1, session_id : abc ,bad key=x,x=,Host=a,a.b-c=d.e")
	want := []Header{{"k1", "v1"}, {"session_id", "abc"}, {"a.b-c", "d.e"}}
	if !slices.Equal(p, want) || len(dropped) != 3 || long {
		t.Errorf("pairs %v dropped %q long %v", p, dropped, long)
	}
	if p, _, long := ParseExtraHeaders(strings.Repeat("a", 513)); p != nil || !long {
		t.Error("an over-long value is not ignored")
	}
}

func TestParseExtraHeadersEdges(t *testing.T) {
	for _, tc := range []struct {
		in      string
		pairs   int
		dropped int
		long    bool
	}{
		{"", 0, 0, false},
		{" , ,", 0, 0, false},
		{"a=b=c", 0, 1, false},
		{"auth:Bearer xyz", 0, 1, false},
		{"a=1\r\nHost: evil", 0, 1, false},
		{"Sec-WebSocket-Protocol=x,Upgrade=h2", 0, 2, false},
		{"k=" + strings.Repeat("v", 510), 1, 0, false},
		{"k=" + strings.Repeat("v", 511), 0, 0, true},
	} {
		p, d, long := ParseExtraHeaders(tc.in)
		if len(p) != tc.pairs || len(d) != tc.dropped || long != tc.long {
			t.Errorf("%.20q: pairs %v dropped %q long %v", tc.in, p, d, long)
		}
	}
}

func TestParseMediaType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		enc  string
		rate int
		ok   bool
	}{
		{"audio/x-l16;rate=44100", EncodingL16, 44100, true},
		{"audio/basic", EncodingMulaw, 0, true},
		{"audio/x-l16;channels=1;rate=16000", EncodingL16, 16000, true},
		{"audio/x-l16;rate=16000;rate=8000", EncodingL16, 8000, true},
		{"audio/x-l16;rate=-8000", "", 0, false},
		{"audio/x-l16;rate", "", 0, false},
		{"audio/x-l16;rate=192001", "", 0, false},
		{"audio/wav", "", 0, false},
	} {
		enc, rate, ok := ParseMediaType(tc.in)
		if enc != tc.enc || rate != tc.rate || ok != tc.ok {
			t.Errorf("%q: %q %d %v, want %q %d %v", tc.in, enc, rate, ok, tc.enc, tc.rate, tc.ok)
		}
	}
}
