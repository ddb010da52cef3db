package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/vxml"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newMux("", slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return srv
}

// The answer document is valid VobizXML and streams to this agent, μ-law, holding the call.
func TestAnswerDocument(t *testing.T) {
	srv := newTestServer(t)
	resp, err := http.PostForm(srv.URL+"/answer", url.Values{"CallUUID": {"c1"}, "To": {"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := vxml.Parse(body, nil)
	if err != nil {
		t.Fatalf("invalid answer document: %v\n%s", err, body)
	}
	s, ok := doc.Elements[0].(*vxml.Stream)
	if !ok {
		t.Fatalf("first element is %T, want a Stream", doc.Elements[0])
	}
	if want := "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/ws"; s.URL != want {
		t.Errorf("stream URL %q, want %q", s.URL, want)
	}
	if !s.Bidirectional || !s.KeepCallAlive || s.ContentType != "audio/x-mulaw;rate=8000" {
		t.Errorf("stream %+v: want bidirectional, keepCallAlive, μ-law", *s)
	}
}

// fakeParley is the test's stand-in for Parley: a client of the agent's socket.
type fakeParley struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, srv *httptest.Server) *fakeParley {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &fakeParley{t: t, ws: ws}
}

func (p *fakeParley) send(format string, args ...any) {
	p.t.Helper()
	if err := p.ws.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, format, args...)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeParley) expect(event string) outbound {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", event, err)
	}
	var m outbound
	if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
		p.t.Fatalf("agent sent a %v frame %q, want JSON text", typ, data)
	}
	if m.Event != event {
		p.t.Fatalf("agent sent %s, want %s", data, event)
	}
	if m.StreamID != "s1" {
		p.t.Errorf("%s carries streamId %q, want s1", event, m.StreamID)
	}
	return m
}

func (p *fakeParley) start(encoding string, rate int) {
	p.send(`{"sequenceNumber":0,"event":"start","start":{"callId":"c1","streamId":"s1","accountId":"MA_X","tracks":["inbound"],`+
		`"mediaFormat":{"encoding":%q,"sampleRate":%d}},"extra_headers":"{}","streamId":"s1"}`, encoding, rate)
}

func (p *fakeParley) media(track string, payload []byte) {
	raw, _ := json.Marshal(payload)
	p.send(`{"event":"media","streamId":"s1","media":{"track":%q,"timestamp":"1","chunk":1,"payload":%s}}`, track, raw)
}

// The agent echoes each caller frame unchanged, puts a checkpoint after every second, answers
// keys (tone, clearAudio, stop), and shrugs off what it does not understand.
func TestAgentSession(t *testing.T) {
	p := dial(t, newTestServer(t))
	p.start("audio/x-mulaw", 8000)
	p.send(`not json`)
	p.media("outbound", []byte{1, 2, 3}) // what the caller hears is not echoed
	for i := range framesPerCheckpoint {
		frame := bytes.Repeat([]byte{byte(i)}, 160)
		p.media("inbound", frame)
		m := p.expect("playAudio")
		if m.Media == nil || !bytes.Equal(m.Media.Payload, frame) || m.Media.ContentType != "audio/x-mulaw" || m.Media.SampleRate != 8000 {
			t.Fatalf("echo of frame %d: %+v", i, m.Media)
		}
	}
	if m := p.expect("checkpoint"); m.Name != "second-1" {
		t.Errorf("checkpoint %q, want second-1", m.Name)
	}
	p.send(`{"event":"playedStream","streamId":"s1","name":"second-1","sequenceNumber":60}`)

	p.send(`{"event":"dtmf","streamId":"s1","dtmf":{"track":"inbound","digit":"5","timestamp":"1"}}`)
	m := p.expect("playAudio")
	if m.Media == nil || len(m.Media.Payload) != 2400 {
		t.Fatalf("tone for key 5: %+v, want 300 ms of μ-law", m.Media)
	}
	pcm := make([]int16, len(m.Media.Payload))
	media.PCMU.Decode(pcm, m.Media.Payload)
	if lvl, tone := media.LevelDBFS(pcm), media.ToneDBFS(pcm, 900); lvl < -20 || tone < lvl-3 {
		t.Errorf("key 5 played %.1f dBFS, %.1f dBFS of it at 900 Hz: want a 900 Hz tone", lvl, tone)
	}
	p.send(`{"event":"dtmf","dtmf":{"digit":"*"}}`)
	p.expect("clearAudio")
	p.send(`{"event":"clearedAudio","streamId":"s1"}`)
	p.send(`{"event":"dtmf","dtmf":{"digit":"#"}}`)
	p.expect("stop")
	// Parley answers stop by closing the socket.
	if err := p.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

// On an L16 stream the echo keeps the format and a key's tone is L16 little-endian.
func TestAgentL16Tone(t *testing.T) {
	p := dial(t, newTestServer(t))
	p.start("audio/x-l16", 16000)
	p.send(`{"event":"dtmf","dtmf":{"digit":"0"}}`)
	m := p.expect("playAudio")
	if m.Media == nil || m.Media.ContentType != "audio/x-l16" || m.Media.SampleRate != 16000 || len(m.Media.Payload) != 9600 {
		t.Fatalf("tone for key 0 on L16 16 kHz: %+v", m.Media)
	}
	pcm := make([]int16, len(m.Media.Payload)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(m.Media.Payload[2*i:]))
	}
	pcm = media.Resample(pcm, 16000, 8000)
	if lvl, tone := media.LevelDBFS(pcm), media.ToneDBFS(pcm, 400); lvl < -20 || tone < lvl-3 {
		t.Errorf("key 0 played %.1f dBFS, %.1f dBFS of it at 400 Hz: want a 400 Hz tone", lvl, tone)
	}
}

// The agent's μ-law encoder agrees with Parley's on every sample.
func TestULaw(t *testing.T) {
	want := make([]byte, 1)
	for v := -32768; v <= 32767; v++ {
		media.PCMU.Encode(want, []int16{int16(v)})
		if got := ulaw(int16(v)); got != want[0] {
			t.Fatalf("ulaw(%d) = %#x, want %#x", v, got, want[0])
		}
	}
}
