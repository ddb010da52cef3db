package vxml

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/voice"
)

var testBase = mustURL("https://app.example.com/voice/answer.xml")

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// wrap puts a fragment in a one-line <Response>, so every element is on line 1.
func wrap(frag string) []byte { return []byte("<Response>" + frag + "</Response>") }

func hasWarning(ws []string, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// checkResult compares one parse with what a case expects: an error containing errSub, or the
// elements want and a warning containing warnSub ("" for no warnings at all).
func checkResult(t *testing.T, doc *Document, err error, want []Element, errSub, warnSub string) {
	t.Helper()
	if errSub != "" {
		if err == nil {
			t.Fatalf("want error containing %q, got none; elements %s", errSub, dumpElements(doc.Elements))
		}
		if !errors.Is(err, ErrInvalidDocument) {
			t.Errorf("error %v does not match ErrInvalidDocument", err)
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("error %T is not a *ParseError", err)
		}
		if !strings.Contains(err.Error(), errSub) {
			t.Errorf("error %q does not contain %q", err, errSub)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(doc.Elements, want) {
		t.Errorf("elements:\n got %s\nwant %s", dumpElements(doc.Elements), dumpElements(want))
	}
	if warnSub == "" && len(doc.Warnings) > 0 {
		t.Errorf("unexpected warnings %q", doc.Warnings)
	}
	if warnSub != "" && !hasWarning(doc.Warnings, warnSub) {
		t.Errorf("warnings %q lack %q", doc.Warnings, warnSub)
	}
}

func dumpElements(els []Element) string {
	var b strings.Builder
	for _, e := range els {
		j, _ := json.Marshal(dumpValue(reflect.ValueOf(e)))
		b.Write(j)
		b.WriteString(" ")
	}
	return b.String()
}

// Default elements as the contract defines them, on line 1.
func speak(text string, mod ...func(*Speak)) *Speak {
	s := &Speak{Line: 1, Text: text, SSML: text, Voice: voice.Woman, Language: "en-US", Loop: 1}
	for _, m := range mod {
		m(s)
	}
	return s
}

func play(u string, loop int) *Play { return &Play{Line: 1, URL: u, Loop: loop} }

func wait(mod ...func(*Wait)) *Wait {
	w := &Wait{Line: 1, Length: time.Second, MinSilence: 2 * time.Second}
	for _, m := range mod {
		m(w)
	}
	return w
}

func gather(mod ...func(*Gather)) *Gather {
	g := &Gather{Line: 1, Method: MethodPost, InputType: "dtmf", ExecutionTimeout: 15 * time.Second,
		DigitEndTimeout: 5 * time.Second, FinishOnKey: "#", NumDigits: 32, Redirect: true,
		Language: "en-US", SpeechModel: "default", InterimMethod: MethodPost, Log: true}
	for _, m := range mod {
		m(g)
	}
	return g
}

func dial(mod ...func(*Dial)) *Dial {
	d := &Dial{Line: 1, Method: MethodPost, Redirect: true, CallbackMethod: MethodPost,
		Timeout: 120 * time.Second, TimeLimit: 14400 * time.Second, DialMusic: DialMusicReal,
		Targets: []DialTarget{{Kind: TargetNumber, Address: "14155550100"}}}
	for _, m := range mod {
		m(d)
	}
	return d
}

func conf(mod ...func(*Conference)) *Conference {
	c := &Conference{Line: 1, Room: "room", Beep: true, StartConferenceOnEnter: true,
		MaxParticipants: 200, TimeLimit: 14400 * time.Second, WaitMethod: MethodPost,
		CallbackMethod: MethodPost, RecordFileFormat: "mp3", Method: MethodPost}
	for _, m := range mod {
		m(c)
	}
	return c
}

func record(mod ...func(*Record)) *Record {
	r := &Record{Line: 1, Method: MethodPost, FileFormat: "mp3", Timeout: 60 * time.Second,
		MaxLength: 60 * time.Second, PlayBeep: true, FinishOnKey: "1234567890*#", CallbackMethod: MethodPost}
	for _, m := range mod {
		m(r)
	}
	return r
}

type elementCase struct {
	name    string
	frag    string
	want    []Element // ignored when err is set
	err     string    // substring of the error, "" for a valid document
	warning string    // substring of a warning, "" for none
}

func runElementCases(t *testing.T, cases []elementCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse(wrap(tc.frag), testBase)
			checkResult(t, doc, err, tc.want, tc.err, tc.warning)
		})
	}
}

