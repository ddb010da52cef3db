package vxml

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-voice/parley/internal/voice"
)

func (p *parser) speak(n *node) (Element, error) {
	a := p.attrs(n)
	s := &Speak{Line: n.line}
	s.Voice = voice.Woman
	if v, ok := a.lookup("voice"); ok {
		if c, ok := matchEnum(strings.TrimSpace(v), []string{voice.Woman, voice.Man}); ok {
			s.Voice = c
		} else {
			a.warn("voice", "unknown voice %q; using WOMAN", clip(v))
		}
	}
	s.Language = a.enum("language", voice.DefaultLanguage, voice.Languages()...)
	s.Loop = a.integer("loop", 1, 0, maxUnbounded)
	if err := a.done(); err != nil {
		return nil, err
	}
	s.Text, s.SSML = renderSSML(n)
	if c := utf8.RuneCountInString(s.Text); c > MaxSpeakText {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: fmt.Sprintf("has %d characters of text; at most %d are allowed", c, MaxSpeakText)}
	}
	if s.Text == "" {
		p.warnf(n, "has no text and is skipped")
		return nil, nil
	}
	return s, nil
}

func (p *parser) play(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Play{Line: n.line, Loop: a.integer("loop", 1, 0, maxUnbounded)}
	if err := a.done(); err != nil {
		return nil, err
	}
	u, err := p.contentURL(n)
	e.URL = u
	return e, err
}

// contentURL reads the URL that is the whole content of n.
func (p *parser) contentURL(n *node) (string, error) {
	txt, err := textOnly(n)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(txt) == "" {
		return "", &ParseError{Line: n.line, Element: n.name, Msg: "needs a URL as its content"}
	}
	u, msg := p.resolve(txt)
	if msg != "" {
		return "", &ParseError{Line: n.line, Element: n.name, Msg: msg}
	}
	return u, nil
}

func (p *parser) wait(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Wait{
		Line:       n.line,
		Length:     a.seconds("length", 1, 1, maxUnbounded),
		Silence:    a.boolean("silence", false),
		MinSilence: msDuration(a.integer("minSilence", 2000, 1, maxUnbounded)),
		Beep:       a.boolean("beep", false),
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	if e.Silence && e.Beep {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: `cannot have both silence="true" and beep="true"`}
	}
	return e, p.noContent(n)
}

func (p *parser) redirect(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Redirect{Line: n.line, Method: a.method("method")}
	if err := a.done(); err != nil {
		return nil, err
	}
	u, err := p.contentURL(n)
	e.URL = u
	return e, err
}

