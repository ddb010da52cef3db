package flow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/webhook"
)

// fakeWeb serves documents by URL path and records every request.
type fakeWeb struct {
	mu       sync.Mutex
	docs     map[string]string // path -> body; missing = unreachable
	requests []webhook.Request
	notes    []webhook.Notification
}

func (f *fakeWeb) FetchDocument(ctx context.Context, r webhook.Request) (webhook.Document, error) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	u, _ := url.Parse(r.URL)
	body, ok := f.docs[u.Path]
	f.mu.Unlock()
	if !ok {
		return webhook.Document{}, fmt.Errorf("connection refused: %w", webhook.ErrUnreachable)
	}
	return webhook.Document{Body: []byte(body), URL: u}, nil
}

func (f *fakeWeb) Notify(ctx context.Context, n webhook.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, n)
	return nil
}

func (f *fakeWeb) requestsTo(path string) []webhook.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []webhook.Request
	for _, r := range f.requests {
		if u, _ := url.Parse(r.URL); u.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeWeb) notifications() []webhook.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]webhook.Notification(nil), f.notes...)
}

// toneSynth "speaks" any text as 300 ms of a 500 Hz tone.
type toneSynth struct{}

func (toneSynth) Synthesize(ctx context.Context, r tts.Request) ([]int16, error) {
	if strings.Contains(r.Text, "fail") {
		return nil, errors.New("synthesis failed")
	}
	return media.ReadAll(media.Tone(500, 300*time.Millisecond, -6), 0), nil
}

// toneAudio serves any audio URL as 300 ms of 1 kHz, except ones containing "missing".
type toneAudio struct{}

func (toneAudio) Fetch(ctx context.Context, u string) ([]int16, error) {
	if strings.Contains(u, "missing") {
		return nil, errors.New("HTTP 404")
	}
	return media.ReadAll(media.Tone(1000, 300*time.Millisecond, -6), 0), nil
}

type harness struct {
	web    *fakeWeb
	runner *Runner
	leg    *calltest.Leg
	call   *call.Call
	done   chan struct{}
}

const base = "http://app.test"