func TestDocumentRules(t *testing.T) {
	big := "<Response>" + strings.Repeat("<!-- padding -->", MaxDocumentSize/16) + "</Response>"
	exact := "<Response>" + strings.Repeat(" ", MaxDocumentSize-len("<Response></Response>")) + "</Response>"
	cases := []struct {
		name, doc, err, warning string
		n                       int // number of elements when valid
	}{
		{name: "empty response", doc: "<Response/>"},
		{name: "empty response pair", doc: "<Response></Response>"},
		{name: "declaration", doc: `<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>`, n: 1},
		{name: "declaration lower-case utf-8", doc: `<?xml version="1.0" encoding="utf-8"?><Response/>`},
		{name: "declaration us-ascii", doc: `<?xml version="1.0" encoding="US-ASCII"?><Response/>`},
		{name: "byte order mark", doc: "\ufeff<Response><Hangup/></Response>", n: 1},
		{name: "comments and whitespace", doc: "<!-- a -->\n<Response>\n\t<!-- b --> <Hangup/>\n</Response>\n<!-- c -->\n", n: 1},
		{name: "processing instruction ignored", doc: `<Response><?app x?><Hangup/></Response>`, n: 1},
		{name: "exactly the size limit", doc: exact},
		{name: "over the size limit", doc: big, err: "larger than the limit of 102400 bytes"},
		{name: "empty document", doc: "", err: "empty"},
		{name: "whitespace only", doc: " \n ", err: "empty"},
		{name: "not xml", doc: "hello", err: "text outside"},
		{name: "truncated", doc: "<Response><Speak>Hi</Speak>", err: "not well-formed"},
		{name: "mismatched tags", doc: "<Response><Speak>Hi</Play></Response>", err: "not well-formed"},
		{name: "root not Response", doc: "<Document/>", err: "root element is <Document>"},
		{name: "root name is case-sensitive", doc: "<response/>", err: "root element is <response>"},
		{name: "two roots", doc: "<Response/><Response/>", err: "after the root element"},
		{name: "text after root", doc: "<Response/>x", err: "text outside"},
		{name: "doctype", doc: `<!DOCTYPE Response><Response/>`, err: "DTD"},
		{name: "entity declaration", doc: `<!DOCTYPE r [<!ENTITY a "b">]><Response><Speak>&a;</Speak></Response>`, err: "DTD"},
		{name: "undefined entity", doc: `<Response><Speak>&a;</Speak></Response>`, err: "not well-formed"},
		{name: "predefined entities", doc: `<Response><Speak>&lt;&amp;&#65;</Speak></Response>`, n: 1},
		{name: "non-UTF-8 encoding", doc: `<?xml version="1.0" encoding="ISO-8859-1"?><Response/>`, err: "UTF-8"},
		{name: "invalid UTF-8", doc: "<Response><Speak>\xff</Speak></Response>", err: "not well-formed"},
		{name: "declaration not first", doc: `<Response/><?xml version="1.0"?>`, err: "declaration must come first"},
		{name: "duplicate attribute", doc: `<Response><Speak loop="1" loop="2">x</Speak></Response>`, err: "attribute given twice"},
		{name: "Stream is known", doc: `<Response><Stream>wss://x</Stream></Response>`, n: 1},
		{name: "Stream not in Gather", doc: `<Response><Gather><Stream>wss://x</Stream></Gather></Response>`, err: "<Stream> is not allowed inside <Gather>"},
		{name: "unknown element", doc: `<Response><Say>x</Say></Response>`, err: "<Say> is not a VobizXML element"},
		{name: "element names are case-sensitive", doc: `<Response><speak>x</speak></Response>`, err: "<speak> is not"},
		{name: "Number at top level", doc: `<Response><Number>123</Number></Response>`, err: "<Number> is not allowed inside <Response>"},
		{name: "Response nested", doc: `<Response><Response/></Response>`, err: "<Response> is not allowed inside <Response>"},
		{name: "attributes on Response ignored", doc: `<Response foo="bar"/>`, warning: `"foo" ignored`},
		{name: "text in Response ignored", doc: `<Response>hello<Hangup/></Response>`, n: 1, warning: `text "hello" ignored`},
		{name: "namespaced elements", doc: `<Response xmlns="urn:x"><Hangup/></Response>`, n: 1},
		{name: "unknown attribute warns", doc: `<Response><Hangup color="red"/></Response>`, n: 1, warning: `unknown attribute "color"`},
		{name: "attribute names are case-sensitive", doc: `<Response><Play Loop="x">https://a.example/x.mp3</Play></Response>`, n: 1, warning: `unknown attribute "Loop"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.doc), testBase)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrInvalidDocument) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want invalid document mentioning %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(doc.Elements) != tc.n {
				t.Errorf("got %d elements, want %d", len(doc.Elements), tc.n)
			}
			if tc.warning == "" && len(doc.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", doc.Warnings)
			}
			if tc.warning != "" && !hasWarning(doc.Warnings, tc.warning) {
				t.Errorf("warnings %q lack %q", doc.Warnings, tc.warning)
			}
		})
	}
}

func TestParseErrorDetails(t *testing.T) {
	doc := "<Response>\n  <Speak>ok</Speak>\n  <Play\n    loop=\"x\">a.mp3</Play>\n</Response>"
	_, err := Parse([]byte(doc), testBase)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *ParseError", err)
	}
	if pe.Line != 3 || pe.Element != "Play" || pe.Attr != "loop" {
		t.Errorf("got line %d element %q attr %q, want 3 Play loop", pe.Line, pe.Element, pe.Attr)
	}
	want := `invalid VobizXML document: line 3: <Play> attribute "loop": "x" is not a whole number`
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err.Error(), want)
	}

	_, err = Parse([]byte("<Response>\n<Speak>x</Play></Response>"), testBase)
	var se *xml.SyntaxError
	if !errors.As(err, &pe) || pe.Line != 2 || !errors.As(err, &se) {
		t.Errorf("syntax error: got %#v, want line 2 wrapping an *xml.SyntaxError", err)
	}
}

func TestSpeak(t *testing.T) {
	long := strings.Repeat("a", MaxSpeakText)
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Speak>Hello</Speak>`, want: []Element{speak("Hello")}},
		{name: "voice MAN any case", frag: `<Speak voice="man">Hi</Speak>`, want: []Element{speak("Hi", func(s *Speak) { s.Voice = voice.Man })}},
		{name: "voice WOMAN", frag: `<Speak voice="WOMAN">Hi</Speak>`, want: []Element{speak("Hi")}},
		{name: "unknown voice", frag: `<Speak voice="Polly.Joanna">Hi</Speak>`, want: []Element{speak("Hi")}, warning: `unknown voice "Polly.Joanna"; using WOMAN`},
		{name: "language any case", frag: `<Speak language="PT-br">Oi</Speak>`, want: []Element{speak("Oi", func(s *Speak) { s.Language = "pt-BR" })}},
		{name: "every language", frag: `<Speak language="sv-SE">Hej</Speak>`, want: []Element{speak("Hej", func(s *Speak) { s.Language = "sv-SE" })}},
		{name: "unknown language", frag: `<Speak language="en-ZA">Hi</Speak>`, err: `attribute "language": "en-ZA" is not one of`},
		{name: "loop 0", frag: `<Speak loop="0">Hi</Speak>`, want: []Element{speak("Hi", func(s *Speak) { s.Loop = 0 })}},
		{name: "loop 3", frag: `<Speak loop=" 3 ">Hi</Speak>`, want: []Element{speak("Hi", func(s *Speak) { s.Loop = 3 })}},
		{name: "loop negative", frag: `<Speak loop="-2">Hi</Speak>`, want: []Element{speak("Hi")}, warning: "using the default 1"},
		{name: "loop huge", frag: `<Speak loop="99999999999999999999999">Hi</Speak>`, want: []Element{speak("Hi", func(s *Speak) { s.Loop = maxUnbounded })}, warning: "above the maximum"},
		{name: "loop not a number", frag: `<Speak loop="two">Hi</Speak>`, err: `"two" is not a whole number`},
		{name: "loop decimal", frag: `<Speak loop="1.5">Hi</Speak>`, err: "not a whole number"},
		{name: "loop empty", frag: `<Speak loop="">Hi</Speak>`, err: "not a whole number"},
		{name: "empty text skipped", frag: `<Speak>  </Speak><Hangup/>`, want: []Element{&Hangup{Line: 1}}, warning: "no text and is skipped"},
		{name: "markup only skipped", frag: `<Speak><break time="1s"/></Speak>`, want: nil, warning: "skipped"},
		{name: "empty text still checks attributes", frag: `<Speak language="zz">  </Speak>`, err: "language"},
		{name: "text limit", frag: `<Speak>` + long + `</Speak>`, want: []Element{speak(long)}},
		{name: "text over limit", frag: `<Speak>` + long + `b</Speak>`, err: "5001 characters of text; at most 5000"},
		{name: "markup not counted", frag: `<Speak><emphasis level="strong">` + long[:10] + `</emphasis>` + long[10:] + `</Speak>`,
			want: []Element{speak(long, func(s *Speak) { s.SSML = `<emphasis level="strong">` + long[:10] + `</emphasis>` + long[10:] })}},
		{name: "characters not bytes", frag: `<Speak>` + strings.Repeat("é", MaxSpeakText) + `</Speak>`, want: []Element{speak(strings.Repeat("é", MaxSpeakText))}},
		{name: "nested VobizXML names are SSML", frag: `<Speak>a <Play>b</Play> <Stream>c</Stream></Speak>`, want: []Element{speak("a b c")}},
	})
}

