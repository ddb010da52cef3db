package kit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
)

// fakeParley is the client side of a stream, as Parley plays it, for testing the Agent.
type fakeParley struct {
	t   *testing.T
	ws  *websocket.Conn
	seq int
	id  string
}

func dialAgent(t *testing.T, a *Agent, path string, hdr http.Header) *fakeParley {
	t.Helper()
	ws, _, err := websocket.Dial(Context(t, 5*time.Second), a.URL(path), &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &fakeParley{t: t, ws: ws, id: "5f0c2a43-1111-4222-8333-444455556666"}
}

func (p *fakeParley) send(v map[string]any) {
	p.t.Helper()
	v["sequenceNumber"] = p.seq
	p.seq++
	b, _ := json.Marshal(v)
	if err := p.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeParley) start(encoding string, rate int) {
	p.send(map[string]any{"event": "start", "streamId": p.id, "extra_headers": "{}",
		"start": map[string]any{"callId": "call-1", "streamId": p.id, "accountId": AuthID,
			"tracks": []string{"inbound"}, "mediaFormat": map[string]any{"encoding": encoding, "sampleRate": rate}}})
}

func (p *fakeParley) media(chunk int, payload []byte, ts any) {
	p.send(map[string]any{"event": "media", "streamId": p.id, "extra_headers": "{}",
		"media": map[string]any{"track": "inbound", "timestamp": ts, "chunk": chunk,
			"payload": base64.StdEncoding.EncodeToString(payload)}})
}

// read returns the next message from the agent, decoded.
func (p *fakeParley) read() map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func TestAgentRecordsWhatParleySends(t *testing.T) {
	a := NewAgent(t, VobizPipecat)
	p := dialAgent(t, a, "/ws/secret?lang=hi&dir=out", http.Header{"X-Session": {"abc"}})
	c := a.WaitConn(t, 1, 2*time.Second)
	if c.Path != "/ws/secret?lang=hi&dir=out" || c.Header.Get("X-Session") != "abc" {
		t.Errorf("upgrade recorded as %q with X-Session %q", c.Path, c.Header.Get("X-Session"))
	}
	p.start(EncodingL16, 16000)
	st := c.WaitStart(t, 2*time.Second)
	if st.StreamID != p.id || st.CallID != "call-1" || st.MediaFormat.SampleRate != 16000 || st.MediaFormat.Encoding != EncodingL16 {
		t.Errorf("start parsed as %+v", st)
	}
	tone := TonePCM(500, 16000, time.Second, -10)
	ts := time.Now().UnixMilli()
	for i := range 50 {
		p.media(i+1, EncodeAudio(tone[320*i:320*(i+1)], EncodingL16, true), fmt.Sprint(ts+int64(20*i)))
	}
	p.send(map[string]any{"event": "dtmf", "streamId": p.id, "dtmf": map[string]any{"track": "inbound", "digit": "5", "timestamp": "1"}})
	p.send(map[string]any{"event": "playedStream", "streamId": p.id, "name": "cp-1"})
	p.send(map[string]any{"event": "clearedAudio", "streamId": p.id})

	if m := c.WaitEvent(t, "playedStream", 2*time.Second, func(m Message) bool { return m.Name == "cp-1" }); m.StreamID != p.id || m.SequenceNumber != 52 {
		t.Errorf("playedStream parsed as %+v", m)
	}
	c.WaitEvent(t, "clearedAudio", 2*time.Second, nil)
	fs := c.Media("inbound")
	if len(fs) != 50 {
		t.Fatalf("%d media frames recorded, want 50", len(fs))
	}
	if fs[7].Chunk != 8 || fs[7].SequenceNumber != 8 || len(fs[7].Payload) != 640 {
		t.Errorf("frame 7: chunk %d seq %d %d bytes", fs[7].Chunk, fs[7].SequenceNumber, len(fs[7].Payload))
	}
	pcm := c.MediaPCM("inbound", time.Time{}, time.Now().Add(time.Second))
	if n := len(pcm); n < 7900 || n > 8000 {
		t.Errorf("%d samples at 8 kHz from 1 s at 16 kHz", n)
	}
	if lv := media.ToneDBFS(pcm[400:], 500); lv < -12 {
		t.Errorf("500 Hz decoded at %.1f dBFS, want about -10 (byte order or resampling wrong)", lv)
	}
	if d := c.Digits(); d != "5" {
		t.Errorf("digits %q", d)
	}
	if err := c.CheckContinuity(); err != nil {
		t.Errorf("continuous stream reported: %v", err)
	}
	if ps := c.Problems(); len(ps) != 0 {
		t.Errorf("problems: %v", ps)
	}
	if st := c.Stats("inbound"); st.Frames != 50 || st.First != fs[0].At || st.Last != fs[49].At {
		t.Errorf("stats %+v", st)
	}
	if mean, longest := Cadence(fs); mean <= 0 || longest < mean {
		t.Errorf("cadence %v, longest %v", mean, longest)
	}
}

func TestAgentFindsGaps(t *testing.T) {
	a := NewAgent(t, PipecatSerializer)
	p := dialAgent(t, a, "/", nil)
	c := a.WaitConn(t, 1, 2*time.Second)
	p.start(EncodingMulaw, 8000)
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xFF
	}
	p.media(1, silence, "1000")
	p.media(3, silence, 1020) // a chunk missing, a numeric timestamp
	p.seq++                   // a sequenceNumber missing
	p.send(map[string]any{"event": "clearedAudio"})
	c.WaitEvent(t, "clearedAudio", 2*time.Second, nil)
	err := c.CheckContinuity()
	if err == nil || !strings.Contains(err.Error(), "chunk 3, want 2") || !strings.Contains(err.Error(), "sequenceNumber 4") {
		t.Errorf("CheckContinuity = %v, want the chunk and sequence gaps", err)
	}
	if ps := c.Problems(); len(ps) != 1 || !strings.Contains(ps[0], "timestamp") {
		t.Errorf("problems %v, want the numeric timestamp", ps)
	}
	if pcm := c.Media("inbound")[0].PCM; len(pcm) != 160 || media.LevelDBFS(pcm) > -90 {
		t.Errorf("μ-law silence decoded as %d samples at %.0f dBFS", len(pcm), media.LevelDBFS(pcm))
	}
}

