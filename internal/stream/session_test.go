package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/media"
)

func TestStartMessageShape(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	startSession(t, a, ev, func(c *Config) {
		c.StreamID = "c4dfd815-a92a-4140-ab85-5ff28c004116"
		c.Format = Format{Encoding: EncodingL16, SampleRate: 16000}
		c.AudioTrack = TrackBoth
		c.ExtraHeaders = []Header{{Name: "session_id", Value: "abc123"}, {Name: "X-Token", Value: "t.1"}}
	})
	c := a.accept()
	if got := c.req.Header.Values("session_id"); len(got) != 1 || got[0] != "abc123" {
		t.Errorf("upgrade header session_id = %v", got)
	}
	if c.req.Header.Get("Sec-WebSocket-Protocol") != "" || c.req.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Errorf("subprotocol or extension offered: %v", c.req.Header)
	}
	if c.req.URL.RawQuery != "lang=hi&x=1" || c.req.URL.Path != "/ws/secret" {
		t.Errorf("URL changed: %s", c.req.URL)
	}
	raw := <-c.msgs
	want := `{"sequenceNumber":0,"event":"start","start":{"callId":"5401fd2e-6344-40df-a22c-c8ffea7a92e7",` +
		`"streamId":"c4dfd815-a92a-4140-ab85-5ff28c004116","accountId":"MA_TEST","tracks":["inbound","outbound"],` +
		`"mediaFormat":{"encoding":"audio/x-l16","sampleRate":16000}},` +
		`"extra_headers":"{\"session_id\":\"abc123\",\"X-Token\":\"t.1\"}","streamId":"c4dfd815-a92a-4140-ab85-5ff28c004116"}`
	if string(raw) != want {
		t.Errorf("start =\n%s\nwant\n%s", raw, want)
	}
	if e := ev.wait(t, StartStream); e.StreamID != "c4dfd815-a92a-4140-ab85-5ff28c004116" || e.Error != "" {
		t.Errorf("StartStream event %+v", e)
	}
	m := c.next(t, "media")
	if m["extra_headers"] != `{"session_id":"abc123","X-Token":"t.1"}` {
		t.Errorf("media extra_headers = %v", m["extra_headers"])
	}
}

func TestStartWithoutExtraHeaders(t *testing.T) {
	a := newTestApp(t, nil)
	startSession(t, a, newEvents(), nil)
	c := a.accept()
	var m map[string]any
	if err := json.Unmarshal(<-c.msgs, &m); err != nil {
		t.Fatal(err)
	}
	st := m["start"].(map[string]any)
	if m["extra_headers"] != "{}" || m["streamId"] != st["streamId"] || st["callId"] == nil {
		t.Errorf("start %v", m)
	}
	for _, k := range []string{"streamSid", "callSid", "call_control_id"} {
		if _, ok := st[k]; ok {
			t.Errorf("start has %s", k)
		}
	}
	if _, ok := m["stream_id"]; ok {
		t.Error("top-level stream_id present")
	}
	if f := st["mediaFormat"].(map[string]any); f["encoding"] != "audio/x-l16" || f["sampleRate"] != 8000.0 {
		t.Errorf("default mediaFormat %v", f)
	}
	if tr := st["tracks"].([]any); len(tr) != 1 || tr[0] != "inbound" {
		t.Errorf("tracks %v", tr)
	}
}

