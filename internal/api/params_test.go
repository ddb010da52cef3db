package api

import (
	"reflect"
	"strings"
	"testing"
)

// TestBodyForms sends the body shapes of §1.3 to a route without parameters (Kick), one with a
// required parameter (Play) and a DELETE route.
func TestBodyForms(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		kick, del         int // status for Kick (classic) and Unmute
		play              int
		playErr           string
	}{
		{"no body", "", "", 200, 204, 400, "missing required parameter: url"},
		{"empty object", "{}", "application/json", 200, 204, 400, "missing required parameter: url"},
		{"null", "null", "application/json", 200, 204, 400, "missing required parameter: url"},
		{"empty with json type", "", "application/json", 200, 204, 400, "missing required parameter: url"},
		{"blank with json type", " \r\n", "application/json; charset=utf-8", 200, 204, 400, "missing required parameter: url"},
		{"json", `{"url":"http://a.test/x.mp3"}`, "application/json", 200, 204, 200, ""},
		{"json with charset", `{"url":"http://a.test/x.mp3"}`, "application/json; charset=UTF-8", 200, 204, 200, ""},
		{"form", "url=http%3A%2F%2Fa.test%2Fx.mp3", "application/x-www-form-urlencoded", 200, 204, 200, ""},
		{"sniffed json", ` {"url":"http://a.test/x.mp3"}`, "", 200, 204, 200, ""},
		{"sniffed json text/plain", `{"url":"http://a.test/x.mp3"}`, "text/plain", 200, 204, 200, ""},
		{"sniffed form", "url=http://a.test/x.mp3&x=1", "", 200, 204, 200, ""},
		{"sniffed null is a form", "null", "", 200, 204, 400, "missing required parameter: url"},
		{"invalid json", `{"url":`, "application/json", 400, 400, 400, "malformed request body"},
		{"sniffed invalid json", `{url}`, "", 400, 400, 400, "malformed request body"},
		{"json array", `["url"]`, "application/json", 400, 400, 400, "malformed request body"},
		{"json string", `"url"`, "application/json", 400, 400, 400, "malformed request body"},
		{"json number", `12`, "application/json", 400, 400, 400, "malformed request body"},
		{"trailing data", `{} {}`, "application/json", 400, 400, 400, "malformed request body"},
		{"form under json type", `url=x`, "application/json", 400, 400, 400, "malformed request body"},
		{"bad form escape", "url=%zz", "application/x-www-form-urlencoded", 400, 400, 400, "malformed request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			check := func(method, path string, want int, wantErr string) {
				t.Helper()
				w := fx.do(t, req{method: method, path: base + "/Conference/MyConf/Member/10/" + path, body: tt.body, ctype: tt.ctype})
				if w.Code != want {
					t.Fatalf("%s %s: %d want %d: %s", method, path, w.Code, want, w.Body)
				}
				if want == 400 && wantErr == "" {
					wantErr = "malformed request body"
				}
				if want == 400 && errorText(t, w) != wantErr {
					t.Fatalf("%s %s: %s want %q", method, path, w.Body, wantErr)
				}
			}
			check("POST", "Kick/", tt.kick, "")
			check("DELETE", "Mute/", tt.del, "")
			check("POST", "Play/", tt.play, tt.playErr)
		})
	}
}

func TestParseBodyValues(t *testing.T) {
	p, err := parseBody("application/json", []byte(`{"s":"x","n":10,"ns":"10","b":true,"bs":"FALSE","nul":null,"o":{"a":1},"a":[1],"f":1.5,"neg":-3}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Has("nul") || !p.IsNull("nul") || p.IsNull("s") {
		t.Error("null handling")
	}
	b := &binder{p: p}
	s, _ := b.String("s", true, 0)
	n, _ := b.Int("n", true, minInt, maxInt)
	ns, _ := b.Int("ns", true, minInt, maxInt)
	neg, _ := b.Int("neg", true, minInt, maxInt)
	bv, _ := b.Bool("b", true)
	bs, bsOK := b.Bool("bs", true)
	num, _ := b.String("n", true, 0) // a JSON number is accepted where text is expected
	if b.err != nil || s != "x" || n != 10 || ns != 10 || neg != -3 || !bv || bs || !bsOK || num != "10" {
		t.Fatalf("values %q %d %d %d %v %v %q err %v", s, n, ns, neg, bv, bs, num, b.err)
	}
	for _, tc := range []struct {
		name string
		fn   func(b *binder)
	}{
		{"f", func(b *binder) { b.Int("f", true, minInt, maxInt) }},
		{"b", func(b *binder) { b.Int("b", true, minInt, maxInt) }},
		{"o", func(b *binder) { b.String("o", true, 0) }},
		{"a", func(b *binder) { b.Bool("a", true) }},
		{"n", func(b *binder) { b.Bool("n", true) }},
		{"s", func(b *binder) { b.Bool("s", true) }},
		{"s", func(b *binder) { b.Enum("s", true, "y") }},
	} {
		b := &binder{p: p}
		tc.fn(b)
		if b.err == nil || !strings.HasSuffix(b.err.Error(), "invalid value for parameter: "+tc.name) {
			t.Errorf("%s: err %v", tc.name, b.err)
		}
	}
	// The first failure wins.
	b = &binder{p: p}
	b.Int("missing", true, 0, 1)
	b.Int("f", true, 0, 1)
	if b.err.(*StatusError).Message != "missing required parameter: missing" {
		t.Errorf("first failure: %v", b.err)
	}
}

func TestParseMemberSelector(t *testing.T) {
	tests := []struct {
		in   string
		want MemberSelector
		ok   bool
	}{
		{"10", MemberSelector{IDs: []int64{10}}, true},
		{" 10 , 15 ", MemberSelector{IDs: []int64{10, 15}}, true},
		{"10,10,10", MemberSelector{IDs: []int64{10}}, true},
		{"all", MemberSelector{All: true}, true},
		{"9223372036854775807", MemberSelector{IDs: []int64{9223372036854775807}}, true},
		{"9223372036854775808", MemberSelector{}, false},
		{"All", MemberSelector{}, false},
		{" all", MemberSelector{}, false},
		{"", MemberSelector{}, false},
		{",", MemberSelector{}, false},
		{"010", MemberSelector{}, false},
		{"1.5", MemberSelector{}, false},
		{"+1", MemberSelector{}, false},
		{"1 2", MemberSelector{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMemberSelector(tt.in)
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("parseMemberSelector(%q) = %+v %v", tt.in, got, ok)
		}
	}
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{"", "{}", "null", `{"a":1}`, "a=b", "%zz", `{"a":null}`, "[1]"} {
		f.Add("application/json", s)
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		p, err := parseBody(ct, []byte(body))
		if err != nil {
			return
		}
		b := &binder{p: p}
		for k := range p.vals {
			b.String(k, false, 10)
			b.Int(k, false, 0, 100)
			b.Bool(k, false)
			b.URL(k, false)
		}
	})
}