func TestSSML(t *testing.T) {
	cases := []struct{ name, in, text, ssml string }{
		{"plain", "Hello   world\n\tagain", "Hello world again", "Hello world again"},
		{"escaping", `a &lt; b &amp; "c"`, `a < b & "c"`, `a &lt; b &amp; &#34;c&#34;`},
		{"break kept", `one<break time="2s" strength="weak" foo="x"/>two`, "one two", `one<break time="2s" strength="weak"/>two`},
		{"say-as", `<say-as interpret-as="digits" format="x" detail="1">123</say-as>`, "123", `<say-as interpret-as="digits" format="x" detail="1">123</say-as>`},
		{"emphasis", `<emphasis level="strong">yes</emphasis>`, "yes", `<emphasis level="strong">yes</emphasis>`},
		{"prosody", `<prosody rate="slow" pitch="low" volume="loud">x</prosody>`, "x", `<prosody rate="slow" pitch="low" volume="loud">x</prosody>`},
		{"prosody range", `<prosody range="x-high" contour="(0%,+20Hz)">x</prosody>`, "x", `<prosody range="x-high">x</prosody>`},
		{"p and s", `<p><s>One</s><s>Two</s></p>`, "One Two", `<p><s>One</s><s>Two</s></p>`},
		{"sub alias", `<sub alias="World Wide Web">WWW</sub>`, "WWW", `<sub alias="World Wide Web">WWW</sub>`},
		{"sub without alias", `<sub>WWW</sub>`, "WWW", `WWW`},
		{"unknown tag reduced", `<voice name="x">hi <b>there</b></voice>`, "hi there", `hi there`},
		{"known inside unknown", `<lang><emphasis>x</emphasis></lang>`, "x", `<emphasis>x</emphasis>`},
		{"attribute escaping", `<sub alias="a&amp;&quot;b">x</sub>`, "x", `<sub alias="a&amp;&#34;b">x</sub>`},
		{"cdata", `<![CDATA[<b>]]>`, "<b>", `&lt;b&gt;`},
		{"namespaced attr dropped", `<break xml:lang="en" time="1s"/>x`, "x", `<break time="1s"/>x`},
		{"comments dropped", `a<!-- c -->b`, "ab", "ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse(wrap("<Speak>"+tc.in+"</Speak>"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Elements) != 1 {
				t.Fatalf("got %d elements", len(doc.Elements))
			}
			s := doc.Elements[0].(*Speak)
			if s.Text != tc.text || s.SSML != tc.ssml {
				t.Errorf("got text %q ssml %q\nwant text %q ssml %q", s.Text, s.SSML, tc.text, tc.ssml)
			}
		})
	}
}

func TestDeepSSMLNesting(t *testing.T) {
	depth := (MaxDocumentSize - 200) / len("<a></a>")
	frag := "<Speak>" + strings.Repeat("<a>", depth) + "deep" + strings.Repeat("</a>", depth) + "</Speak>"
	doc, err := Parse(wrap(frag), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := doc.Elements[0].(*Speak); s.Text != "deep" || s.SSML != "deep" {
		t.Errorf("got %q %q", s.Text, s.SSML)
	}
}

func TestPlay(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "absolute", frag: `<Play>https://cdn.example.com/a.mp3</Play>`, want: []Element{play("https://cdn.example.com/a.mp3", 1)}},
		{name: "trimmed", frag: "<Play>\n  http://cdn.example.com/a.wav \n</Play>", want: []Element{play("http://cdn.example.com/a.wav", 1)}},
		{name: "relative", frag: `<Play>sounds/a.mp3</Play>`, want: []Element{play("https://app.example.com/voice/sounds/a.mp3", 1)}},
		{name: "root-relative", frag: `<Play>/a.mp3</Play>`, want: []Element{play("https://app.example.com/a.mp3", 1)}},
		{name: "scheme-relative", frag: `<Play>//cdn.example.net/a.mp3</Play>`, want: []Element{play("https://cdn.example.net/a.mp3", 1)}},
		{name: "scheme any case", frag: `<Play>HTTPS://cdn.example.com/a.mp3</Play>`, want: []Element{play("https://cdn.example.com/a.mp3", 1)}},
		{name: "loop", frag: `<Play loop="0">https://a.example/x.mp3</Play>`, want: []Element{play("https://a.example/x.mp3", 0)}},
		{name: "loop negative", frag: `<Play loop="-1">https://a.example/x.mp3</Play>`, want: []Element{play("https://a.example/x.mp3", 1)}, warning: "default"},
		{name: "missing URL", frag: `<Play></Play>`, err: "<Play> needs a URL"},
		{name: "ftp", frag: `<Play>ftp://a.example/x.mp3</Play>`, err: "not an http or https URL"},
		{name: "file", frag: `<Play>file:///etc/passwd</Play>`, err: "not an http or https URL"},
		{name: "no host", frag: `<Play>http:///x.mp3</Play>`, err: "has no host"},
		{name: "bad URL", frag: `<Play>http://a b:99999/</Play>`, err: "not a valid URL"},
		{name: "child element", frag: `<Play><Speak>x</Speak></Play>`, err: "child element <Speak> is not allowed"},
	})
}

func TestRelativeURLWithoutBase(t *testing.T) {
	_, err := Parse(wrap(`<Play>a.mp3</Play>`), nil)
	if err == nil || !strings.Contains(err.Error(), "relative URL") {
		t.Errorf("got %v, want a relative URL error", err)
	}
	doc, err := Parse(wrap(`<Play>https://a.example/a.mp3</Play>`), nil)
	if err != nil || doc.Elements[0].(*Play).URL != "https://a.example/a.mp3" {
		t.Errorf("absolute URL without base: %v", err)
	}
}

