package asr

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, name := range []string{"", "none", " NONE "} {
		if e, err := New(Config{Engine: name}); e != nil || err != nil {
			t.Errorf("New(%q) = %v, %v; want no engine", name, e, err)
		}
	}
	e, err := New(Config{Engine: "Pocketsphinx"})
	if err != nil || e == nil || !e.Supports("en-AU") || e.Supports("fr-FR") {
		t.Errorf("New(pocketsphinx) = %v, %v", e, err)
	}
	e, err = New(Config{Engine: "vosk", VoskURL: "ws://127.0.0.1:2700"})
	if err != nil || e == nil || !e.Supports("en-US") {
		t.Errorf("New(vosk) = %v, %v", e, err)
	}
	e, err = New(Config{Engine: "vosk", Models: map[string]string{"de": "ws://127.0.0.1:2701"}})
	if err != nil || e.Supports("en") || !e.Supports("de-AT") {
		t.Errorf("New(vosk, models) = %v, %v", e, err)
	}
	for _, bad := range []Config{{Engine: "vosk"}, {Engine: "vosk", VoskURL: "http://x/"}, {Engine: "whisper"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func TestModelFor(t *testing.T) {
	models := map[string]string{"en": "E", "en-GB": "G", "pt-br": "P"}
	cases := []struct {
		tag, want string
		ok        bool
	}{
		{"en-GB", "G", true}, {"en-gb", "G", true}, {"en-AU", "E", true}, {"", "E", true},
		{"EN", "E", true}, {"pt-BR", "P", true}, {"pt-PT", "", false}, {"fr", "", false},
	}
	for _, tc := range cases {
		if got, ok := ModelFor(models, tc.tag); got != tc.want || ok != tc.ok {
			t.Errorf("ModelFor(%q) = %q, %v; want %q, %v", tc.tag, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTranscript(t *testing.T) {
	text, conf := Transcript([]Result{
		{Text: "yes please", Confidence: 0.9, Final: true},
		{Text: "ignored partial"},
		{Text: "  ", Final: true},
		{Text: "sales", Confidence: 0.6, Final: true},
	})
	if text != "yes please sales" || conf < 0.799 || conf > 0.801 {
		t.Errorf("Transcript = %q, %v", text, conf)
	}
	if text, conf := Transcript(nil); text != "" || conf != 0 {
		t.Errorf("empty Transcript = %q, %v", text, conf)
	}
}

func TestEmitterCleansAndClamps(t *testing.T) {
	e := newEmitter(t.Context(), Options{Interim: true})
	e.partial("  Hello   World ", 1.7)
	e.partial("hello world", 0.1) // unchanged: not repeated
	e.final("Hello World", -0.2)
	e.final("   ", 0.9) // empty final: nothing
	close(e.out)
	var got []string
	for r := range e.out {
		got = append(got, r.Text)
		if r.Final && r.Confidence != 0 || !r.Final && r.Stability != 1 {
			t.Errorf("not clamped: %+v", r)
		}
	}
	if strings.Join(got, "|") != "hello world|hello world" {
		t.Errorf("results %q", got)
	}
}