func TestParseMessageRejects(t *testing.T) {
	for _, in := range []string{`not json`, `{"sequenceNumber":1}`, `{"event":"media","sequenceNumber":1}`,
		`{"event":"media","sequenceNumber":1,"media":{"payload":"%%%"}}`} {
		if _, _, err := ParseMessage([]byte(in)); err == nil {
			t.Errorf("ParseMessage(%s) accepted", in)
		}
	}
}

func TestAgentPlaysAsItsProfile(t *testing.T) {
	for _, prof := range []AgentProfile{PipecatSerializer, VobizPipecat} {
		t.Run(prof.Name, func(t *testing.T) {
			a := NewAgent(t, prof)
			p := dialAgent(t, a, "/", nil)
			c := a.WaitConn(t, 1, 2*time.Second)
			p.start(EncodingMulaw, 8000)
			c.WaitStart(t, 2*time.Second)
			const d = 400 * time.Millisecond
			done := make(chan error, 1)
			go func() { _, err := c.PlayTone(700, d); done <- err }()
			n := int(d / prof.PlayChunk)
			var pcm []int16
			var first, last time.Time
			for i := range n {
				m := p.read()
				if i == 0 {
					first = time.Now()
				}
				last = time.Now()
				md := m["media"].(map[string]any)
				if m["event"] != "playAudio" || m["streamId"] != p.id || md["contentType"] != prof.PlayEncoding || md["sampleRate"] != float64(prof.PlayRate) {
					t.Fatalf("message %d: %v", i, m)
				}
				b, _ := base64.StdEncoding.DecodeString(md["payload"].(string))
				part := DecodeAudio(b, prof.PlayEncoding, prof.PlayBigEndian)
				if want := int(prof.PlayChunk.Seconds() * float64(prof.PlayRate)); len(part) != want {
					t.Fatalf("chunk %d has %d samples, want %d", i, len(part), want)
				}
				pcm = append(pcm, part...)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			pcm = media.Resample(pcm, prof.PlayRate, 8000)
			if lv := media.ToneDBFS(pcm, 700); lv < -12 {
				t.Errorf("played 700 Hz decodes at %.1f dBFS, want about -10", lv)
			}
			want := time.Duration(float64(d-prof.PlayChunk) / prof.PlayPace)
			if got := last.Sub(first); got < want-30*time.Millisecond || got > want+100*time.Millisecond {
				t.Errorf("chunks spread over %v, want about %v (%.0f× real time)", got, want, prof.PlayPace)
			}

			// The control messages carry the stream's id.
			for _, tc := range []struct {
				send func() error
				want string
			}{
				{func() error { return c.Checkpoint("cp") }, `"event":"checkpoint","name":"cp"`},
				{c.ClearAudio, `"event":"clearAudio"`},
				{func() error { return c.SendDTMF("1#") }, `"dtmf":"1#","event":"sendDTMF"`},
				{c.StopStream, `"event":"stop"`},
			} {
				if err := tc.send(); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(p.read())
				if !strings.Contains(string(b), tc.want) || !strings.Contains(string(b), `"streamId":"`+p.id) {
					t.Errorf("sent %s, want %s and the streamId", b, tc.want)
				}
			}
		})
	}
}

func TestAgentWithoutStreamID(t *testing.T) {
	a := NewAgent(t, PipecatSerializer, WithoutStreamID())
	p := dialAgent(t, a, "/", nil)
	c := a.WaitConn(t, 1, 2*time.Second)
	p.start(EncodingMulaw, 8000)
	c.WaitStart(t, 2*time.Second)
	if _, err := c.PlayWith(make([]int16, 160), 8000, PlayFormat{Pace: -1}); err != nil {
		t.Fatal(err)
	}
	if m := p.read(); m["streamId"] != nil || m["event"] != "playAudio" {
		t.Errorf("sent %v, want playAudio without streamId", m)
	}
}

func TestAgentCloseAndDrop(t *testing.T) {
	a := NewAgent(t, PipecatSerializer)

	// A close from the agent carries its code.
	p := dialAgent(t, a, "/", nil)
	c := a.WaitConn(t, 1, 2*time.Second)
	go func() { _ = c.End() }()
	_, _, err := p.ws.Read(Context(t, 5*time.Second))
	if st := websocket.CloseStatus(err); st != websocket.StatusNormalClosure {
		t.Errorf("End: Parley side read %v, want a close with 1000", err)
	}
	_ = p.ws.Close(websocket.StatusNormalClosure, "")
	if st := c.WaitClosed(t, 5*time.Second); st != websocket.StatusNormalClosure {
		t.Errorf("close status %d seen by the agent", st)
	}

	// A drop has no close frame.
	p = dialAgent(t, a, "/", nil)
	c = a.WaitConn(t, 2, 2*time.Second)
	c.Drop()
	_, _, err = p.ws.Read(Context(t, 5*time.Second))
	if err == nil || websocket.CloseStatus(err) != -1 {
		t.Errorf("Drop: Parley side read %v, want an error without a close frame", err)
	}
	c.WaitClosed(t, 2*time.Second)

	// Parley's close is recorded.
	p = dialAgent(t, a, "/", nil)
	c = a.WaitConn(t, 3, 2*time.Second)
	go func() { _ = p.ws.Close(websocket.StatusCode(4001), "bye") }()
	if st := c.WaitClosed(t, 5*time.Second); st != 4001 {
		t.Errorf("agent saw close %d, want 4001", st)
	}
}

func TestAgentRefusesUpgrade(t *testing.T) {
	a := NewAgent(t, PipecatSerializer, RefuseUpgrade(http.StatusServiceUnavailable))
	_, resp, err := websocket.Dial(Context(t, 5*time.Second), a.URL("/x"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial: %v, %v; want a 503", err, resp)
	}
	a.SetRefuse(0)
	dialAgent(t, a, "/y", nil)
	a.WaitConn(t, 1, 2*time.Second)
	rs := a.Requests()
	if len(rs) != 2 || !rs[0].Refused || rs[1].Refused || rs[0].Path != "/x" {
		t.Errorf("requests %+v", rs)
	}
}

func TestAgentSlowReader(t *testing.T) {
	a := NewAgent(t, PipecatSerializer, SlowReader(0))
	p := dialAgent(t, a, "/", nil)
	c := a.WaitConn(t, 1, 2*time.Second)
	p.start(EncodingMulaw, 8000)
	c.WaitStart(t, 2*time.Second)
	payload := make([]byte, 16<<10)
	written := 0
	for written < 64<<20 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		b, _ := json.Marshal(map[string]any{"event": "media", "sequenceNumber": 1, "media": map[string]any{"payload": base64.StdEncoding.EncodeToString(payload)}})
		err := p.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) || err != nil {
			break
		}
		written += len(b)
	}
	if written >= 64<<20 {
		t.Fatal("64 MiB written to a slow reader without blocking")
	}
	if n := len(c.Messages()); n > 2 {
		t.Errorf("slow reader read %d messages after start", n-1)
	}
	t.Logf("a write blocked after %d KiB", written>>10)
}