func TestWait(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Wait/>`, want: []Element{wait()}},
		{name: "all set", frag: `<Wait length="10" silence="TRUE" minSilence="750"/>`, want: []Element{wait(func(w *Wait) {
			w.Length, w.Silence, w.MinSilence = 10*time.Second, true, 750*time.Millisecond
		})}},
		{name: "beep", frag: `<Wait beep="true" length="30"/>`, want: []Element{wait(func(w *Wait) { w.Beep, w.Length = true, 30*time.Second })}},
		{name: "silence and beep", frag: `<Wait silence="true" beep="true"/>`, err: "both silence"},
		{name: "length zero", frag: `<Wait length="0"/>`, want: []Element{wait()}, warning: "below the minimum of 1"},
		{name: "minSilence negative", frag: `<Wait minSilence="-5"/>`, want: []Element{wait()}, warning: "using the default 2000"},
		{name: "length not a number", frag: `<Wait length="5s"/>`, err: "not a whole number"},
		{name: "silence not boolean", frag: `<Wait silence="yes"/>`, err: `"yes" is not a boolean`},
		{name: "text ignored", frag: `<Wait>x</Wait>`, want: []Element{wait()}, warning: `text "x" ignored`},
		{name: "child element", frag: `<Wait><Play>x</Play></Wait>`, err: "child element <Play> is not allowed"},
	})
}

func TestRedirect(t *testing.T) {
	r := func(u, m string) *Redirect { return &Redirect{Line: 1, URL: u, Method: m} }
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Redirect>https://a.example/next</Redirect>`, want: []Element{r("https://a.example/next", "POST")}},
		{name: "get any case", frag: `<Redirect method="get">next.xml</Redirect>`, want: []Element{r("https://app.example.com/voice/next.xml", "GET")}},
		{name: "bad method", frag: `<Redirect method="PUT">next.xml</Redirect>`, err: `"PUT" is not one of GET, POST`},
		{name: "missing URL", frag: `<Redirect/>`, err: "needs a URL"},
	})
}

func TestHangup(t *testing.T) {
	h := func(reason string, sched time.Duration) *Hangup {
		return &Hangup{Line: 1, Reason: reason, HasSchedule: sched > 0, Schedule: sched}
	}
	runElementCases(t, []elementCase{
		{name: "bare", frag: `<Hangup/>`, want: []Element{h("", 0)}},
		{name: "busy any case", frag: `<Hangup reason="Busy"/>`, want: []Element{h("busy", 0)}},
		{name: "rejected", frag: `<Hangup reason="rejected"/>`, want: []Element{h("rejected", 0)}},
		{name: "bad reason", frag: `<Hangup reason="later"/>`, err: `"later" is not one of rejected, busy`},
		{name: "schedule", frag: `<Hangup schedule="45"/>`, want: []Element{h("", 45*time.Second)}},
		{name: "schedule zero is now", frag: `<Hangup schedule="0"/>`, want: []Element{h("", 0)}},
		{name: "schedule negative is now", frag: `<Hangup schedule="-3"/>`, want: []Element{h("", 0)}},
		{name: "schedule huge", frag: `<Hangup schedule="99999999999999"/>`, want: []Element{h("", maxUnbounded*time.Second)}, warning: "above the maximum"},
		{name: "schedule not a number", frag: `<Hangup schedule="soon"/>`, err: "not a whole number"},
	})
}

func TestPreAnswer(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "children", frag: `<PreAnswer><Speak>a</Speak><Play>x.mp3</Play><Wait/></PreAnswer>`, want: []Element{&PreAnswer{Line: 1, Children: []Element{
			speak("a"), play("https://app.example.com/voice/x.mp3", 1), wait()}}}},
		{name: "empty", frag: `<PreAnswer/>`, want: []Element{&PreAnswer{Line: 1}}},
		{name: "gather inside", frag: `<PreAnswer><Gather/></PreAnswer>`, err: "<Gather> is not allowed inside <PreAnswer>"},
		{name: "hangup inside", frag: `<PreAnswer><Hangup/></PreAnswer>`, err: "<Hangup> is not allowed inside <PreAnswer>"},
		{name: "unknown inside", frag: `<PreAnswer><Foo/></PreAnswer>`, err: "<Foo> is not a VobizXML element"},
		{name: "nested child invalid", frag: `<PreAnswer><Wait length="x"/></PreAnswer>`, err: "not a whole number"},
	})
}

