package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// spokenPCM synthesises text with espeak-ng (US English) as 8 kHz PCM, with 300 ms of silence
// before: what a caller's answer sounds like.
func spokenPCM(t *testing.T, text string) []int16 {
	t.Helper()
	out, err := exec.Command("espeak-ng", "-v", "en-us", "--stdout", text).Output()
	if err != nil {
		t.Skipf("espeak-ng: %v", err)
	}
	pcm, err := media.DecodeWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	return append(make([]int16, media.SampleRate*3/10), pcm...)
}

// say makes the caller speak text from now on and returns when its audio starts.
func say(t *testing.T, cl *siptest.Call, text string) time.Time {
	pcm := spokenPCM(t, text)
	at := time.Now()
	cl.SetSource(media.NewPCMSource(pcm))
	return at
}

func needPocketsphinx(t *testing.T) {
	if _, err := exec.LookPath("pocketsphinx_continuous"); err != nil {
		t.Skip("pocketsphinx_continuous not installed (apt install pocketsphinx pocketsphinx-en-us)")
	}
}

// TestGatherSpeechPocketsphinx: a caller answers three speech Gathers with espeak-ng speech
// (barging in on the first one's prompt), then stays silent in a fourth.
func TestGatherSpeechPocketsphinx(t *testing.T) {
	needPocketsphinx(t)
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Gather inputType="speech" hints="yes,no,sales" action="/got1" executionTimeout="15">
    <Speak loop="0">Please say yes, no, or sales, and tell us what you would like to do today.</Speak>
  </Gather>
  <Speak>Nothing heard.</Speak>
</Response>`)
	w.XML("/got1", `<Response><Gather inputType="dtmf speech" hints="yes,no,sales" action="/got2"/></Response>`)
	w.XML("/got2", `<Response><Gather inputType="speech" hints="one two three,four five six,seven eight nine" action="/got3"/></Response>`)
	w.XML("/got3", `<Response><Gather inputType="speech" hints="yes,no" action="/got4" executionTimeout="5"/><Hangup/></Response>`)
	w.OK("/got4")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_ASR_ENGINE": "pocketsphinx"}})

	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "call")
	time.Sleep(2500 * time.Millisecond) // the prompt plays
	t0 := say(t, cl, "sales")
	r1 := w.WaitFor(t, "/got1", 1, 15*time.Second)[0]

	// Barge-in: the prompt was heard before the caller spoke and stops right after speech
	// starts (300 ms of lead-in silence, 100 ms onset, some jitter).
	frames := kit.Frames(cl)
	before := kit.Window(frames, t0.Add(-2*time.Second), t0)
	after := kit.Window(frames, t0.Add(1000*time.Millisecond), t0.Add(2000*time.Millisecond))
	if f := kit.FractionAbove(before, -40); f < 0.2 {
		t.Errorf("the prompt was not heard before the caller spoke: %.0f%% of %d frames above -40 dBFS", f*100, len(before))
	}
	if f := kit.FractionAbove(after, -40); f > 0.1 || len(after) < 30 {
		t.Errorf("the prompt did not stop when the caller spoke: %.0f%% of %d frames above -40 dBFS", f*100, len(after))
	}
	checkSpeech(t, "sales", r1.Form, "sales")

	say(t, cl, "no")
	checkSpeech(t, "no", w.WaitFor(t, "/got2", 1, 15*time.Second)[0].Form, "no")
	say(t, cl, "one two three")
	checkSpeech(t, "digits", w.WaitFor(t, "/got3", 1, 15*time.Second)[0].Form, "one two three")

	// Silence: executionTimeout passes; the action gets empty values.
	start := time.Now()
	r4 := w.WaitFor(t, "/got4", 1, 15*time.Second)[0]
	if el := time.Since(start); el < 4*time.Second {
		t.Errorf("the silent Gather ended after %v, before its 5 s executionTimeout", el)
	}
	kit.AssertParams(t, "timeout", r4.Form, map[string]string{"InputType": "speech", "Speech": "", "Digits": "", "SpeechConfidenceScore": "0", "BilledAmount": "0.00000"})
	kit.WaitEnd(t, cl, 10*time.Second)
}

func checkSpeech(t *testing.T, what string, form map[string][]string, want string) {
	t.Helper()
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if get("InputType") != "speech" || get("Speech") != want || get("Digits") != "" {
		t.Errorf("%s: InputType=%q Speech=%q Digits=%q, want speech %q", what, get("InputType"), get("Speech"), get("Digits"), want)
	}
	c, err := strconv.ParseFloat(get("SpeechConfidenceScore"), 64)
	if err != nil || c <= 0 || c > 1 || len(get("SpeechConfidenceScore")) > 4 {
		t.Errorf("%s: SpeechConfidenceScore=%q, want a number in (0, 1] with at most 2 decimals", what, get("SpeechConfidenceScore"))
	}
}

// voskStandIn speaks the Vosk server protocol: for each connection it answers audio with
// partials made of growing prefixes of the next transcript and eof with the transcript.
type voskStandIn struct {
	mu          sync.Mutex
	transcripts []string // one per connection, in order
	conns       int
}

func (v *voskStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	v.mu.Lock()
	final := ""
	if v.conns < len(v.transcripts) {
		final = v.transcripts[v.conns]
	}
	v.conns++
	v.mu.Unlock()
	ctx := r.Context()
	if _, _, err := c.Read(ctx); err != nil { // the configuration
		return
	}
	words := strings.Fields(final)
	voiced := 0 // audio messages with speech in them
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText { // {"eof":1}
			var result []map[string]any
			for i, w := range words {
				result = append(result, map[string]any{"word": w, "conf": 0.9, "start": 0.2 * float64(i), "end": 0.2*float64(i) + 0.2})
			}
			reply, _ := json.Marshal(map[string]any{"text": final, "result": result})
			c.Write(ctx, websocket.MessageText, reply)
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		if loud(data) {
			voiced++
		}
		n := min((voiced+1)/2, len(words)) // a word per 200 ms of speech (100 ms messages)
		reply, _ := json.Marshal(map[string]string{"partial": strings.Join(words[:n], " ")})
		if err := c.Write(ctx, websocket.MessageText, reply); err != nil {
			return
		}
	}
}

// loud reports whether 16-bit little-endian PCM holds speech.
func loud(b []byte) bool {
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return media.MeanAbs(pcm) >= media.DefaultVoiceThreshold
}

// TestGatherSpeechInterimAndNoMatch runs against a Vosk stand-in: interim results arrive in
// order while the caller speaks, the final transcript reaches the action; a second Gather
// whose speech is not recognised posts a no match.
func TestGatherSpeechInterimAndNoMatch(t *testing.T) {
	vosk := &voskStandIn{transcripts: []string{"i want to talk to sales", ""}}
	srv := httptest.NewServer(vosk)
	t.Cleanup(srv.Close)
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Gather inputType="speech" action="/got" interimSpeechResultsCallback="/partial" hints="sales">
    <Speak>What would you like?</Speak>
  </Gather>
</Response>`)
	w.XML("/got", `<Response><Gather inputType="dtmf speech" action="/nomatch"/><Speak>Sorry.</Speak><Hangup/></Response>`)
	w.OK("/partial")
	w.OK("/nomatch")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{
		"PARLEY_ASR_ENGINE":   "vosk",
		"PARLEY_ASR_VOSK_URL": "ws" + strings.TrimPrefix(srv.URL, "http"),
	}})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "call")
	time.Sleep(time.Second)
	say(t, cl, "I want to talk to sales please")
	got := w.WaitFor(t, "/got", 1, 15*time.Second)[0]
	kit.AssertParams(t, "action", got.Form, map[string]string{"InputType": "speech", "Speech": "i want to talk to sales", "SpeechConfidenceScore": "0.9", "Digits": ""})

	partials := w.Requests("/partial")
	if len(partials) < 2 {
		t.Fatalf("%d interim requests, want several while the caller spoke", len(partials))
	}
	// One request at a time, so they arrive in order: 1, 2, … with growing text.
	prev := ""
	for i, r := range partials {
		if seq := r.Form.Get("SequenceNumber"); seq != strconv.Itoa(i+1) {
			t.Errorf("interim %d: SequenceNumber %q", i, seq)
		}
		text := r.Form.Get("UnstableSpeech")
		if !strings.HasPrefix("i want to talk to sales", text) || len(text) < len(prev) {
			t.Errorf("interim %d: %q after %q", i, text, prev)
		}
		if r.Form.Get("CallUUID") == "" || r.Form.Get("Stability") == "" {
			t.Errorf("interim %d without the call's parameters: %v", i, r.Form)
		}
		prev = text
	}

	// The second Gather hears speech that the recogniser cannot make out.
	say(t, cl, "mumble")
	nm := w.WaitFor(t, "/nomatch", 1, 15*time.Second)[0]
	kit.AssertParams(t, "no match", nm.Form, map[string]string{"InputType": "speech", "Speech": "", "Digits": "", "SpeechConfidenceScore": "0"})
	kit.WaitEnd(t, cl, 15*time.Second)
}