func TestAgentMediaSummaryOnly(t *testing.T) {
	var hooked atomic.Int32
	a := NewAgent(t, PipecatSerializer, MediaSummaryOnly(), OnMedia(func(c *AgentConn, f MediaFrame) {
		if len(f.PCM) == 160 && f.Track == "inbound" {
			hooked.Add(1)
		}
	}))
	p := dialAgent(t, a, "/", nil)
	c := a.WaitConn(t, 1, 2*time.Second)
	p.start(EncodingMulaw, 8000)
	silence := make([]byte, 160)
	for i := range 10 {
		chunk := i + 1
		if i >= 5 {
			chunk++ // chunk 6 is missing
		}
		p.media(chunk, silence, fmt.Sprint(1000+20*i))
	}
	p.send(map[string]any{"event": "clearedAudio"})
	c.WaitEvent(t, "clearedAudio", 2*time.Second, nil)
	if n := len(c.Media("inbound")); n != 0 {
		t.Errorf("%d media frames kept", n)
	}
	if ms := c.Messages(); len(ms) != 2 || ms[0].Event != "start" || ms[1].Event != "clearedAudio" {
		t.Errorf("messages kept: %d", len(ms))
	}
	if st := c.Stats("inbound"); st.Frames != 10 || st.Last.Before(st.First) || st.LongestGap <= 0 {
		t.Errorf("stats %+v", st)
	}
	if n := hooked.Load(); n != 10 {
		t.Errorf("OnMedia saw %d decoded frames, want 10", n)
	}
	if err := c.CheckContinuity(); err == nil || !strings.Contains(err.Error(), "frame 5 has chunk 7, want 6") {
		t.Errorf("CheckContinuity = %v, want the missing chunk", err)
	}
}