// TestMediaWithoutGaps checks that media flows with contiguous chunk and sequence numbers,
// silence when nothing is pushed, the pushed audio when it is, per track.
func TestMediaWithoutGaps(t *testing.T) {
	a := newTestApp(t, nil)
	s := startSession(t, a, newEvents(), func(c *Config) {
		c.Format = Format{Encoding: EncodingMulaw, SampleRate: 8000}
		c.AudioTrack = TrackBoth
	})
	c := a.accept()
	<-c.msgs // start
	tone := media.ReadAll(media.Tone(1000, time.Second, -10), 0)
	go func() {
		tick := time.NewTicker(media.FrameDuration) // the call side's clock
		defer tick.Stop()
		for i := 0; i+media.FrameSamples <= len(tone); i += media.FrameSamples {
			s.PushInbound(tone[i : i+media.FrameSamples])
			<-tick.C
		}
	}()
	seq := 1.0
	chunk := map[string]float64{}
	toneFrames, silentFrames := 0, 0
	for range 120 {
		m := c.next(t, "media", "playedStream", "clearedAudio", "dtmf")
		if m["sequenceNumber"] != seq {
			t.Fatalf("sequenceNumber %v, want %v", m["sequenceNumber"], seq)
		}
		seq++
		md := m["media"].(map[string]any)
		tr := md["track"].(string)
		chunk[tr]++
		if md["chunk"] != chunk[tr] {
			t.Fatalf("track %s chunk %v, want %v", tr, md["chunk"], chunk[tr])
		}
		if _, ok := md["timestamp"].(string); !ok {
			t.Fatalf("timestamp %v is not a string", md["timestamp"])
		}
		if _, ok := md["contentType"]; ok {
			t.Fatal("media repeats contentType")
		}
		p, _ := base64.StdEncoding.DecodeString(md["payload"].(string))
		if len(p) != 160 {
			t.Fatalf("payload of %d bytes", len(p))
		}
		if tr == "outbound" {
			if !bytes.Equal(p, bytes.Repeat([]byte{0xFF}, 160)) {
				t.Fatal("outbound track without pushes is not μ-law silence")
			}
			silentFrames++
			continue
		}
		pcm := make([]int16, 160)
		media.PCMU.Decode(pcm, p)
		if media.ToneDBFS(pcm, 1000) > -20 {
			toneFrames++
		}
	}
	if toneFrames < 30 || silentFrames < 30 {
		t.Errorf("tone frames %d, silent outbound frames %d", toneFrames, silentFrames)
	}
	if math.Abs(chunk["inbound"]-chunk["outbound"]) > 6 {
		t.Errorf("tracks drift apart: %v", chunk)
	}
}

func TestFrameEncoder(t *testing.T) {
	frame := make([]int16, 160)
	for i := range frame {
		frame[i] = int16(i*100 - 8000)
	}
	be := newFrameEncoder(Format{Encoding: EncodingL16, SampleRate: 8000}, BigEndian, 1).encode(0, frame)
	if len(be) != 320 || be[0] != byte(uint16(frame[0])>>8) || be[1] != byte(uint16(frame[0])) {
		t.Fatalf("L16 BE: % x", be[:4])
	}
	le := newFrameEncoder(Format{Encoding: EncodingL16, SampleRate: 8000}, LittleEndian, 1).encode(0, frame)
	if le[0] != byte(uint16(frame[0])) || le[1] != byte(uint16(frame[0])>>8) {
		t.Fatalf("L16 LE: % x", le[:4])
	}
	if got := decodeL16(nil, be, BigEndian); !slices.Equal(got, frame) {
		t.Fatal("L16 BE round trip")
	}
	if got := decodeL16(nil, le, LittleEndian); !slices.Equal(got, frame) {
		t.Fatal("L16 LE round trip")
	}
	mu := newFrameEncoder(Format{Encoding: EncodingMulaw, SampleRate: 8000}, BigEndian, 1).encode(0, make([]int16, 160))
	if !bytes.Equal(mu, bytes.Repeat([]byte{0xFF}, 160)) {
		t.Fatalf("μ-law silence % x", mu[:4])
	}
	for _, rate := range []int{16000, 24000} {
		enc := newFrameEncoder(Format{Encoding: EncodingL16, SampleRate: rate}, BigEndian, 1)
		tone := media.ReadAll(media.Tone(440, time.Second, -6), 0)
		var out []int16
		for i := 0; i < len(tone); i += 160 {
			p := enc.encode(0, tone[i:i+160])
			if len(p) != rate/50*2 {
				t.Fatalf("%d Hz frame of %d bytes", rate, len(p))
			}
			out = decodeL16(out, p, BigEndian)
		}
		back := media.Resample(out[rate/10:], rate, 8000) // skip the filter's start
		if db := media.ToneDBFS(back, 440); db < -9 {
			t.Errorf("%d Hz: 440 Hz tone at %.1f dBFS after the round trip", rate, db)
		}
	}
}