func TestGather(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Gather/>`, want: []Element{gather()}},
		{name: "alias GetDigits", frag: `<GetDigits/>`, want: []Element{gather()}},
		{name: "alias GetInput", frag: `<GetInput/>`, want: []Element{gather()}},
		{name: "all set", frag: `<Gather action="r" method="GET" inputType="DTMF" executionTimeout="20" digitEndTimeout="3" finishOnKey="*" numDigits="6" redirect="false"/>`,
			want: []Element{gather(func(g *Gather) {
				g.Action, g.Method, g.ExecutionTimeout, g.DigitEndTimeout = "https://app.example.com/voice/r", "GET", 20*time.Second, 3*time.Second
				g.FinishOnKey, g.NumDigits, g.Redirect = "*", 6, false
			})}},
		{name: "prompts", frag: `<Gather><Speak>a</Speak><Play>https://a.example/p.mp3</Play><Wait/></Gather>`,
			want: []Element{gather(func(g *Gather) { g.Children = []Element{speak("a"), play("https://a.example/p.mp3", 1), wait()} })}},
		{name: "empty prompt skipped", frag: `<Gather><Speak/></Gather>`, want: []Element{gather()}, warning: "skipped"},
		{name: "nested gather", frag: `<Gather><Gather/></Gather>`, err: "<Gather> is not allowed inside <Gather>"},
		{name: "dial inside", frag: `<GetDigits><Dial>1</Dial></GetDigits>`, err: "<Dial> is not allowed inside <GetDigits>"},
		{name: "speech input", frag: `<Gather inputType="speech"/>`, want: []Element{gather(func(g *Gather) { g.InputType = "speech" })}},
		{name: "both inputs any order", frag: `<Gather inputType="Speech  dtmf"/>`, want: []Element{gather(func(g *Gather) { g.InputType = "dtmf speech" })}},
		{name: "bad input type", frag: `<Gather inputType="dtmf voice"/>`, err: "is not one of dtmf, speech"},
		{name: "empty input type", frag: `<Gather inputType=""/>`, err: "is not one of dtmf, speech"},
		{name: "plivo type", frag: `<GetInput type="speech"/>`, want: []Element{gather(func(g *Gather) { g.InputType = "speech" })}},
		{name: "plivo timeout", frag: `<GetDigits timeout="7"/>`, want: []Element{gather(func(g *Gather) { g.ExecutionTimeout = 7 * time.Second })}},
		{name: "contract name wins over alias", frag: `<Gather executionTimeout="8" timeout="9"/>`, want: []Element{gather(func(g *Gather) { g.ExecutionTimeout = 8 * time.Second })}, warning: `"timeout": ignored`},
		{name: "executionTimeout clamped", frag: `<Gather executionTimeout="90"/>`, want: []Element{gather(func(g *Gather) { g.ExecutionTimeout = 60 * time.Second })}, warning: "using 60"},
		{name: "executionTimeout below minimum", frag: `<Gather executionTimeout="4"/>`, want: []Element{gather()}, warning: "using the default 15"},
		{name: "digitEndTimeout auto", frag: `<Gather digitEndTimeout="AUTO"/>`, want: []Element{gather()}},
		{name: "plivo digitTimeout", frag: `<Gather digitTimeout="10"/>`, want: []Element{gather(func(g *Gather) { g.DigitEndTimeout = 10 * time.Second })}},
		{name: "digitEndTimeout clamped", frag: `<Gather digitEndTimeout="11"/>`, want: []Element{gather(func(g *Gather) { g.DigitEndTimeout = 10 * time.Second })}, warning: "using 10"},
		{name: "digitEndTimeout below minimum", frag: `<Gather digitEndTimeout="1"/>`, want: []Element{gather()}, warning: "default 5"},
		{name: "digitEndTimeout word", frag: `<Gather digitEndTimeout="later"/>`, err: "not a whole number"},
		{name: "finishOnKey empty", frag: `<Gather finishOnKey=""/>`, want: []Element{gather(func(g *Gather) { g.FinishOnKey = "" })}},
		{name: "finishOnKey none", frag: `<Gather finishOnKey="None"/>`, want: []Element{gather(func(g *Gather) { g.FinishOnKey = "" })}},
		{name: "finishOnKey digit", frag: `<Gather finishOnKey="0"/>`, want: []Element{gather(func(g *Gather) { g.FinishOnKey = "0" })}},
		{name: "finishOnKey two keys", frag: `<Gather finishOnKey="*#"/>`, err: "not one key"},
		{name: "finishOnKey letter", frag: `<Gather finishOnKey="A"/>`, err: "not one key"},
		{name: "numDigits clamped", frag: `<Gather numDigits="40"/>`, want: []Element{gather()}, warning: "using 32"},
		{name: "numDigits zero", frag: `<Gather numDigits="0"/>`, want: []Element{gather()}, warning: "default 32"},
		{name: "numDigits one", frag: `<Gather numDigits="1"/>`, want: []Element{gather(func(g *Gather) { g.NumDigits = 1 })}},
		{name: "redirect not boolean", frag: `<Gather redirect="1"/>`, err: "not a boolean"},
		{name: "action not http", frag: `<Gather action="mailto:a@b"/>`, err: "not an http or https URL"},
		{name: "ignored attributes silent", frag: `<Gather validDigits="123" retries="2" playBeep="true" invalidDigitsSound="x"/>`, want: []Element{gather()}},
		{name: "speech attributes", frag: `<Gather inputType="speech" speechEndTimeout="3" language="de-DE" speechModel="Phone_Call" hints=" yes , no,, sales " profanityFilter="TRUE" interimSpeechResultsCallback="/partial" interimSpeechResultsCallbackMethod="get" log="false"/>`,
			want: []Element{gather(func(g *Gather) {
				g.InputType, g.SpeechEndTimeout, g.Language, g.SpeechModel = "speech", 3*time.Second, "de-DE", "phone_call"
				g.Hints, g.ProfanityFilter, g.InterimURL, g.InterimMethod, g.Log = []string{"yes", "no", "sales"}, true, "https://app.example.com/partial", MethodGet, false
			})}},
		{name: "speechEndTimeout auto", frag: `<Gather speechEndTimeout="Auto"/>`, want: []Element{gather()}},
		{name: "speechEndTimeout clamped", frag: `<Gather speechEndTimeout="30"/>`, want: []Element{gather(func(g *Gather) { g.SpeechEndTimeout = 10 * time.Second })}, warning: "using 10"},
		{name: "speechEndTimeout below minimum is auto", frag: `<Gather speechEndTimeout="1"/>`, want: []Element{gather()}, warning: "below the minimum"},
		{name: "speechEndTimeout word", frag: `<Gather speechEndTimeout="soon"/>`, err: "not a whole number"},
		{name: "unknown speechModel is default", frag: `<Gather speechModel="x"/>`, want: []Element{gather()}, warning: "using default"},
		{name: "any language tag", frag: `<Gather language="yue-Hant-HK"/>`, want: []Element{gather(func(g *Gather) { g.Language = "yue-Hant-HK" })}},
		{name: "long hint dropped", frag: `<Gather hints="ok,` + strings.Repeat("x", 101) + `"/>`, want: []Element{gather(func(g *Gather) { g.Hints = []string{"ok"} })}, warning: "1 phrase(s) dropped"},
		{name: "profanityFilter not boolean", frag: `<Gather profanityFilter="yes"/>`, err: "not a boolean"},
		{name: "log not boolean", frag: `<Gather log="no"/>`, err: "not a boolean"},
		{name: "interim callback not http", frag: `<Gather interimSpeechResultsCallback="ftp://x/y"/>`, err: "not an http or https URL"},
		{name: "interim method bad", frag: `<Gather interimSpeechResultsCallbackMethod="PUT"/>`, err: "is not one of GET, POST"},
	})
}