func (p *parser) hangup(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Hangup{Line: n.line, Reason: a.enum("reason", "", "rejected", "busy")}
	if v, ok := a.lookup("schedule"); ok {
		if s, ok := a.parseInt("schedule", v); ok && s > 0 {
			if s > maxUnbounded {
				a.warn("schedule", "%s is above the maximum; using %d", strings.TrimSpace(v), maxUnbounded)
				s = maxUnbounded
			}
			e.HasSchedule = true
			e.Schedule = secondsDuration(int(s))
		}
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	return e, p.noContent(n)
}

func (p *parser) preAnswer(n *node) (Element, error) {
	if err := p.attrs(n).done(); err != nil {
		return nil, err
	}
	kids, err := p.children(n, inPrompt)
	if err != nil {
		return nil, err
	}
	return &PreAnswer{Line: n.line, Children: kids}, nil
}

func (p *parser) gather(n *node) (Element, error) {
	a := p.attrs(n, "validDigits", "retries", "playBeep", "invalidDigitsSound")
	e := &Gather{Line: n.line, Action: a.url("action"), Method: a.method("method")}
	e.InputType = a.inputType(pick(a, "inputType", "type"))
	e.ExecutionTimeout = a.seconds(pick(a, "executionTimeout", "timeout"), 15, 5, 60)
	det := pick(a, "digitEndTimeout", "digitTimeout")
	if v, ok := a.lookup(det); ok && strings.EqualFold(strings.TrimSpace(v), "auto") {
		e.DigitEndTimeout = secondsDuration(5)
	} else {
		e.DigitEndTimeout = a.seconds(det, 5, 2, 10)
	}
	e.FinishOnKey = a.key("finishOnKey", "#")
	e.NumDigits = a.integer("numDigits", 32, 1, 32)
	e.Redirect = a.boolean("redirect", true)
	if v, ok := a.lookup("speechEndTimeout"); ok && !strings.EqualFold(strings.TrimSpace(v), "auto") {
		e.SpeechEndTimeout = a.seconds("speechEndTimeout", 0, 2, 10) // below 2 → 0 = auto
	}
	e.Language = "en-US"
	if v, ok := a.lookup("language"); ok && strings.TrimSpace(v) != "" {
		e.Language = strings.TrimSpace(v)
	}
	e.SpeechModel = "default"
	if v, ok := a.lookup("speechModel"); ok {
		if m, ok := matchEnum(strings.TrimSpace(v), SpeechModels); ok {
			e.SpeechModel = m
		} else {
			// Advisory (§C.1): a bad hint must not end the call.
			a.warn("speechModel", "%q is not one of %s; using default", clip(v), strings.Join(SpeechModels, ", "))
		}
	}
	e.Hints = a.hints("hints")
	e.ProfanityFilter = a.boolean("profanityFilter", false)
	e.InterimURL = a.url("interimSpeechResultsCallback")
	e.InterimMethod = a.method("interimSpeechResultsCallbackMethod")
	e.Log = a.boolean("log", true)
	if err := a.done(); err != nil {
		return nil, err
	}
	kids, err := p.children(n, inPrompt)
	if err != nil {
		return nil, err
	}
	e.Children = kids
	return e, nil
}

// hints reads a comma-separated list of phrases within the limits of §C.1: empty items are
// ignored, excess phrases (too long, too many, too many characters) dropped with a warning.
func (a *attrs) hints(name string) []string {
	v, ok := a.lookup(name)
	if !ok {
		return nil
	}
	var out []string
	total, dropped := 0, 0
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		switch n := utf8.RuneCountInString(h); {
		case n == 0:
		case n > MaxHintLength || len(out) >= MaxHints || total+n > MaxHintCharacters:
			dropped++
		default:
			out = append(out, h)
			total += n
		}
	}
	if dropped > 0 {
		a.warn(name, "%d phrase(s) dropped: at most %d phrases of %d characters, %d characters in all",
			dropped, MaxHints, MaxHintLength, MaxHintCharacters)
	}
	return out
}

// pick returns the contract's attribute name when present, else its Plivo alias; the alias is
// marked as read either way so that it draws no "unknown attribute" warning.
func pick(a *attrs, name, alias string) string {
	_, hasAlias := a.lookup(alias)
	if _, ok := a.lookup(name); ok || !hasAlias {
		if hasAlias {
			a.warn(alias, "ignored because %q is also given", name)
		}
		return name
	}
	return alias
}

// inputType reads "dtmf", "speech" or both, separated by spaces, in any order and case.
func (a *attrs) inputType(name string) string {
	v, ok := a.lookup(name)
	if !ok {
		return "dtmf"
	}
	var dtmf, speech, bad bool
	for _, f := range strings.Fields(v) {
		switch {
		case strings.EqualFold(f, "dtmf"):
			dtmf = true
		case strings.EqualFold(f, "speech"):
			speech = true
		default:
			bad = true
		}
	}
	switch {
	case bad:
	case dtmf && speech:
		return "dtmf speech"
	case dtmf:
		return "dtmf"
	case speech:
		return "speech"
	}
	a.fail(name, "%q is not one of dtmf, speech, dtmf speech", clip(v))
	return "dtmf"
}