func mulawB64(pcm []int16) string {
	b := make([]byte, len(pcm))
	media.PCMU.Encode(b, pcm)
	return base64.StdEncoding.EncodeToString(b)
}

func pull(s *Session, n int) (audible int) {
	dst := make([]int16, media.FrameSamples)
	for range n {
		if s.NextFrame(dst) && media.LevelDBFS(dst) > -40 {
			audible++
		}
	}
	return audible
}

// TestCheckpointWhenPlayed: playedStream comes when the playout reaches the checkpoint, not
// when it is queued.
func TestCheckpointWhenPlayed(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.Bidirectional = true; c.Format = Format{Encoding: EncodingMulaw, SampleRate: 8000} })
	c := a.accept()
	c.next(t, "start")
	tone := media.ReadAll(media.Tone(600, 100*time.Millisecond, -10), 0) // 5 frames
	// In chunks of 30 ms and 70 ms (not multiples of a frame), no streamId.
	c.send(t, `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":"8000","payload":"`+mulawB64(tone[:240])+`"}}`)
	c.send(t, `{"event":"playAudio","media":{"payload":"`+mulawB64(tone[240:])+`"}}`)
	c.send(t, `{"event":"checkpoint","name":"response-3"}`)
	waitFor(t, func() bool { return s.Stats().Playout == 100*time.Millisecond })
	if n := pull(s, 4); n != 4 {
		t.Fatalf("%d audible frames of 4", n)
	}
	select {
	case e := <-ev.ch:
		if e.Kind == PlayedStream {
			t.Fatal("PlayedStream before the checkpoint's audio played")
		}
	case <-time.After(100 * time.Millisecond):
	}
	if n := pull(s, 1); n != 1 {
		t.Fatal("fifth frame silent")
	}
	m := c.next(t, "playedStream")
	if m["name"] != "response-3" || m["streamId"] != s.StreamID() || m["sequenceNumber"] == nil {
		t.Errorf("playedStream %v", m)
	}
	if e := ev.wait(t, PlayedStream); e.Name != "response-3" {
		t.Errorf("PlayedStream %+v", e)
	}
	// A checkpoint on an empty queue is acknowledged after the frame playing now.
	c.send(t, `{"event":"checkpoint"}`)
	waitFor(t, func() bool { s.NextFrame(make([]int16, 160)); return len(c.msgs) > 0 && hasEvent(c, "playedStream") })
}

func hasEvent(c *appConn, event string) bool {
	for {
		select {
		case b := <-c.msgs:
			if strings.Contains(string(b), `"event":"`+event+`"`) {
				return true
			}
		default:
			return false
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5 s")
}

func TestClearAudio(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.Bidirectional = true; c.Format = Format{Encoding: EncodingMulaw, SampleRate: 8000} })
	c := a.accept()
	c.next(t, "start")
	tone := media.ReadAll(media.Tone(600, time.Second, -10), 0)
	c.send(t, `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"`+mulawB64(tone)+`"}}`)
	c.send(t, `{"event":"checkpoint","name":"never"}`)
	waitFor(t, func() bool { return s.Stats().Playout == time.Second })
	if pull(s, 2) != 2 {
		t.Fatal("no audio before the clear")
	}
	c.send(t, `{"event":"clearAudio","streamId":"`+s.StreamID()+`"}`)
	m := c.next(t, "clearedAudio")
	if m["streamId"] != s.StreamID() {
		t.Errorf("clearedAudio %v", m)
	}
	if n := pull(s, 60); n != 0 {
		t.Errorf("%d audible frames after clearAudio", n)
	}
	ev.wait(t, ClearedAudio)
	// New audio may follow at once; clearedAudio comes even on an empty queue.
	c.send(t, `{"event":"clearAudio"}`)
	c.next(t, "clearedAudio")
	c.send(t, `{"event":"playAudio","media":{"payload":"`+mulawB64(tone[:160])+`"}}`)
	waitFor(t, func() bool { return s.Stats().Playout > 0 })
	if pull(s, 1) != 1 {
		t.Error("audio after clearAudio not played")
	}
	for _, e := range ev.all() {
		if e.Kind == PlayedStream {
			t.Errorf("voided checkpoint acknowledged: %+v", e)
		}
	}
}