func TestDial(t *testing.T) {
	num := func(addr string) DialTarget { return DialTarget{Kind: TargetNumber, Address: addr} }
	user := func(addr string) DialTarget { return DialTarget{Kind: TargetUser, Address: addr} }
	targets := func(ts ...DialTarget) func(*Dial) { return func(d *Dial) { d.Targets = ts } }
	runElementCases(t, []elementCase{
		{name: "bare number", frag: `<Dial>14155550100</Dial>`, want: []Element{dial()}},
		{name: "bare number with plus and separators", frag: `<Dial> +1 (415) 555-0100 </Dial>`, want: []Element{dial(targets(num("+14155550100")))}},
		{name: "bare SIP URI", frag: `<Dial>SIP:alice@example.com</Dial>`, want: []Element{dial(targets(user("sip:alice@example.com")))}},
		{name: "children", frag: `<Dial><Number sendDigits="1w2">+442071234567</Number><User sendOnPreanswer="true" sipHeaders="a=b">sip:bob@pbx.example</User></Dial>`,
			want: []Element{dial(targets(
				DialTarget{Kind: TargetNumber, Address: "+442071234567", SendDigits: "1w2"},
				DialTarget{Kind: TargetUser, Address: "sip:bob@pbx.example", SendOnPreanswer: true, SIPHeaders: []SIPHeader{{"a", "b"}}}))}},
		{name: "no destination", frag: `<Dial></Dial>`, err: "needs a destination"},
		{name: "children and text", frag: `<Dial>123<Number>456</Number></Dial>`, err: "both <Number>/<User> children and the text"},
		{name: "bad number", frag: `<Dial>call-me</Dial>`, err: "not a telephone number"},
		{name: "number too long", frag: `<Dial><Number>1234567890123456</Number></Dial>`, err: "1 to 15 digits"},
		{name: "empty number", frag: `<Dial><Number/></Dial>`, err: "<Number> needs a destination"},
		{name: "user without scheme", frag: `<Dial><User>alice@example.com</User></Dial>`, err: "not a SIP URI"},
		{name: "user with space", frag: `<Dial><User>sip:a b@example.com</User></Dial>`, err: "not a SIP URI"},
		{name: "speak inside", frag: `<Dial><Speak>x</Speak></Dial>`, err: "<Speak> is not allowed inside <Dial>"},
		{name: "unknown inside", frag: `<Dial><Sip>x</Sip></Dial>`, err: "<Sip> is not a VobizXML element"},
		{name: "element inside Number", frag: `<Dial><Number><User>x</User></Number></Dial>`, err: "child element <User> is not allowed"},
		{name: "sendDigits bad", frag: `<Dial><Number sendDigits="12x">1</Number></Dial>`, err: "may contain only 0-9, A-D"},
		{name: "sipHeaders on Number ignored", frag: `<Dial><Number sipHeaders="a=b">14155550100</Number></Dial>`, want: []Element{dial()}},
		{name: "attributes", frag: `<Dial action="/r" method="get" redirect="false" callbackUrl="https://e.example/cb" callbackMethod="GET" callerId=" 123 " callerName="Bob" timeout="30" timeLimit="60" hangupOnStar="true" confirmSound="c.xml" confirmKey="#" digitsMatch="1,2" digitsMatchBLeg="*" sipHeaders="X=1,Y=two words">14155550100</Dial>`,
			want: []Element{dial(func(d *Dial) {
				d.Action, d.Method, d.Redirect = "https://app.example.com/r", "GET", false
				d.CallbackURL, d.CallbackMethod = "https://e.example/cb", "GET"
				d.CallerID, d.CallerName = "123", "Bob"
				d.Timeout, d.TimeLimit, d.HangupOnStar = 30*time.Second, 60*time.Second, true
				d.ConfirmSound, d.ConfirmKey = "https://app.example.com/voice/c.xml", "#"
				d.DigitsMatch, d.DigitsMatchBLeg = []string{"1", "2"}, []string{"*"}
				d.SIPHeaders = []SIPHeader{{"X", "1"}, {"Y", "two words"}}
			})}},
		{name: "timeout clamped", frag: `<Dial timeout="500">14155550100</Dial>`, want: []Element{dial()}, warning: "using 120"},
		{name: "timeout zero", frag: `<Dial timeout="0">14155550100</Dial>`, want: []Element{dial()}, warning: "default 120"},
		{name: "timeLimit clamped", frag: `<Dial timeLimit="100000">14155550100</Dial>`, want: []Element{dial(func(d *Dial) { d.TimeLimit = 86400 * time.Second })}, warning: "using 86400"},
		{name: "timeLimit negative", frag: `<Dial timeLimit="-1">14155550100</Dial>`, want: []Element{dial()}, warning: "default 14400"},
		{name: "callerName too long", frag: `<Dial callerName="` + strings.Repeat("n", 51) + `">1</Dial>`, err: "at most 50"},
		{name: "callerName 50", frag: `<Dial callerName="` + strings.Repeat("n", 50) + `">14155550100</Dial>`, want: []Element{dial(func(d *Dial) { d.CallerName = strings.Repeat("n", 50) })}},
		{name: "dialMusic real any case", frag: `<Dial dialMusic="REAL">14155550100</Dial>`, want: []Element{dial()}},
		{name: "dialMusic empty", frag: `<Dial dialMusic="">14155550100</Dial>`, want: []Element{dial(func(d *Dial) { d.DialMusic = "" })}},
		{name: "dialMusic URL", frag: `<Dial dialMusic="music.xml">14155550100</Dial>`, want: []Element{dial(func(d *Dial) { d.DialMusic = "https://app.example.com/voice/music.xml" })}},
		{name: "dialMusic bad", frag: `<Dial dialMusic="tel:123">1</Dial>`, err: "expected real"},
		{name: "confirmKey two", frag: `<Dial confirmKey="12">1</Dial>`, err: "not one key"},
		{name: "digitsMatch bad", frag: `<Dial digitsMatch="12,ab">1</Dial>`, err: `pattern "ab"`},
		{name: "sipHeaders without value", frag: `<Dial sipHeaders="a">1</Dial>`, err: "name=value"},
		{name: "sipHeaders bad name", frag: `<Dial sipHeaders="a b=c">1</Dial>`, err: "header name"},
		{name: "callerId with line break", frag: `<Dial callerId="1&#13;&#10;Via: x">1</Dial>`, err: "control characters"},
		{name: "sipHeaders value with line break", frag: `<Dial sipHeaders="a=b&#10;c">1</Dial>`, err: "control character"},
		{name: "sendOnPreanswer bad", frag: `<Dial><User sendOnPreanswer="maybe">sip:a@b</User></Dial>`, err: "not a boolean"},
	})
}

