package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// basicAgent is the smallest bidirectional agent: it reads start and the caller's audio,
// answers with a tone and a checkpoint, and closes with 1000 once the checkpoint has played.
type basicAgent struct {
	callID, streamID string
	toneFrames       int       // media frames of the caller's 400 Hz tone
	playAt           time.Time // when playAudio was sent
	playedAt         time.Time // when playedStream arrived
	err              error
}

// runBasicAgent runs the agent on ws; after start it sends the call's and the stream's ids on
// started and waits for proceed before it reads the caller's audio.
func runBasicAgent(ctx context.Context, ws *websocket.Conn, started chan<- [2]string, proceed <-chan struct{}) (a basicAgent) {
	read := func() (map[string]any, error) {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("message is not JSON: %q", data)
		}
		return m, nil
	}
	first, err := read()
	if err != nil {
		a.err = fmt.Errorf("reading start: %w", err)
		return a
	}
	start, _ := first["start"].(map[string]any)
	if first["event"] != "start" || start == nil {
		a.err = fmt.Errorf("first message is not start: %v", first)
		return a
	}
	a.callID, _ = start["callId"].(string)
	a.streamID, _ = start["streamId"].(string)
	if f, _ := start["mediaFormat"].(map[string]any); f["encoding"] != "audio/x-mulaw" || f["sampleRate"] != float64(8000) {
		a.err = fmt.Errorf("start.mediaFormat = %v, want audio/x-mulaw at 8000", start["mediaFormat"])
		return a
	}
	started <- [2]string{a.callID, a.streamID}
	select {
	case <-proceed:
	case <-ctx.Done():
		a.err = ctx.Err()
		return a
	}
	// The caller's tone, 20 ms of μ-law per media message.
	for n := 0; a.toneFrames < 25; n++ {
		m, err := read()
		if err != nil || n > 500 {
			a.err = fmt.Errorf("caller's tone not heard in %d media messages (%d tone frames): %v", n, a.toneFrames, err)
			return a
		}
		if m["event"] != "media" {
			continue
		}
		md, _ := m["media"].(map[string]any)
		payload, _ := base64.StdEncoding.DecodeString(fmt.Sprint(md["payload"]))
		if len(payload) != 160 {
			a.err = fmt.Errorf("media payload of %d bytes, want 160", len(payload))
			return a
		}
		pcm := make([]int16, len(payload))
		media.PCMU.Decode(pcm, payload)
		if media.ToneDBFS(pcm, 400) > -30 {
			a.toneFrames++
		}
	}
	// 1.5 s of 1 kHz in one message, as agents that dump a whole utterance do, then a checkpoint.
	tone := media.ReadAll(media.Tone(1000, 1500*time.Millisecond, -10), 0)
	payload := make([]byte, len(tone))
	media.PCMU.Encode(payload, tone)
	play, _ := json.Marshal(map[string]any{"event": "playAudio", "media": map[string]any{
		"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": base64.StdEncoding.EncodeToString(payload)}})
	a.playAt = time.Now()
	if err := ws.Write(ctx, websocket.MessageText, play); err != nil {
		a.err = err
		return a
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"checkpoint","name":"tone-end"}`)); err != nil {
		a.err = err
		return a
	}
	for {
		m, err := read()
		if err != nil {
			a.err = fmt.Errorf("waiting for playedStream: %w", err)
			return a
		}
		if m["event"] == "playedStream" {
			if m["name"] != "tone-end" {
				a.err = fmt.Errorf("playedStream %v, want name tone-end", m)
				return a
			}
			a.playedAt = time.Now()
			break
		}
	}
	a.err = ws.Close(websocket.StatusNormalClosure, "bye")
	return a
}

// A blocking bidirectional <Stream>: the caller's audio reaches the agent, the agent's audio
// reaches the caller, the agent's close runs the next element, and the end of the document
// hangs up with 4010; the stream's status callbacks arrive signed, before the hangup webhook.
func TestStreamBidirectionalBlocking(t *testing.T) {
	results := make(chan basicAgent, 1)
	started, proceed := make(chan [2]string, 1), make(chan struct{})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		results <- runBasicAgent(ctx, ws, started, proceed)
	}))
	t.Cleanup(agent.Close)
	wsURL := "ws://" + strings.TrimPrefix(agent.URL, "http://") + "/ws"

	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" statusCallbackUrl="`+
		w.URL("/stream-status")+`" extraHeaders="session_id=abc">`+wsURL+`</Stream><Speak>after</Speak></Response>`)
	w.OK("/stream-status")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})

	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{Send: kit.ToneSource(400)})
	kit.WaitAnswered(t, cl, "the Stream did not answer the call")

	// While the stream runs, the REST list shows the element's stream.
	var ids [2]string
	select {
	case ids = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent got no start")
	}
	streamsPath := kit.AccountPath("/Call/" + ids[0] + "/Stream/")
	code, list := p.REST(t, "GET", streamsPath, nil)
	if code != 200 || list["total"] != float64(1) {
		t.Fatalf("stream list: %d %v", code, list)
	}
	obj, _ := list["objects"].([]any)[0].(map[string]any)
	kit.AssertParams(t, "listed stream", url.Values{"stream_id": {fmt.Sprint(obj["stream_id"])}, "status": {fmt.Sprint(obj["status"])},
		"service_url": {fmt.Sprint(obj["service_url"])}, "content_type": {fmt.Sprint(obj["content_type"])}},
		map[string]string{"stream_id": ids[1], "status": "in-progress", "service_url": wsURL, "content_type": "audio/x-mulaw;rate=8000"})
	close(proceed)

	var a basicAgent
	select {
	case a = <-results:
	case <-time.After(25 * time.Second):
		t.Fatal("the agent never finished")
	}
	if a.err != nil {
		t.Fatalf("agent: %v", a.err)
	}
	if got := kit.ToneFramesSince(cl, 1000, a.playAt); got < 50 {
		t.Errorf("caller heard %d frames of the agent's 1 kHz tone, want at least 50 of 75", got)
	}
	if d := a.playedAt.Sub(a.playAt); d < 1300*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("playedStream came %v after 1.5 s of audio was queued, want when it had played", d)
	}

	kit.WaitEnd(t, cl, 30*time.Second)
	if got := kit.SpeechFramesSince(cl, a.playedAt.Add(100*time.Millisecond), 1000, 400); got < 10 {
		t.Errorf("only %d speech frames after the stream ended: the Speak after it did not run", got)
	}
	hangup := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	if code, _ := p.REST(t, "GET", streamsPath, nil); code != 404 {
		t.Errorf("stream list of an ended call: %d, want 404", code)
	}
	kit.AssertParams(t, "hangup", hangup.Form, map[string]string{"HangupCauseCode": "4010", "CallUUID": a.callID})

	cbs := w.WaitFor(t, "/stream-status", 3, 10*time.Second)
	events := []string{}
	for _, r := range cbs {
		if err := r.VerifySignature(kit.AuthToken); err != nil {
			t.Errorf("stream callback %s: %v", r.Form.Get("Event"), err)
		}
		events = append(events, r.Form.Get("Event"))
		common := map[string]string{"StreamID": a.streamID, "CallUUID": a.callID, "ServiceURL": wsURL,
			"ParentAuthID": kit.AuthID, "X-VH-session_id": "abc", "Timestamp": "*", "From": "*", "To": "*"}
		kit.AssertParams(t, "stream callback "+r.Form.Get("Event"), r.Form, common)
		if _, ok := r.Form["Error"]; !ok {
			t.Errorf("stream callback %s has no Error parameter", r.Form.Get("Event"))
		}
		if r.At.After(hangup.At) {
			t.Errorf("stream callback %s arrived after the hangup webhook", r.Form.Get("Event"))
		}
	}
	want := []string{"StartStream", "PlayedStream", "DroppedStream"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Fatalf("stream callbacks %v, want %v", events, want)
	}
	kit.AssertParams(t, "PlayedStream", cbs[1].Form, map[string]string{"Name": "tone-end", "Error": ""})
	kit.AssertParams(t, "DroppedStream", cbs[2].Form, map[string]string{"Error": "connection disconnected with the remote service"})
}