func TestOneWayIgnoresPlayAudio(t *testing.T) {
	a := newTestApp(t, nil)
	s := startSession(t, a, newEvents(), nil)
	c := a.accept()
	c.next(t, "start")
	c.send(t, `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","payload":"`+mulawB64(make([]int16, 800))+`"}}`)
	c.send(t, `{"event":"stop"}`)
	if r := waitDone(t, s); r != EndAppStop {
		t.Fatalf("end %v", r)
	}
	if s.Stats().Playout != 0 {
		t.Error("one-way stream queued playAudio")
	}
}

func TestAppStop(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.Bidirectional = true; c.MaxRetries = 3 })
	c := a.accept()
	c.next(t, "start")
	c.send(t, `{"event":"stop","streamId":"`+s.ID()+`","reason":"done"}`)
	if r := waitDone(t, s); r != EndAppStop {
		t.Fatalf("end %v", r)
	}
	if code := <-c.closed; code != websocket.StatusNormalClosure {
		t.Errorf("close code %v", code)
	}
	if k := ev.kinds(); !slices.Equal(k, []string{"StartStream", "StopStream"}) {
		t.Errorf("events %v", k)
	}
}

func TestAppCloseIsNotRetried(t *testing.T) {
	for _, code := range []websocket.StatusCode{websocket.StatusNormalClosure, websocket.StatusGoingAway, 4000} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			a := newTestApp(t, func(c *appConn) {
				_, _, _ = c.ws.Read(t.Context())
				_ = c.ws.Close(code, "bye")
			})
			ev := newEvents()
			s := startSession(t, a, ev, func(c *Config) { c.MaxRetries = 3 })
			a.accept()
			if r := waitDone(t, s); r != EndAppClosed || r.Failed() {
				t.Fatalf("end %v", r)
			}
			evs := ev.all()
			if len(evs) != 2 || evs[1].Kind != DroppedStream || evs[1].Error != ErrorDropped || evs[1].StreamID != s.ID() {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

// TestRetriesWithNewStreamID: every abnormal drop ends its streamId with DroppedStream, and the
// next socket's start carries a new streamId.
func TestRetriesWithNewStreamID(t *testing.T) {
	a := newTestApp(t, func(c *appConn) {
		_, _, _ = c.ws.Read(t.Context())
		_ = c.ws.CloseNow() // no close frame: abnormal
	})
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.MaxRetries = 2 })
	if r := waitDone(t, s); r != EndDropped || !r.Failed() {
		t.Fatalf("end %v", r)
	}
	evs := ev.all()
	if len(evs) != 6 {
		t.Fatalf("events %v", ev.kinds())
	}
	seen := map[string]bool{}
	for i := 0; i < 6; i += 2 {
		st, dr := evs[i], evs[i+1]
		if st.Kind != StartStream || dr.Kind != DroppedStream || st.StreamID != dr.StreamID || seen[st.StreamID] {
			t.Fatalf("events %+v", evs)
		}
		seen[st.StreamID] = true
	}
	if evs[0].StreamID != s.ID() || len(a.conns) != 3 {
		t.Errorf("first id %s (handle %s), %d sockets", evs[0].StreamID, s.ID(), len(a.conns))
	}
}

func TestConnectFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	for _, tc := range []struct {
		name, url string
		retries   int
	}{
		{"refused", "ws://" + addr + "/ws", 2},
		{"not 101", "", 1},
		{"bad scheme", "https://example.com/ws", 3},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if tc.name == "not 101" {
				srv := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound)) // no redirect is followed
				t.Cleanup(srv.Close)
				u = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
			}
			ev := newEvents()
			s := Start(Config{URL: u, MaxRetries: tc.retries, OnEvent: ev.on,
				Backoff: func(int) time.Duration { return time.Millisecond }, Logger: discard()})
			if r := waitDone(t, s); r != EndConnectFailed || !r.Failed() {
				t.Fatalf("end %v", r)
			}
			evs := ev.all()
			if len(evs) != 1 || evs[0].Kind != DroppedStream || evs[0].StreamID != s.ID() {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	c := a.accept()
	if r := waitDone(t, s); r != EndTimeout || r.Failed() {
		t.Fatalf("end %v", r)
	}
	if code := <-c.closed; code != websocket.StatusNormalClosure {
		t.Errorf("close code %v", code)
	}
	if k := ev.kinds(); !slices.Equal(k, []string{"StartStream", "StopStream"}) {
		t.Errorf("events %v", k)
	}
}

// TestStopSendsQueuedMedia: Stop (hangup, REST) writes the media already queued, then closes
// with 1000 and reports StopStream.
func TestStopSendsQueuedMedia(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.Format = Format{Encoding: EncodingMulaw, SampleRate: 8000} })
	c := a.accept()
	c.next(t, "start")
	loud := make([]int16, 160)
	for i := range loud {
		loud[i] = 20000
	}
	for range 10 {
		s.PushInbound(loud)
	}
	s.Stop()
	if r := waitDone(t, s); r != EndStopped {
		t.Fatalf("end %v", r)
	}
	loudFrames := 0
	for b := range c.msgs {
		if bytes.Contains(b, []byte(mulawB64(loud))) {
			loudFrames++
		}
	}
	if loudFrames != 10 {
		t.Errorf("%d of 10 queued frames sent before the close", loudFrames)
	}
	if code := <-c.closed; code != websocket.StatusNormalClosure {
		t.Errorf("close code %v", code)
	}
	if k := ev.kinds(); !slices.Equal(k, []string{"StartStream", "StopStream"}) {
		t.Errorf("events %v", k)
	}
}

func TestDTMF(t *testing.T) {
	a := newTestApp(t, nil)
	ev := newEvents()
	s := startSession(t, a, ev, nil)
	c := a.accept()
	c.next(t, "start")
	s.PushDTMF('5')
	s.PushDTMF('x') // not a key: ignored
	s.PushDTMF('#')
	for _, want := range []string{"5", "#"} {
		m := c.next(t, "dtmf")
		d := m["dtmf"].(map[string]any)
		if d["digit"] != want || d["track"] != "inbound" || m["extra_headers"] != "{}" || m["streamId"] != s.ID() {
			t.Errorf("dtmf %v", m)
		}
		if _, ok := d["timestamp"].(string); !ok {
			t.Errorf("dtmf timestamp %v", d["timestamp"])
		}
	}
	c.send(t, `{"event":"sendDTMF","dtmf":"12x#"}`)
	c.send(t, `{"event":"sendDTMF","dtmf":{"digit":"9"}}`)
	c.send(t, `{"event":"sendDTMF","digits":"a"}`)
	waitFor(t, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return len(ev.dtmf) == 3 })
	if !slices.Equal(ev.dtmf, []string{"12#", "9", "A"}) {
		t.Errorf("sendDTMF digits %v", ev.dtmf)
	}
}

// TestLenientMessages: nothing the app sends ends the stream except stop and the close.
func TestLenientMessages(t *testing.T) {
	a := newTestApp(t, nil)
	s := startSession(t, a, newEvents(), func(c *Config) { c.Bidirectional = true })
	c := a.accept()
	c.next(t, "start")
	for _, m := range []string{`not json`, `{}`, `{"event":"mark"}`, `[1,2]`, `{"event":"playAudio"}`,
		`{"event":"playAudio","media":{"contentType":"audio/wav","payload":"AAAA"}}`,
		`{"event":"playAudio","media":{"payload":"!!"}}`, `{"event":"checkpoint","streamId":"other"}`} {
		c.send(t, m)
	}
	if err := c.ws.Write(t.Context(), websocket.MessageBinary, []byte{0xff, 0, 1}); err != nil {
		t.Fatal(err)
	}
	// A binary frame holding JSON is accepted.
	if err := c.ws.Write(t.Context(), websocket.MessageBinary, []byte(`{"event":"clearAudio"}`)); err != nil {
		t.Fatal(err)
	}
	c.next(t, "clearedAudio")
	if s.EndReason() != EndNone {
		t.Fatal("stream ended")
	}
}