func newHarness(t *testing.T, docs map[string]string) *harness {
	t.Helper()
	web := &fakeWeb{docs: docs}
	h := &harness{web: web, leg: calltest.NewLeg(), done: make(chan struct{})}
	h.runner = &Runner{Fetcher: web, Notifier: web, Synth: toneSynth{}, Audio: toneAudio{},
		PublicBaseURL: "http://parley.test", RecordingsDir: t.TempDir()}
	h.call = call.New(call.Identity{AccountID: "MA_T", Direction: call.Inbound, From: "14155550100", To: "14155550199", CallerName: "x"},
		h.leg, call.Options{})
	t.Cleanup(func() { h.call.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	return h
}

func (h *harness) start(fallback string) {
	go func() {
		defer close(h.done)
		h.runner.Run(&Session{Call: h.call, AuthToken: "tok", AnswerURL: base + "/answer", FallbackURL: fallback})
	}()
}

func (h *harness) wait(t *testing.T) call.Outcome {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("flow did not finish")
	}
	o, ok := h.call.Outcome()
	if !ok {
		t.Fatal("Run returned with the call live")
	}
	return o
}

func TestDocumentOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		docs       map[string]string
		fallback   string
		wantCode   int
		wantSource string
		wantReject int
		answered   bool
	}{
		{"speak then end", map[string]string{"/answer": `<Response><Speak>Hi</Speak></Response>`}, "", 4010, call.SourceVobiz, 0, true},
		{"empty before answer", map[string]string{"/answer": `<Response/>`}, "", 4010, call.SourceVobiz, 480, false},
		{"invalid XML", map[string]string{"/answer": `<Response><Speak>x</Response>`}, "", 8011, call.SourceError, 500, false},
		{"unknown element", map[string]string{"/answer": `<Response><Say>x</Say></Response>`}, "", 8011, call.SourceError, 500, false},
		{"unreachable", map[string]string{}, "", 7011, call.SourceError, 500, false},
		{"fallback", map[string]string{"/fb": `<Response><Speak>fb</Speak></Response>`}, base + "/fb", 4010, call.SourceVobiz, 0, true},
		{"fallback unreachable", map[string]string{}, base + "/fb", 7011, call.SourceError, 500, false},
		{"invalid answer ignores fallback", map[string]string{"/answer": `<Nope/>`, "/fb": `<Response/>`}, base + "/fb", 8011, call.SourceError, 500, false},
		{"hangup busy", map[string]string{"/answer": `<Response><Hangup reason="busy"/></Response>`}, "", 3010, call.SourceAnswerXML, 486, false},
		{"hangup rejected", map[string]string{"/answer": `<Response><Hangup/></Response>`}, "", 3020, call.SourceAnswerXML, 603, false},
		{"hangup answered", map[string]string{"/answer": `<Response><Speak>a</Speak><Hangup/><Speak>never</Speak></Response>`}, "", 4000, call.SourceAnswerXML, 0, true},
		{"redirect unreachable", map[string]string{"/answer": `<Response><Redirect>/gone</Redirect></Response>`}, "", 7014, call.SourceError, 500, false},
		{"redirect invalid", map[string]string{"/answer": `<Response><Speak>a</Speak><Redirect>/bad</Redirect></Response>`, "/bad": `<x/>`}, "", 8014, call.SourceError, 0, true},
		{"redirect loop", map[string]string{"/answer": `<Response><Redirect>/answer</Redirect></Response>`}, "", 8014, call.SourceError, 500, false},
		{"play missing skipped", map[string]string{"/answer": `<Response><Play>/missing.wav</Play><Hangup/></Response>`}, "", 4000, call.SourceAnswerXML, 0, true},
		{"speak failing skipped", map[string]string{"/answer": `<Response><Speak>fail</Speak></Response>`}, "", 4010, call.SourceVobiz, 0, true},
		{"wait keeps ringing", map[string]string{"/answer": `<Response><Wait length="1"/></Response>`}, "", 4010, call.SourceVobiz, 480, false},
		{"preanswer", map[string]string{"/answer": `<Response><PreAnswer><Speak>early</Speak></PreAnswer></Response>`}, "", 4010, call.SourceVobiz, 480, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.docs)
			h.start(tc.fallback)
			o := h.wait(t)
			if o.Cause.Code != tc.wantCode || o.Source != tc.wantSource {
				t.Errorf("outcome %d %s, want %d %s", o.Cause.Code, o.Source, tc.wantCode, tc.wantSource)
			}
			answered, _, _, rejected := h.leg.State()
			if answered != tc.answered || rejected != tc.wantReject {
				t.Errorf("answered %v rejected %d, want %v %d", answered, rejected, tc.answered, tc.wantReject)
			}
		})
	}
}

func TestRedirectLoopStopsAtTenFetches(t *testing.T) {
	h := newHarness(t, map[string]string{"/answer": `<Response><Redirect>/answer</Redirect></Response>`})
	h.start("")
	h.wait(t)
	if n := len(h.web.requestsTo("/answer")); n != maxChainedFetches {
		t.Fatalf("%d fetches, want %d", n, maxChainedFetches)
	}
}

