package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/vxml"
)

// phraseSynth speaks every phrase as its own tone: 0.4 s whose frequency depends on the text,
// so a test can tell which phrase it got.
type phraseSynth struct {
	mu    sync.Mutex
	texts []string
}

func (p *phraseSynth) Synthesize(_ context.Context, r tts.Request) ([]int16, error) {
	p.mu.Lock()
	p.texts = append(p.texts, r.Text)
	p.mu.Unlock()
	return phrasePCM(r.Text), nil
}

func (p *phraseSynth) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.texts...)
}

func phrasePCM(text string) []int16 {
	freq := 300 + 10*float64(len(text))
	return media.ReadAll(media.Tone(freq, 400*time.Millisecond, -10), 1<<20)
}

func phraseULaw(text string) []byte {
	pcm := phrasePCM(text)
	b := make([]byte, len(pcm))
	media.PCMU.Encode(b, pcm)
	return b
}

// parleySide is the test's stand-in for Parley's stream session: a WebSocket client of the
// demo agent.
type parleySide struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialDemoAgent(t *testing.T, a *demoAgent) *parleySide {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+demoAgentPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &parleySide{t: t, ws: ws}
}

func (p *parleySide) send(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, format, args...)); err != nil {
		p.t.Fatalf("writing to the agent: %v", err)
	}
}

func (p *parleySide) start() {
	p.t.Helper()
	p.send(`{"sequenceNumber":0,"event":"start","start":{"callId":"call-1","streamId":"stream-1","accountId":"MA_TEST",` +
		`"tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}},"extra_headers":"{}","streamId":"stream-1"}`)
}

// media sends one inbound frame whose 160 bytes are all b, so that the test can recognise it
// when the parrot plays it back.
func (p *parleySide) media(chunk int, b byte) {
	p.t.Helper()
	payload := bytes.Repeat([]byte{b}, media.FrameSamples)
	raw, _ := json.Marshal(payload)
	p.send(`{"event":"media","streamId":"stream-1","media":{"track":"inbound","timestamp":"1","chunk":%d,"payload":%s}}`, chunk, raw)
}

type agentSent struct {
	Event    string `json:"event"`
	StreamID string `json:"streamId"`
	Name     string `json:"name"`
	Media    struct {
		ContentType string `json:"contentType"`
		SampleRate  int    `json:"sampleRate"`
		Payload     []byte `json:"payload"`
	} `json:"media"`
}

func (p *parleySide) next() agentSent {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatalf("reading from the agent: %v", err)
	}
	if typ != websocket.MessageText {
		p.t.Fatalf("agent sent a %v frame, want text", typ)
	}
	var m agentSent
	if err := json.Unmarshal(data, &m); err != nil {
		p.t.Fatalf("agent sent %q: %v", data, err)
	}
	if m.StreamID != "stream-1" {
		p.t.Errorf("agent's %s carries streamId %q, want stream-1", m.Event, m.StreamID)
	}
	return m
}

func (p *parleySide) expect(event string) agentSent {
	p.t.Helper()
	m := p.next()
	if m.Event != event {
		p.t.Fatalf("agent sent %s, want %s", m.Event, event)
	}
	return m
}

// expectSpeech reads the playAudio of text and its checkpoint, and returns the checkpoint name.
func (p *parleySide) expectSpeech(text string) string {
	p.t.Helper()
	m := p.expect("playAudio")
	if m.Media.ContentType != "audio/x-mulaw" || m.Media.SampleRate != 8000 {
		p.t.Errorf("speech sent as %s at %d Hz, want audio/x-mulaw at 8000", m.Media.ContentType, m.Media.SampleRate)
	}
	if !bytes.Equal(m.Media.Payload, phraseULaw(text)) {
		p.t.Errorf("speech payload (%d bytes) is not the μ-law of %q", len(m.Media.Payload), text)
	}
	cp := p.expect("checkpoint")
	if cp.Name == "" {
		p.t.Error("the checkpoint after the speech has no name")
	}
	return cp.Name
}