func (p *parser) dial(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Dial{
		Line:            n.line,
		Action:          a.url("action"),
		Method:          a.method("method"),
		Redirect:        a.boolean("redirect", true),
		CallbackURL:     a.url("callbackUrl"),
		CallbackMethod:  a.method("callbackMethod"),
		CallerID:        a.text("callerId"),
		CallerName:      a.text("callerName"),
		Timeout:         a.seconds("timeout", 120, 1, 120),
		TimeLimit:       a.seconds("timeLimit", 14400, 1, 86400),
		HangupOnStar:    a.boolean("hangupOnStar", false),
		DialMusic:       DialMusicReal,
		ConfirmSound:    a.url("confirmSound"),
		ConfirmKey:      a.key("confirmKey", ""),
		DigitsMatch:     a.digitPatterns("digitsMatch"),
		DigitsMatchBLeg: a.digitPatterns("digitsMatchBLeg"),
		SIPHeaders:      a.sipHeaders("sipHeaders"),
	}
	if c := utf8.RuneCountInString(e.CallerName); c > 50 {
		a.fail("callerName", "has %d characters; at most 50 are allowed", c)
	}
	if v, ok := a.lookup("dialMusic"); ok {
		switch t := strings.TrimSpace(v); {
		case t == "":
			e.DialMusic = ""
		case strings.EqualFold(t, DialMusicReal):
			e.DialMusic = DialMusicReal
		default:
			u, msg := p.resolve(t)
			if msg != "" {
				a.fail("dialMusic", "%s (expected real, an empty value or a URL)", msg)
			}
			e.DialMusic = u
		}
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	var bare strings.Builder
	for _, it := range n.items {
		if it.el == nil {
			bare.WriteString(it.text)
			continue
		}
		var t DialTarget
		var err error
		switch it.el.name {
		case "Number":
			t, err = p.dialTarget(it.el, TargetNumber)
		case "User":
			t, err = p.dialTarget(it.el, TargetUser)
		default:
			if knownElements[it.el.name] {
				return nil, &ParseError{Line: it.el.line, Element: it.el.name, Msg: "is not allowed inside <Dial>; use <Number> or <User>"}
			}
			return nil, misplaced(it.el, n)
		}
		if err != nil {
			return nil, err
		}
		e.Targets = append(e.Targets, t)
	}
	if txt := strings.TrimSpace(bare.String()); txt != "" {
		if len(e.Targets) > 0 {
			return nil, &ParseError{Line: n.line, Element: n.name, Msg: fmt.Sprintf("has both <Number>/<User> children and the text %q; use one or the other", clip(txt))}
		}
		kind := TargetNumber
		if hasSIPScheme(txt) {
			kind = TargetUser
		}
		addr, msg := destination(kind, txt)
		if msg != "" {
			return nil, &ParseError{Line: n.line, Element: n.name, Msg: msg}
		}
		e.Targets = append(e.Targets, DialTarget{Kind: kind, Address: addr})
	}
	if len(e.Targets) == 0 {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: "needs a destination: <Number>, <User> or a number or SIP URI as text"}
	}
	return e, nil
}

func (p *parser) dialTarget(n *node, kind string) (DialTarget, error) {
	var ignored []string
	if kind == TargetNumber {
		ignored = []string{"sipHeaders"} // only User takes sipHeaders (§7.12)
	}
	a := p.attrs(n, ignored...)
	t := DialTarget{
		Kind:            kind,
		SendDigits:      a.digits("sendDigits"),
		SendOnPreanswer: a.boolean("sendOnPreanswer", false),
	}
	if kind == TargetUser {
		t.SIPHeaders = a.sipHeaders("sipHeaders")
	}
	if err := a.done(); err != nil {
		return t, err
	}
	txt, err := textOnly(n)
	if err != nil {
		return t, err
	}
	addr, msg := destination(kind, strings.TrimSpace(txt))
	if msg != "" {
		return t, &ParseError{Line: n.line, Element: n.name, Msg: msg}
	}
	t.Address = addr
	return t, nil
}

func hasSIPScheme(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")
}

// numberSeparators may appear between the digits of a written number and are dropped.
const numberSeparators = " -.()"