// TestSlowReader: an app that stops reading makes the backlog grow: DegradedStream at 30, 60
// and 90 %, then the stream is dropped; Push never blocks.
func TestSlowReader(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	a := newTestApp(t, func(c *appConn) {
		_, _, _ = c.ws.Read(t.Context())
		<-block // never read again
	})
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) {
		c.Format = Format{Encoding: EncodingL16, SampleRate: 24000}
		c.MaxBacklog = time.Second
		c.MaxRetries = 3
	})
	a.accept()
	ev.wait(t, StartStream)
	frame := media.ReadAll(media.Tone(440, 20*time.Millisecond, -6), 0)
	var worst time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for s.Stats().Dropped == 0 && time.Now().Before(deadline) {
		t0 := time.Now()
		s.PushInbound(frame)
		if d := time.Since(t0); d > worst {
			worst = d
		}
	}
	if r := waitDone(t, s); r != EndBacklog || !r.Failed() {
		t.Fatalf("end %v", r)
	}
	if worst > 20*time.Millisecond {
		t.Errorf("a push took %v", worst)
	}
	k := ev.kinds()
	if !slices.Equal(k, []string{"StartStream", "DegradedStream", "DegradedStream", "DegradedStream", "DroppedStream"}) {
		t.Errorf("events %v", k)
	}
	for _, e := range ev.all() {
		if e.Kind == DegradedStream && e.Error != ErrorDegraded {
			t.Errorf("degraded event %+v", e)
		}
	}
}

func TestPlayAudioFormats(t *testing.T) {
	tone := func(rate int) []int16 {
		n := rate / 2 // 500 ms
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(8000 * math.Sin(2*math.Pi*500*float64(i)/float64(rate)))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		ct    string
		rate  int
		order ByteOrder // of the payload
		conf  ByteOrder // the decoder's setting
		chunk int       // bytes per message (odd sizes split samples)
	}{
		{"mulaw 8k", "audio/x-mulaw", 8000, 0, ByteOrderAuto, 333},
		{"l16 8k le auto", "audio/x-l16", 8000, LittleEndian, ByteOrderAuto, 101},
		{"l16 16k be auto", "audio/x-l16;rate=16000", 16000, BigEndian, ByteOrderAuto, 640},
		{"l16 24k be auto", "audio/x-l16", 24000, BigEndian, ByteOrderAuto, 777},
		{"l16 24k le fixed", "audio/L16", 24000, LittleEndian, LittleEndian, 960},
		{"l16 44.1k be fixed", "audio/x-l16", 44100, BigEndian, BigEndian, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcm := tone(tc.rate)
			var raw []byte
			if strings.Contains(tc.ct, "mulaw") {
				raw = appendMulaw(nil, pcm)
			} else {
				raw = appendL16(nil, pcm, tc.order)
			}
			d := newPlayDecoder(Format{Encoding: EncodingL16, SampleRate: 16000}, tc.conf)
			var out []int16
			for i := 0; i < len(raw); i += tc.chunk {
				m := appMessage{Event: appPlayAudio, ContentType: tc.ct, SampleRate: tc.rate, Payload: raw[i:min(i+tc.chunk, len(raw))]}
				var ok bool
				if out, ok = d.decode(out, m); !ok {
					t.Fatal("not decoded")
				}
			}
			out = d.flush(out)
			if len(out) < 3990 || len(out) > 4010 {
				t.Errorf("%d samples at 8 kHz, want 4000", len(out))
			}
			if db := media.ToneDBFS(out[400:3600], 500); db < -16 {
				t.Errorf("500 Hz at %.1f dBFS: wrong byte order or rate", db)
			}
		})
	}
}