func TestStartAppParameters(t *testing.T) {
	h := newHarness(t, map[string]string{"/answer": `<Response><Speak>x</Speak><Redirect method="GET">/two</Redirect></Response>`, "/two": `<Response/>`})
	h.start("")
	h.wait(t)
	first := h.web.requestsTo("/answer")[0]
	want := map[string]string{"Event": "StartApp", "CallStatus": "ringing", "Direction": "inbound", "From": "14155550100",
		"To": "14155550199", "ParentAuthID": "MA_T", "STIRVerification": "Not Applicable"}
	for k, v := range want {
		if got := first.Params.Get(k); got != v {
			t.Errorf("StartApp %s = %q, want %q", k, got, v)
		}
	}
	if first.Params.Get("CallUUID") != h.call.UUID() || first.AuthToken != "tok" || first.Method != "POST" {
		t.Errorf("StartApp request %+v", first)
	}
	second := h.web.requestsTo("/two")[0]
	if second.Method != "GET" || second.Params.Get("Event") != "Redirect" || second.Params.Get("CallStatus") != "in-progress" {
		t.Errorf("redirect request %+v", second)
	}
}

func TestSpeakAndPlayAudioReachCaller(t *testing.T) {
	h := newHarness(t, map[string]string{"/answer": `<Response><Speak loop="2">hi</Speak><Play>/a.wav</Play></Response>`})
	h.start("")
	h.wait(t)
	pcm := h.leg.WrittenPCM()
	if d := time.Duration(len(pcm)) * time.Second / media.SampleRate; d < 850*time.Millisecond {
		t.Fatalf("only %v of audio sent, want 2 x 300 ms speech + 300 ms play", d)
	}
	if media.ToneDBFS(pcm, 500) < -20 || media.ToneDBFS(pcm, 1000) < -20 {
		t.Fatalf("speech %.1f dBFS, play %.1f dBFS", media.ToneDBFS(pcm, 500), media.ToneDBFS(pcm, 1000))
	}
}

func TestCallerHangupStopsElementWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t, map[string]string{"/answer": `<Response><Speak loop="0">forever</Speak></Response>`})
	h.start("")
	time.Sleep(200 * time.Millisecond)
	hung := time.Now()
	h.leg.End(call.EndedRemoteBye)
	o := h.wait(t)
	if time.Since(hung) > 500*time.Millisecond {
		t.Errorf("element stopped %v after the caller hung up", time.Since(hung))
	}
	if o.Cause.Code != 4000 || o.Source != call.SourceCaller {
		t.Errorf("outcome %+v", o)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

func TestScheduledHangup(t *testing.T) {
	h := newHarness(t, map[string]string{"/answer": `<Response><Hangup schedule="1"/><Speak loop="0">talk</Speak></Response>`})
	h.start("")
	o := h.wait(t)
	if o.Cause.Code != 6000 || o.Source != call.SourceAnswerXML {
		t.Fatalf("outcome %+v", o)
	}
}

func TestGatherDigits(t *testing.T) {
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Gather action="/got" numDigits="5"><Speak loop="0">menu</Speak></Gather><Speak>no</Speak></Response>`,
		"/got":    `<Response><Hangup/></Response>`,
	})
	h.start("")
	time.Sleep(300 * time.Millisecond)
	for i, d := range "42#" {
		h.leg.ReceiveDigit(d, uint32(1000+i*2000))
	}
	o := h.wait(t)
	got := h.web.requestsTo("/got")
	if len(got) != 1 {
		t.Fatalf("action requested %d times", len(got))
	}
	if got[0].Params.Get("Digits") != "42" || got[0].Params.Get("InputType") != "dtmf" {
		t.Errorf("action params %v", got[0].Params)
	}
	if o.Cause.Code != 4000 || o.Source != call.SourceAnswerXML {
		t.Errorf("the action document did not run: %+v", o)
	}
}

func TestGatherTimeoutNotifiesAndContinues(t *testing.T) {
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Gather action="/got" executionTimeout="5"></Gather><Hangup/></Response>`,
	})
	start := time.Now()
	h.start("")
	o := h.wait(t)
	if el := time.Since(start); el < 4500*time.Millisecond {
		t.Errorf("gather ended after %v, before its 5 s timeout", el)
	}
	if o.Cause.Code != 4000 {
		t.Errorf("next element did not run: %+v", o)
	}
	notes := h.web.notifications()
	if len(notes) != 1 || notes[0].Params.Get("Digits") != "" || !strings.HasSuffix(notes[0].URL, "/got") {
		t.Fatalf("notifications %+v", notes)
	}
}