// destination checks a Number (E.164 digits, optional "+", separators dropped) or a User
// (a sip: or sips: URI) and returns it normalised, or says what is wrong.
func destination(kind, s string) (string, string) {
	if s == "" {
		return "", "needs a destination as its content"
	}
	if kind == TargetUser {
		if !hasSIPScheme(s) {
			return "", fmt.Sprintf("%q is not a SIP URI (sip:user@host)", clip(s))
		}
		scheme, rest, _ := strings.Cut(s, ":")
		if rest == "" || strings.ContainsFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return "", fmt.Sprintf("%q is not a SIP URI (sip:user@host)", clip(s))
		}
		return strings.ToLower(scheme) + ":" + rest, ""
	}
	var b strings.Builder
	digits := 0
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case strings.ContainsRune(numberSeparators, r):
		default:
			return "", fmt.Sprintf("%q is not a telephone number", clip(s))
		}
	}
	if digits < 1 || digits > 15 {
		return "", fmt.Sprintf("%q is not a telephone number of 1 to 15 digits", clip(s))
	}
	return b.String(), ""
}

func (p *parser) conference(n *node) (Element, error) {
	a := p.attrs(n, "floorEvent", "redirect", "transcriptionType", "transcriptionUrl",
		"transcriptionMethod", "recordWhenAlone", "sendDigits")
	e := &Conference{
		Line:                   n.line,
		Muted:                  a.boolean("muted", false),
		Beep:                   a.boolean("beep", true),
		StartConferenceOnEnter: a.boolean("startConferenceOnEnter", true),
		EndConferenceOnExit:    a.boolean("endConferenceOnExit", false),
		StayAlone:              a.boolean("stayAlone", false),
		MaxParticipants:        a.integer(pick(a, "maxParticipants", "maxMembers"), 200, 1, 200),
		TimeLimit:              a.seconds("timeLimit", 14400, 0, maxUnbounded),
		WaitSound:              a.url("waitSound"),
		WaitMethod:             a.method("waitMethod"),
		RelayDTMF:              a.boolean("relayDTMF", false),
		DigitsMatch:            a.digitPatterns("digitsMatch"),
		HangupOnStar:           a.boolean("hangupOnStar", false),
		CallbackURL:            a.url("callbackUrl"),
		CallbackMethod:         a.method("callbackMethod"),
		Record:                 a.boolean("record", false),
		RecordFileFormat:       a.enum("recordFileFormat", "mp3", "mp3", "wav"),
		Action:                 a.url("action"),
		Method:                 a.method("method"),
	}
	e.EnterSound, e.HasEnterSound = p.sound(a, "enterSound")
	e.ExitSound, e.HasExitSound = p.sound(a, "exitSound")
	if err := a.done(); err != nil {
		return nil, err
	}
	txt, err := textOnly(n)
	if err != nil {
		return nil, err
	}
	room, msg := roomName(txt)
	if msg != "" {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: msg}
	}
	e.Room = room
	return e, nil
}

// sound reads an enterSound/exitSound value: "", beep:1, beep:2 or a URL.
func (p *parser) sound(a *attrs, name string) (string, bool) {
	v, ok := a.lookup(name)
	if !ok {
		return "", false
	}
	t := strings.TrimSpace(v)
	if t == "" {
		return "", true
	}
	if c, ok := matchEnum(t, []string{SoundBeep1, SoundBeep2}); ok {
		return c, true
	}
	u, msg := p.resolve(t)
	if msg != "" {
		a.fail(name, "%s (expected beep:1, beep:2, an empty value or a URL)", msg)
	}
	return u, true
}

// roomName checks a room name (§2.2): trimmed, 1–256 characters, no control characters.
func roomName(s string) (string, string) {
	t := strings.TrimSpace(s)
	c := utf8.RuneCountInString(t)
	switch {
	case c == 0:
		return "", "needs a room name as its content"
	case c > 256:
		return "", fmt.Sprintf("room name has %d characters; at most 256 are allowed", c)
	case strings.ContainsFunc(t, unicode.IsControl):
		return "", "room name must not contain control characters (tabs, line breaks, …)"
	}
	return t, ""
}