func TestConference(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Conference>room</Conference>`, want: []Element{conf()}},
		{name: "name trimmed", frag: "<Conference>\n  room  \n</Conference>", want: []Element{conf()}},
		{name: "name any characters", frag: `<Conference>Sales &amp; Support – 東京</Conference>`, want: []Element{conf(func(c *Conference) { c.Room = "Sales & Support – 東京" })}},
		{name: "name 256", frag: `<Conference>` + strings.Repeat("r", 256) + `</Conference>`, want: []Element{conf(func(c *Conference) { c.Room = strings.Repeat("r", 256) })}},
		{name: "name 257", frag: `<Conference>` + strings.Repeat("r", 257) + `</Conference>`, err: "at most 256"},
		{name: "name 256 runes", frag: `<Conference>` + strings.Repeat("é", 256) + `</Conference>`, want: []Element{conf(func(c *Conference) { c.Room = strings.Repeat("é", 256) })}},
		{name: "name empty", frag: `<Conference>  </Conference>`, err: "needs a room name"},
		{name: "name with tab", frag: "<Conference>a\tb</Conference>", err: "control characters"},
		{name: "name with newline", frag: "<Conference>a\nb</Conference>", err: "control characters"},
		{name: "child element", frag: `<Conference><Speak>x</Speak></Conference>`, err: "child element <Speak>"},
		{name: "booleans", frag: `<Conference muted="true" beep="false" startConferenceOnEnter="False" endConferenceOnExit="TRUE" stayAlone="true" relayDTMF="true" hangupOnStar="true" record="true">room</Conference>`,
			want: []Element{conf(func(c *Conference) {
				c.Muted, c.Beep, c.StartConferenceOnEnter, c.EndConferenceOnExit = true, false, false, true
				c.StayAlone, c.RelayDTMF, c.HangupOnStar, c.Record = true, true, true, true
			})}},
		{name: "bad boolean", frag: `<Conference muted="on">room</Conference>`, err: `"muted": "on" is not a boolean`},
		{name: "enterSound beep", frag: `<Conference enterSound="BEEP:2">room</Conference>`, want: []Element{conf(func(c *Conference) { c.HasEnterSound, c.EnterSound = true, "beep:2" })}},
		{name: "enterSound empty", frag: `<Conference enterSound="">room</Conference>`, want: []Element{conf(func(c *Conference) { c.HasEnterSound = true })}},
		{name: "exitSound URL", frag: `<Conference exitSound="bye.xml">room</Conference>`, want: []Element{conf(func(c *Conference) { c.HasExitSound, c.ExitSound = true, "https://app.example.com/voice/bye.xml" })}},
		{name: "exitSound bad", frag: `<Conference exitSound="beep:3">room</Conference>`, err: "expected beep:1, beep:2"},
		{name: "maxParticipants", frag: `<Conference maxParticipants="10">room</Conference>`, want: []Element{conf(func(c *Conference) { c.MaxParticipants = 10 })}},
		{name: "maxMembers alias", frag: `<Conference maxMembers="5">room</Conference>`, want: []Element{conf(func(c *Conference) { c.MaxParticipants = 5 })}},
		{name: "maxParticipants wins", frag: `<Conference maxParticipants="3" maxMembers="5">room</Conference>`, want: []Element{conf(func(c *Conference) { c.MaxParticipants = 3 })}, warning: "maxMembers"},
		{name: "maxParticipants clamped", frag: `<Conference maxParticipants="201">room</Conference>`, want: []Element{conf()}, warning: "using 200"},
		{name: "maxParticipants zero", frag: `<Conference maxParticipants="0">room</Conference>`, want: []Element{conf()}, warning: "default 200"},
		{name: "timeLimit zero", frag: `<Conference timeLimit="0">room</Conference>`, want: []Element{conf(func(c *Conference) { c.TimeLimit = 0 })}},
		{name: "timeLimit negative", frag: `<Conference timeLimit="-1">room</Conference>`, want: []Element{conf()}, warning: "default 14400"},
		{name: "timeLimit text", frag: `<Conference timeLimit="1h">room</Conference>`, err: "not a whole number"},
		{name: "URLs and methods", frag: `<Conference waitSound="https://w.example/h.xml" waitMethod="get" callbackUrl="cb" callbackMethod="GET" action="/after" method="get">room</Conference>`,
			want: []Element{conf(func(c *Conference) {
				c.WaitSound, c.WaitMethod = "https://w.example/h.xml", "GET"
				c.CallbackURL, c.CallbackMethod = "https://app.example.com/voice/cb", "GET"
				c.Action, c.Method = "https://app.example.com/after", "GET"
			})}},
		{name: "empty URL is unset", frag: `<Conference action="" waitSound=" ">room</Conference>`, want: []Element{conf()}},
		{name: "bad waitMethod", frag: `<Conference waitMethod="PATCH">room</Conference>`, err: "not one of GET, POST"},
		{name: "recordFileFormat", frag: `<Conference recordFileFormat="WAV">room</Conference>`, want: []Element{conf(func(c *Conference) { c.RecordFileFormat = "wav" })}},
		{name: "recordFileFormat bad", frag: `<Conference recordFileFormat="ogg">room</Conference>`, err: "not one of mp3, wav"},
		{name: "digitsMatch", frag: `<Conference digitsMatch=" 1 ,*2#,">room</Conference>`, want: []Element{conf(func(c *Conference) { c.DigitsMatch = []string{"1", "*2#"} })}},
		{name: "digitsMatch bad", frag: `<Conference digitsMatch="1A">room</Conference>`, err: "pattern"},
		{name: "plivo-only attributes silent", frag: `<Conference floorEvent="true" redirect="false" recordWhenAlone="true" sendDigits="1">room</Conference>`, want: []Element{conf()}},
	})
}

func TestRecord(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Record/>`, want: []Element{record()}},
		{name: "all set", frag: `<Record action="done" method="GET" redirect="true" fileFormat="wav" timeout="5" maxLength="120" playBeep="false" finishOnKey="#" recordSession="true" startOnDialAnswer="true" callbackUrl="https://cb.example/r" callbackMethod="get" transcriptionType="auto"/>`,
			want: []Element{record(func(r *Record) {
				r.Action, r.Method, r.Redirect, r.FileFormat = "https://app.example.com/voice/done", "GET", true, "wav"
				r.Timeout, r.MaxLength, r.PlayBeep, r.FinishOnKey = 5*time.Second, 120*time.Second, false, "#"
				r.RecordSession, r.StartOnDialAnswer = true, true
				r.CallbackURL, r.CallbackMethod = "https://cb.example/r", "GET"
			})}},
		{name: "finishOnKey none", frag: `<Record finishOnKey="none"/>`, want: []Element{record(func(r *Record) { r.FinishOnKey = "" })}},
		{name: "finishOnKey empty", frag: `<Record finishOnKey=""/>`, want: []Element{record(func(r *Record) { r.FinishOnKey = "" })}},
		{name: "finishOnKey bad", frag: `<Record finishOnKey="1a"/>`, err: "finishOnKey"},
		{name: "timeout zero", frag: `<Record timeout="0"/>`, want: []Element{record()}, warning: "default 60"},
		{name: "maxLength negative", frag: `<Record maxLength="-60"/>`, want: []Element{record()}, warning: "default 60"},
		{name: "fileFormat bad", frag: `<Record fileFormat="flac"/>`, err: "not one of mp3, wav"},
		{name: "child element", frag: `<Record><Play>x</Play></Record>`, err: "child element <Play>"},
	})
}

func TestDTMF(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "digits", frag: `<DTMF>0123456789ABCD*#wW</DTMF>`, want: []Element{&DTMF{Line: 1, Digits: "0123456789ABCD*#wW", Async: true}}},
		{name: "trimmed and sync", frag: `<DTMF async="FALSE"> 12 </DTMF>`, want: []Element{&DTMF{Line: 1, Digits: "12"}}},
		{name: "empty", frag: `<DTMF/>`, err: "needs digits"},
		{name: "bad digit", frag: `<DTMF>12E</DTMF>`, err: "may contain only"},
		{name: "lower-case letter", frag: `<DTMF>a</DTMF>`, err: "may contain only"},
		{name: "inner space", frag: `<DTMF>1 2</DTMF>`, err: "may contain only"},
		{name: "bad async", frag: `<DTMF async="no">1</DTMF>`, err: "not a boolean"},
	})
}

func TestEntityExpansionIsBounded(t *testing.T) {
	// A "billion laughs" document is refused at its DTD, before any expansion.
	doc := `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Response><Speak>&b;&b;&b;</Speak></Response>`
	_, err := Parse([]byte(doc), nil)
	if !errors.Is(err, ErrInvalidDocument) || !strings.Contains(err.Error(), "DTD") {
		t.Errorf("got %v, want a DTD error", err)
	}
}