func TestRecordFinishOnKey(t *testing.T) {
	var saved []RecordingMeta
	var mu sync.Mutex
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Record action="/rec" fileFormat="wav" playBeep="false" callbackUrl="/stop"/><Hangup/></Response>`,
	})
	h.runner.SaveRecording = func(_ context.Context, m RecordingMeta) error {
		mu.Lock()
		saved = append(saved, m)
		mu.Unlock()
		return nil
	}
	h.start("")
	time.Sleep(100 * time.Millisecond)
	tone := media.ReadAll(media.Tone(700, time.Second, -6), 0)
	for i := 0; i+media.FrameSamples <= len(tone); i += media.FrameSamples {
		h.leg.ReceiveAudio(tone[i : i+media.FrameSamples])
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	h.leg.ReceiveDigit('#', 99)
	h.wait(t)
	mu.Lock()
	defer mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("%d recordings saved", len(saved))
	}
	m := saved[0]
	if m.Duration < 900*time.Millisecond || m.Format != "wav" || m.CallUUID != h.call.UUID() {
		t.Errorf("recording %+v", m)
	}
	data, err := readFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := media.DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if media.ToneDBFS(pcm, 700) < -12 {
		t.Errorf("recorded tone at %.1f dBFS", media.ToneDBFS(pcm, 700))
	}
	var action, stop *webhook.Notification
	for _, n := range h.web.notifications() {
		n := n
		switch {
		case strings.HasSuffix(n.URL, "/rec"):
			action = &n
		case strings.HasSuffix(n.URL, "/stop"):
			stop = &n
		}
	}
	if action == nil || action.Params.Get("RecordingEndReason") != "FinishedOnKey" || action.Params.Get("RecordingID") != m.ID {
		t.Fatalf("action %+v", action)
	}
	if !strings.HasPrefix(action.Params.Get("RecordUrl"), "http://parley.test/api/v1/Account/MA_T/Recording/"+m.ID+".wav") {
		t.Errorf("RecordUrl %s", action.Params.Get("RecordUrl"))
	}
	if stop == nil || stop.Params.Get("Event") != "RecordStop" {
		t.Fatalf("RecordStop %+v", stop)
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func TestTransferReplacesRunningDocument(t *testing.T) {
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Speak loop="0">hold on</Speak><Speak>never</Speak></Response>`,
		"/t":      `<Response><Hangup/></Response>`,
	})
	h.start("")
	time.Sleep(300 * time.Millisecond)
	if err := h.runner.Transfer(context.Background(), "no-such-call", base+"/t", "GET"); !errors.Is(err, ErrNoDocument) {
		t.Fatalf("transfer of an unknown call: %v", err)
	}
	stopped := h.runner.Stopped(h.call.UUID())
	select {
	case <-stopped:
		t.Fatal("Stopped is closed while the document runs")
	default:
	}
	if err := h.runner.Transfer(context.Background(), h.call.UUID(), base+"/t", "GET"); err != nil {
		t.Fatal(err)
	}
	o := h.wait(t)
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Stopped not closed after the call ended")
	}
	select {
	case <-h.runner.Stopped(h.call.UUID()):
	default:
		t.Fatal("Stopped of a call that runs no document is not closed")
	}
	if o.Cause.Code != 4000 || o.Source != call.SourceAnswerXML {
		t.Fatalf("outcome %+v: the transfer document did not run", o)
	}
	tr := h.web.requestsTo("/t")
	if len(tr) != 1 || tr[0].Params.Get("Event") != "Transfer" || tr[0].Method != "GET" {
		t.Fatalf("transfer requests %+v", tr)
	}
}