func (p *parser) record(n *node) (Element, error) {
	a := p.attrs(n, "transcriptionType", "transcriptionUrl", "transcriptionMethod")
	e := &Record{
		Line:              n.line,
		Action:            a.url("action"),
		Method:            a.method("method"),
		Redirect:          a.boolean("redirect", false),
		FileFormat:        a.enum("fileFormat", "mp3", "mp3", "wav"),
		Timeout:           a.seconds("timeout", 60, 1, maxUnbounded),
		MaxLength:         a.seconds("maxLength", 60, 1, maxUnbounded),
		PlayBeep:          a.boolean("playBeep", true),
		FinishOnKey:       "1234567890*#",
		RecordSession:     a.boolean("recordSession", false),
		StartOnDialAnswer: a.boolean("startOnDialAnswer", false),
		CallbackURL:       a.url("callbackUrl"),
		CallbackMethod:    a.method("callbackMethod"),
	}
	if v, ok := a.lookup("finishOnKey"); ok {
		switch t := strings.TrimSpace(v); {
		case t == "" || strings.EqualFold(t, "none"):
			e.FinishOnKey = ""
		case allIn(t, "0123456789*#"):
			e.FinishOnKey = t
		default:
			a.fail("finishOnKey", "%q may contain only 0-9, * and #, or be empty or none", clip(v))
		}
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	return e, p.noContent(n)
}

func (p *parser) dtmf(n *node) (Element, error) {
	a := p.attrs(n)
	e := &DTMF{Line: n.line, Async: a.boolean("async", true)}
	if err := a.done(); err != nil {
		return nil, err
	}
	txt, err := textOnly(n)
	if err != nil {
		return nil, err
	}
	t := strings.TrimSpace(txt)
	if t == "" {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: "needs digits as its content"}
	}
	if !allIn(t, dtmfChars) {
		return nil, &ParseError{Line: n.line, Element: n.name, Msg: fmt.Sprintf("%q may contain only 0-9, A-D, *, #, w and W", clip(t))}
	}
	e.Digits = t
	return e, nil
}

func (p *parser) stream(n *node) (Element, error) {
	a := p.attrs(n)
	e := &Stream{
		Line:                 n.line,
		Bidirectional:        a.looseBool("bidirectional", false),
		AudioTrack:           a.looseEnum("audioTrack", StreamTrackInbound, StreamTrackInbound, StreamTrackOutbound, StreamTrackBoth),
		StreamTimeout:        secondsDuration(a.looseInt("streamTimeout", int(DefaultStreamTimeout/time.Second), 1, int(DefaultStreamTimeout/time.Second), maxUnbounded)),
		StatusCallbackURL:    a.looseURL("statusCallbackUrl"),
		StatusCallbackMethod: a.looseEnum("statusCallbackMethod", MethodPost, MethodGet, MethodPost),
		ContentType:          a.looseText("contentType"),
		ExtraHeaders:         a.looseText("extraHeaders"),
		MaxRetries:           a.looseInt("maxRetries", 0, 0, 0, 10),
		KeepCallAlive:        a.looseBool("keepCallAlive", false),
		NoiseCancellation:    a.looseBool("noiseCancellation", false),
	}
	e.NoiseCancellationLevel = a.looseInt("noiseCancellationLevel", 85, 60, 85, 100)
	urlAttr := a.looseText("url") // the <Connect><Stream url="…"> form (§1.1)
	if err := a.done(); err != nil {
		return nil, err
	}
	if e.Bidirectional && e.AudioTrack != StreamTrackInbound {
		p.warnf(n, "audioTrack %q cannot be bidirectional; using inbound", e.AudioTrack)
		e.AudioTrack = StreamTrackInbound
	}
	txt, err := textOnly(n)
	if err != nil {
		return nil, err
	}
	e.URL = strings.TrimSpace(txt)
	if e.URL == "" {
		e.URL = urlAttr
	}
	switch l := strings.ToLower(e.URL); {
	case e.URL == "":
		p.warnf(n, "has no WebSocket URL; the stream will fail")
	case !strings.HasPrefix(l, "ws://") && !strings.HasPrefix(l, "wss://"):
		p.warnf(n, "URL is not ws:// or wss://; the stream will fail") // the URL itself may hold a secret
	}
	return e, nil
}