func TestDefaultPlayFormat(t *testing.T) {
	d := newPlayDecoder(Format{Encoding: EncodingL16, SampleRate: 16000}, ByteOrderAuto)
	for _, tc := range []struct {
		m    appMessage
		want Format
		ok   bool
	}{
		{appMessage{}, Format{Encoding: EncodingL16, SampleRate: 16000}, true},
		{appMessage{ContentType: "audio/x-mulaw"}, Format{Encoding: EncodingMulaw, SampleRate: 8000}, true},
		{appMessage{ContentType: "AUDIO/X-L16 ; rate = 24000"}, Format{Encoding: EncodingL16, SampleRate: 24000}, true},
		{appMessage{ContentType: "audio/x-l16", SampleRate: 8000}, Format{Encoding: EncodingL16, SampleRate: 8000}, true},
		{appMessage{ContentType: "audio/x-l16"}, Format{Encoding: EncodingL16, SampleRate: 16000}, true},
		{appMessage{ContentType: "audio/ogg"}, Format{}, false},
	} {
		f, ok := d.format(tc.m)
		if ok != tc.ok || ok && f != tc.want {
			t.Errorf("%+v: %v %v, want %v %v", tc.m, f, ok, tc.want, tc.ok)
		}
	}
}

func TestByteOrderDetector(t *testing.T) {
	speech := media.ReadAll(media.Concat(media.Silence(200*time.Millisecond), media.Tone(300, 300*time.Millisecond, -12)), 0)
	for _, order := range []ByteOrder{LittleEndian, BigEndian} {
		var d orderDetector
		raw := appendL16(nil, speech, order)
		var got ByteOrder
		var ok bool
		for i := 0; i < len(raw) && !ok; i += 320 {
			got, ok = d.feed(raw[i : i+320])
		}
		if !ok || got != order {
			t.Errorf("%v detected as %v (%v)", order, got, ok)
		}
	}
}

func TestPlayoutLimit(t *testing.T) {
	var p playout
	if n := p.add(make([]int16, maxPlayoutSamples+100)); n != 100 {
		t.Errorf("dropped %d, want 100", n)
	}
	if p.pending() != maxPlayoutSamples {
		t.Errorf("pending %d", p.pending())
	}
}

func BenchmarkMediaMessage(b *testing.B) {
	frame := media.ReadAll(media.Tone(440, 20*time.Millisecond, -6), 0)
	for _, f := range []Format{{Encoding: EncodingMulaw, SampleRate: 8000}, {Encoding: EncodingL16, SampleRate: 8000}, {Encoding: EncodingL16, SampleRate: 16000}} {
		b.Run(f.String(), func(b *testing.B) {
			enc := newFrameEncoder(f, BigEndian, 1)
			w := newMsgWriter(uuid.NewString(), nil)
			b.ReportAllocs()
			for b.Loop() {
				_ = w.media(TrackInbound, 1778597597091, 42, enc.encode(0, frame))
			}
		})
	}
}

// TestDropThenRefused: a streamId that never reached a socket has no event; the dropped one
// has exactly one.
func TestDropThenRefused(t *testing.T) {
	var n atomic.Int32
	a := newTestApp(t, func(c *appConn) {
		_, _, _ = c.ws.Read(t.Context())
		_ = c.ws.CloseNow()
	})
	a.reject = func() bool { return n.Add(1) > 1 }
	ev := newEvents()
	s := startSession(t, a, ev, func(c *Config) { c.MaxRetries = 2 })
	if r := waitDone(t, s); r != EndConnectFailed {
		t.Fatalf("end %v", r)
	}
	evs := ev.all()
	if len(evs) != 2 || evs[0].Kind != StartStream || evs[1].Kind != DroppedStream || evs[1].StreamID != s.ID() || s.StreamID() != s.ID() {
		t.Errorf("events %+v", evs)
	}
}