func TestWaitEndsEarlyOnSilenceOrBeep(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		feed func(l *calltest.Leg)
	}{
		{"silence", `<Response><Speak>x</Speak><Wait length="10" silence="true" minSilence="500"/><Hangup/></Response>`,
			func(l *calltest.Leg) {
				for range 60 {
					l.ReceiveAudio(make([]int16, media.FrameSamples))
					time.Sleep(10 * time.Millisecond)
				}
			}},
		{"beep", `<Response><Speak>x</Speak><Wait length="10" beep="true"/><Hangup/></Response>`,
			func(l *calltest.Leg) {
				tone := media.ReadAll(media.Tone(1400, 400*time.Millisecond, -10), 0)
				for i := 0; i+media.FrameSamples <= len(tone); i += media.FrameSamples {
					l.ReceiveAudio(tone[i : i+media.FrameSamples])
					time.Sleep(10 * time.Millisecond)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]string{"/answer": tc.doc})
			start := time.Now()
			h.start("")
			time.Sleep(500 * time.Millisecond) // Speak, then the Wait listens
			tc.feed(h.leg)
			o := h.wait(t)
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("Wait lasted %v: it did not end early", el)
			}
			if o.Cause.Code != 4000 {
				t.Fatalf("outcome %+v", o)
			}
		})
	}
}

func TestRecordSessionIsStereo(t *testing.T) {
	var saved []RecordingMeta
	var mu sync.Mutex
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Record recordSession="true" fileFormat="wav" action="/started"/><Speak loop="3">talk</Speak></Response>`,
	})
	h.runner.SaveRecording = func(_ context.Context, m RecordingMeta) error {
		mu.Lock()
		saved = append(saved, m)
		mu.Unlock()
		return nil
	}
	h.start("")
	tone := media.ReadAll(media.Tone(700, 800*time.Millisecond, -6), 0)
	for i := 0; i+media.FrameSamples <= len(tone); i += media.FrameSamples {
		h.leg.ReceiveAudio(tone[i : i+media.FrameSamples])
		time.Sleep(20 * time.Millisecond)
	}
	h.wait(t)
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n := len(saved)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("%d session recordings saved", len(saved))
	}
	data, err := readFile(saved[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	left, right := splitStereoWAV(t, data)
	if l7, l5 := media.ToneDBFS(left, 700), media.ToneDBFS(left, 500); l7 < -20 || l7-l5 < 15 {
		t.Errorf("channel 1 (the caller): 700 Hz %.1f dBFS, 500 Hz %.1f dBFS", l7, l5)
	}
	if r5, r7 := media.ToneDBFS(right, 500), media.ToneDBFS(right, 700); r5 < -20 || r5-r7 < 15 {
		t.Errorf("channel 2 (what the caller hears): 500 Hz %.1f dBFS, 700 Hz %.1f dBFS", r5, r7)
	}
	started := false
	for _, n := range h.web.notifications() {
		if strings.HasSuffix(n.URL, "/started") && n.Params.Get("RecordingDuration") == "-1" && n.Params.Get("RecordingID") == saved[0].ID {
			started = true
		}
	}
	if !started {
		t.Error("background Record did not notify its action at once with -1 durations")
	}
}

// splitStereoWAV returns the two channels of a 16-bit stereo WAV written by media.WAVWriter.
func splitStereoWAV(t *testing.T, data []byte) (left, right []int16) {
	t.Helper()
	i := bytesIndex(data, "data")
	if i < 0 || data[22] != 2 {
		t.Fatalf("not a stereo WAV file (channels %d)", data[22])
	}
	pcm := data[i+8:]
	for j := 0; j+3 < len(pcm); j += 4 {
		left = append(left, int16(uint16(pcm[j])|uint16(pcm[j+1])<<8))
		right = append(right, int16(uint16(pcm[j+2])|uint16(pcm[j+3])<<8))
	}
	return left, right
}

func bytesIndex(b []byte, s string) int { return strings.Index(string(b), s) }