// expectParrot reads a playAudio and checks that it is the frame sent with marker b.
func (p *parleySide) expectParrot(b byte) {
	p.t.Helper()
	m := p.expect("playAudio")
	if m.Media.ContentType != "audio/x-mulaw" || m.Media.SampleRate != 8000 {
		p.t.Errorf("parrot sent %s at %d Hz, want the caller's audio/x-mulaw at 8000", m.Media.ContentType, m.Media.SampleRate)
	}
	if want := bytes.Repeat([]byte{b}, media.FrameSamples); !bytes.Equal(m.Media.Payload, want) {
		p.t.Fatalf("parrot played a frame starting %v (%d bytes), want frame %d", m.Media.Payload[:min(4, len(m.Media.Payload))], len(m.Media.Payload), b)
	}
}

func newTestDemoAgent(synth *phraseSynth) *demoAgent {
	return newDemoAgent(context.Background(), synth, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// The parrot plays every frame back 50 frames (one second) after it heard it, in order and
// unchanged; it stays quiet while the greeting plays, until the greeting's playedStream.
func TestDemoAgentParrotsOneSecondLater(t *testing.T) {
	synth := &phraseSynth{}
	p := dialDemoAgent(t, newTestDemoAgent(synth))
	p.start()
	greeting := p.expectSpeech(demoAgentGreeting)

	// While the greeting plays, what the caller says is not played back yet (the line fills).
	for i := range 10 {
		p.media(i+1, 0xEE)
	}
	p.send(`{"event":"playedStream","streamId":"stream-1","name":%q}`, greeting)
	for i := range 2 * demoAgentDelayFrames {
		p.media(100+i, byte(i))
	}
	// 110 frames in: the 60 that are one second old come out, in order, and no more.
	for range 10 {
		p.expectParrot(0xEE)
	}
	for i := range demoAgentDelayFrames {
		p.expectParrot(byte(i))
	}
	p.send(`{"event":"dtmf","streamId":"stream-1","dtmf":{"track":"inbound","digit":"1","timestamp":"1"}}`)
	p.expect("clearAudio") // not a 61st parrot frame: the parrot is exactly one second behind
	if got := synth.calls(); len(got) == 0 || got[0] != demoAgentGreeting {
		t.Errorf("synthesised %q, want the greeting first", got)
	}
}

// A key press cuts what plays (clearAudio), says the key, and silences the parrot until that
// speech has played; then the parrot goes on, still one second behind.
func TestDemoAgentSpeaksTheDigit(t *testing.T) {
	synth := &phraseSynth{}
	p := dialDemoAgent(t, newTestDemoAgent(synth))
	p.start()
	p.send(`{"event":"playedStream","name":%q}`, p.expectSpeech(demoAgentGreeting))
	for i := range demoAgentDelayFrames + 3 {
		p.media(i+1, byte(i))
	}
	for i := range 3 {
		p.expectParrot(byte(i))
	}

	p.send(`{"event":"dtmf","streamId":"stream-1","dtmf":{"track":"inbound","digit":"5","timestamp":"1"}}`)
	p.expect("clearAudio")
	answer := p.expectSpeech("You pressed 5.")

	// Quiet while the answer plays; a playedStream for another name changes nothing.
	for i := range 4 {
		p.media(100+i, byte(demoAgentDelayFrames+3+i))
	}
	p.send(`{"event":"playedStream","name":"someone-else"}`)
	p.media(104, 0xAA)
	p.send(`{"event":"dtmf","dtmf":{"digit":"*"}}`)
	p.expect("clearAudio")
	answer2 := p.expectSpeech("You pressed star.")
	if answer2 == answer {
		t.Errorf("two answers share the checkpoint name %q", answer)
	}
	// The first answer's checkpoint was voided by the clear; only the second one's counts.
	p.send(`{"event":"playedStream","name":%q}`, answer)
	p.media(105, 0xAB)
	p.send(`{"event":"playedStream","name":%q}`, answer2)
	p.media(106, 0xAC)
	// Frames pushed so far: 53 + 4 + 1 + 1 + 1 = 60; the one played now is the 10th (marker 9).
	p.expectParrot(9)

	// Keys that are not DTMF are ignored; the speech of a key is synthesised once.
	p.send(`{"event":"dtmf","dtmf":{"digit":"x"}}`)
	p.send(`{"event":"dtmf","dtmf":{"digit":"5"}}`)
	p.expect("clearAudio")
	p.expectSpeech("You pressed 5.")
	if got, want := synth.calls(), []string{demoAgentGreeting, "You pressed 5.", "You pressed star."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("synthesised %q, want %q", got, want)
	}
}

// Bad JSON, unknown events and the outbound track change nothing; the session ends when
// Parley closes the socket, and frees its place.
func TestDemoAgentIsLenientAndEndsWithTheSocket(t *testing.T) {
	a := newTestDemoAgent(&phraseSynth{})
	p := dialDemoAgent(t, a)
	p.start()
	p.send(`{"event":"playedStream","name":%q}`, p.expectSpeech(demoAgentGreeting))
	p.send(`not json`)
	p.send(`{"event":"somethingNew"}`)
	p.send(`{"event":"clearedAudio","streamId":"stream-1"}`)
	for i := range demoAgentDelayFrames + 1 {
		p.media(i+1, byte(i))
		p.send(`{"event":"media","media":{"track":"outbound","payload":"AAAA"}}`)
	}
	p.expectParrot(0)

	if len(a.sessions) != 1 {
		t.Fatalf("%d sessions counted, want 1", len(a.sessions))
	}
	if err := p.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.sessions) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session did not end after the socket closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// More sessions than the bound are refused before the upgrade.
func TestDemoAgentBoundsSessions(t *testing.T) {
	a := newTestDemoAgent(&phraseSynth{})
	for range demoAgentMaxSessions {
		a.sessions <- struct{}{}
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial with every session taken: err %v, response %v; want 503", err, resp)
	}
}

func TestDelayLine(t *testing.T) {
	d := newDelayLine(3)
	var got []string
	for _, f := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		got = append(got, string(d.push([]byte(f))))
	}
	if want := []string{"", "", "", "a", "b", "c", "d"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delay line gave %q, want %q", got, want)
	}
}

// The demo's answer document streams the agent number (and SIP user) to the agent at Parley's
// own address, and sends every other number to the conference; both documents are valid.
func TestDemoAnswerRoutesTheAgentNumber(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), routes: &routes{baseURL: "http://127.0.0.1:18080"}}
	mux := http.NewServeMux()
	s.demoRoutes(mux)
	base, _ := url.Parse("http://127.0.0.1:18080/demo/answer")
	for _, tc := range []struct {
		to, want string
	}{
		{"2000", "stream"},
		{"sip:agent@127.0.0.1:5060", "stream"},
		{"sip:2000@127.0.0.1", "stream"},
		{"1000", "conference"},
		{"sip:alice@127.0.0.1", "conference"},
		{"", "conference"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/demo/answer", strings.NewReader(url.Values{"To": {tc.to}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		mux.ServeHTTP(rec, req)
		doc, err := vxml.Parse(rec.Body.Bytes(), base)
		if err != nil {
			t.Fatalf("To %q: the answer is not a valid document: %v\n%s", tc.to, err, rec.Body)
		}
		var stream *vxml.Stream
		conference := false
		for _, el := range doc.Elements {
			switch e := el.(type) {
			case *vxml.Stream:
				stream = e
			case *vxml.Conference:
				conference = true
			}
		}
		switch tc.want {
		case "stream":
			if stream == nil {
				t.Fatalf("To %q: no <Stream> in\n%s", tc.to, rec.Body)
			}
			if stream.URL != "ws://127.0.0.1:18080/demo/agent" || !stream.Bidirectional || !stream.KeepCallAlive ||
				stream.ContentType != "audio/x-mulaw;rate=8000" {
				t.Errorf("To %q: stream %+v", tc.to, *stream)
			}
		case "conference":
			if !conference || stream != nil {
				t.Errorf("To %q: want the conference demo, got\n%s", tc.to, rec.Body)
			}
		}
	}
}

func TestDemoAgentURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":          "ws://127.0.0.1:8080/demo/agent",
		"https://parley.example.com/":    "wss://parley.example.com/demo/agent",
		"https://parley.example.com/pbx": "wss://parley.example.com/pbx/demo/agent",
	} {
		if got := demoAgentURL(base); got != want {
			t.Errorf("demoAgentURL(%q) = %q, want %q", base, got, want)
		}
	}
}
