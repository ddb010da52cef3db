package vxml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is a *ParseError matching
// ErrInvalidDocument, and that a success holds only well-formed elements.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<Response><Speak><a><b>x</b></a></Speak></Response>`))
	f.Add([]byte(`<Response><Dial><Number>1</Number></Dial></Response>`))
	f.Add([]byte(`<Response><Stream bidirectional="true" audioTrack="both" maxRetries="x" streamTimeout="-1">wss://a/b?c=d&amp;e=f</Stream></Response>`))
	f.Add([]byte(`<Response><Stream URL="ws://a" KeepCallAlive="True"/></Response>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, testBase)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidDocument) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if doc != nil {
				t.Fatal("document returned with an error")
			}
			return
		}
		for _, e := range doc.Elements {
			checkElement(t, e, true)
		}
	})
}

func checkElement(t *testing.T, e Element, top bool) {
	t.Helper()
	if !top {
		switch e.(type) {
		case *Speak, *Play, *Wait:
		default:
			t.Fatalf("<%s> nested in a prompt", e.Name())
		}
	}
	switch e := e.(type) {
	case *Speak:
		if e.Text == "" {
			t.Fatal("Speak without text")
		}
	case *Wait:
		if e.Silence && e.Beep || e.Length <= 0 || e.MinSilence <= 0 {
			t.Fatalf("bad Wait %+v", e)
		}
	case *Dial:
		if len(e.Targets) == 0 {
			t.Fatal("Dial without targets")
		}
	case *Conference:
		if e.Room == "" || e.MaxParticipants < 1 || e.MaxParticipants > 200 {
			t.Fatalf("bad Conference %+v", e)
		}
	case *Gather:
		for _, c := range e.Children {
			checkElement(t, c, false)
		}
	case *PreAnswer:
		for _, c := range e.Children {
			checkElement(t, c, false)
		}
	case *Stream:
		if e.StreamTimeout <= 0 || e.MaxRetries < 0 || e.MaxRetries > 10 ||
			e.Bidirectional && e.AudioTrack != StreamTrackInbound || strings.TrimSpace(e.URL) != e.URL {
			t.Fatalf("bad Stream %+v", e)
		}
	case *Play, *Redirect, *Hangup, *Record, *DTMF:
	default:
		t.Fatalf("unexpected element %T", e)
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "typical.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, testBase); err != nil {
			b.Fatal(err)
		}
	}
}
