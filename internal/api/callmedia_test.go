package api

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestCallMediaParameters checks what the call media routes hand over for the forms real
// clients send (calls-more §A.4–§A.8).
func TestCallMediaParameters(t *testing.T) {
	fx := newFixture(t, nil)
	play := base + "/Call/" + testCallIn + "/Play/"
	steps := []struct {
		path, ctype, body string
		status            int
	}{
		{play, "", `{"urls":" https://ex.test/a.mp3 , https://ex.test/b.mp3","legs":"BOTH"}`, 202},
		{play, "application/x-www-form-urlencoded", "urls=https://ex.test/c.mp3&urls=https://ex.test/d.mp3&leg=bleg&mix=FALSE&loop=true&length=5", 202},
		{base + "/Call/" + testCallIn + "/Speak/", "", `{"text":"hello","length":"man","language":"ja-jp"}`, 202},
		{base + "/Call/" + testCallIn + "/Speak/", "", `{"text":"hello","voice":"Polly.Joanna","length":"10"}`, 202},
		{base + "/Call/" + testCallIn + "/DTMF/", "", `{"digits":"1aW#","legs":"both"}`, 202},
		{base + "/Call/" + testCallIn + "/DTMF/", "", `{"digits":"1","leg":"aleg","legs":"bleg"}`, 400},
		{play, "", `{"urls":["https://ex.test/1","https://ex.test/2","https://ex.test/3","https://ex.test/4","https://ex.test/5","https://ex.test/6","https://ex.test/7","https://ex.test/8","https://ex.test/9","https://ex.test/10","https://ex.test/11"]}`, 400},
		{play, "", `{"urls":"https://ex.test/a.mp3,"}`, 400},
		{base + "/Call/" + testCallIn + "/Record/", "", `{"recording_callback_url":"https://app.example.com/r","recording_callback_method":"get"}`, 200},
	}
	for _, s := range steps {
		w := fx.do(t, req{method: http.MethodPost, path: s.path, ctype: s.ctype, body: s.body})
		if w.Code != s.status {
			t.Fatalf("POST %s %s: %d %s, want %d", s.path, s.body, w.Code, w.Body, s.status)
		}
	}
	for _, sel := range []string{`{"URL":"https://parley.example.com/v1/Account/MA_X/Recording/rec-1.mp3"}`, `{"recording_id":"rec-2"}`, ``} {
		if w := fx.do(t, req{method: http.MethodDelete, path: base + "/Call/" + testCallIn + "/Record/", body: sel}); w.Code != 204 {
			t.Fatalf("stop recording %s: %d %s", sel, w.Code, w.Body)
		}
	}
	if w := fx.do(t, req{method: http.MethodDelete, path: base + "/Call/" + testCallIn + "/Record/?url=https://x.test/Recording/rec-3.wav"}); w.Code != 204 {
		t.Fatalf("stop recording by query: %d", w.Code)
	}

	m := fx.media
	if len(m.plays) != 2 {
		t.Fatalf("plays: %+v", m.plays)
	}
	if p := m.plays[0]; !slices.Equal(p.URLs, []string{"https://ex.test/a.mp3", "https://ex.test/b.mp3"}) || p.Legs != "both" || !p.Mix || p.Loop || p.Length != 0 {
		t.Errorf("string urls: %+v", p)
	}
	if p := m.plays[1]; !slices.Equal(p.URLs, []string{"https://ex.test/c.mp3", "https://ex.test/d.mp3"}) || p.Legs != "bleg" || p.Mix || !p.Loop || p.Length != 5*time.Second {
		t.Errorf("repeated form urls: %+v", p)
	}
	if len(m.speaks) != 2 || m.speaks[0].Voice != "MAN" || m.speaks[0].Language != "ja-JP" || m.speaks[0].Legs != "aleg" || !m.speaks[0].Mix ||
		m.speaks[1].Voice != "WOMAN" {
		t.Errorf("speaks: %+v", m.speaks)
	}
	if !slices.Equal(m.digits, []string{"1AW#/both"}) {
		t.Errorf("digits: %v", m.digits)
	}
	if len(m.records) != 1 || m.records[0].CallbackURL != "https://app.example.com/r" || m.records[0].CallbackMethod != "GET" ||
		m.records[0].TimeLimit != 60*time.Second || m.records[0].FileFormat != "mp3" || m.records[0].Stereo {
		t.Errorf("records: %+v", m.records)
	}
	if !slices.Equal(m.stops, []string{"record:rec-1", "record:rec-2", "record:", "record:rec-3"}) {
		t.Errorf("stops: %v", m.stops)
	}
}