func TestLanguages(t *testing.T) {
	for _, l := range voice.Languages() {
		if _, err := Parse(wrap(`<Speak language="`+l+`">x</Speak>`), nil); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}

func TestManyAttributes(t *testing.T) {
	var b strings.Builder
	b.WriteString("<Response><Hangup")
	for i := 0; b.Len() < MaxDocumentSize-100; i++ {
		b.WriteString(" a" + strconv.Itoa(i) + `=""`)
	}
	b.WriteString("/></Response>")
	doc, err := Parse([]byte(b.String()), nil)
	if err != nil || len(doc.Elements) != 1 {
		t.Fatalf("got %v", err)
	}
	_, err = Parse([]byte(`<Response><Hangup a="" b="" c="" d="" e="" f="" g="" h="" i="" a=""/></Response>`), nil)
	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate among many attributes: got %v", err)
	}
}

func stream(mod ...func(*Stream)) *Stream {
	s := &Stream{Line: 1, URL: "wss://bot.example.com/ws", AudioTrack: StreamTrackInbound,
		StreamTimeout: DefaultStreamTimeout, StatusCallbackMethod: MethodPost, NoiseCancellationLevel: 85}
	for _, m := range mod {
		m(s)
	}
	return s
}

func TestStream(t *testing.T) {
	runElementCases(t, []elementCase{
		{name: "defaults", frag: `<Stream>wss://bot.example.com/ws</Stream>`, want: []Element{stream()}},
		{name: "URL trimmed, unescaped, query kept", frag: "<Stream bidirectional=\"true\">\n    wss://bot.example.com/ws/s3cr3t?lang=hi&amp;dir=out&amp;body=eyJhIjoxfQ==\n  </Stream>",
			want: []Element{stream(func(s *Stream) {
				s.URL, s.Bidirectional = "wss://bot.example.com/ws/s3cr3t?lang=hi&dir=out&body=eyJhIjoxfQ==", true
			})}},
		{name: "all set", frag: `<Stream bidirectional="True" audioTrack="inbound" streamTimeout="120" statusCallbackUrl="/stream-status" statusCallbackMethod="get" contentType=" audio/x-mulaw;rate=8000 " extraHeaders="session_id=abc,k=v" maxRetries="3" keepCallAlive="TRUE" noiseCancellation="true" noiseCancellationLevel="70">ws://127.0.0.1:9000/ws</Stream>`,
			want: []Element{stream(func(s *Stream) {
				s.URL, s.Bidirectional, s.StreamTimeout = "ws://127.0.0.1:9000/ws", true, 120*time.Second
				s.StatusCallbackURL, s.StatusCallbackMethod = "https://app.example.com/stream-status", MethodGet
				s.ContentType, s.ExtraHeaders, s.MaxRetries, s.KeepCallAlive = "audio/x-mulaw;rate=8000", "session_id=abc,k=v", 3, true
				s.NoiseCancellation, s.NoiseCancellationLevel = true, 70
			})}},
		{name: "attribute names in any case", frag: `<Stream Bidirectional="true" KEEPCALLALIVE="true" audiotrack="inbound">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.Bidirectional, s.KeepCallAlive = true, true })}},
		{name: "both tracks one-way", frag: `<Stream audioTrack="BOTH">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.AudioTrack = StreamTrackBoth })}},
		{name: "bidirectional coerces outbound", frag: `<Stream bidirectional="true" audioTrack="outbound">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.Bidirectional = true })}, warning: "cannot be bidirectional"},
		{name: "bidirectional coerces both", frag: `<Stream bidirectional="true" audioTrack="both">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.Bidirectional = true })}, warning: "using inbound"},
		{name: "keepCallAlive without bidirectional honoured", frag: `<Stream keepCallAlive="true">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.KeepCallAlive = true })}},
		{name: "bad boolean means default", frag: `<Stream bidirectional="yes">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not true or false"},
		{name: "bad track means inbound", frag: `<Stream audioTrack="mixed">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not one of inbound"},
		{name: "streamTimeout zero", frag: `<Stream streamTimeout="0">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "using 86400"},
		{name: "streamTimeout not a number", frag: `<Stream streamTimeout="1h">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not a whole number"},
		{name: "streamTimeout huge", frag: `<Stream streamTimeout="99999999999999999999">wss://bot.example.com/ws</Stream>`,
			want: []Element{stream(func(s *Stream) { s.StreamTimeout = maxUnbounded * time.Second })}, warning: "above the maximum"},
		{name: "maxRetries above 10", frag: `<Stream maxRetries="11">wss://bot.example.com/ws</Stream>`, want: []Element{stream(func(s *Stream) { s.MaxRetries = 10 })}, warning: "using 10"},
		{name: "maxRetries negative", frag: `<Stream maxRetries="-2">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "using 0"},
		{name: "maxRetries not integer", frag: `<Stream maxRetries="2.5">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not a whole number"},
		{name: "noiseCancellationLevel clamped", frag: `<Stream noiseCancellationLevel="200">wss://bot.example.com/ws</Stream>`, want: []Element{stream(func(s *Stream) { s.NoiseCancellationLevel = 100 })}, warning: "using 100"},
		{name: "bad method means POST", frag: `<Stream statusCallbackMethod="PUT">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not one of GET, POST"},
		{name: "bad callback URL ignored", frag: `<Stream statusCallbackUrl="ftp://x/y">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: "not an http or https URL"},
		{name: "url attribute alias", frag: `<Stream url="wss://bot.example.com/ws"/>`, want: []Element{stream()}},
		{name: "text wins over url attribute", frag: `<Stream url="wss://other.example/ws">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}},
		{name: "empty URL fails later, not now", frag: `<Stream>  </Stream>`, want: []Element{stream(func(s *Stream) { s.URL = "" })}, warning: "no WebSocket URL"},
		{name: "https URL fails later", frag: `<Stream>https://bot.example.com/ws?key=s3cr3t</Stream>`,
			want: []Element{stream(func(s *Stream) { s.URL = "https://bot.example.com/ws?key=s3cr3t" })}, warning: "not ws:// or wss://"},
		{name: "unknown attribute ignored", frag: `<Stream track="x">wss://bot.example.com/ws</Stream>`, want: []Element{stream()}, warning: `unknown attribute "track"`},
		{name: "child element", frag: `<Stream><Speak>x</Speak></Stream>`, err: "child element <Speak>"},
		{name: "then more elements", frag: `<Stream keepCallAlive="true">wss://bot.example.com/ws</Stream><Hangup/>`,
			want: []Element{stream(func(s *Stream) { s.KeepCallAlive = true }), &Hangup{Line: 1}}},
	})
}

func TestStreamWarningHidesURL(t *testing.T) {
	doc, err := Parse(wrap(`<Stream>http://bot.example.com/ws?token=s3cr3t</Stream>`), testBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range doc.Warnings {
		if strings.Contains(w, "s3cr3t") {
			t.Errorf("warning reveals the URL: %q", w)
		}
	}
}
