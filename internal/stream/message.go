package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-voice/parley/internal/streamspec"
)

// msgWriter builds the messages Parley sends on one socket (§3), numbering them: `start` is
// sequenceNumber 0 and every later message takes the next number. The media message is built
// by hand into a reused buffer: it is the per-frame hot path.
type msgWriter struct {
	seq      int
	streamID []byte // JSON string, quoted
	extra    []byte // extra_headers as a JSON string, quoted
	buf      []byte
	payload  []byte
}

func newMsgWriter(streamID string, extraHeaders []Header) *msgWriter {
	id, _ := json.Marshal(streamID)
	ex, _ := json.Marshal(extraHeadersJSON(extraHeaders))
	return &msgWriter{streamID: id, extra: ex}
}

// startMessage is the `start` of §3.1, fields in the documented order.
type startMessage struct {
	SequenceNumber int         `json:"sequenceNumber"`
	Event          string      `json:"event"`
	Start          startFields `json:"start"`
	ExtraHeaders   string      `json:"extra_headers"`
	StreamID       string      `json:"streamId"`
}

type startFields struct {
	CallID      string      `json:"callId"`
	StreamID    string      `json:"streamId"`
	AccountID   string      `json:"accountId"`
	Tracks      []string    `json:"tracks"`
	MediaFormat mediaFormat `json:"mediaFormat"`
}

type mediaFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sampleRate"`
}

// start returns the first message of the socket.
func (w *msgWriter) start(callID, accountID, streamID string, trk []string, f Format, extraHeaders []Header) []byte {
	b, _ := json.Marshal(startMessage{
		SequenceNumber: 0,
		Event:          "start",
		Start: startFields{
			CallID: callID, StreamID: streamID, AccountID: accountID, Tracks: trk,
			MediaFormat: mediaFormat{Encoding: f.Encoding, SampleRate: f.SampleRate},
		},
		ExtraHeaders: extraHeadersJSON(extraHeaders),
		StreamID:     streamID,
	})
	w.seq = 1
	return b
}

func (w *msgWriter) head(event string) []byte {
	b := append(w.buf[:0], `{"sequenceNumber":`...)
	b = strconv.AppendInt(b, int64(w.seq), 10)
	w.seq++
	b = append(b, `,"event":"`...)
	b = append(b, event...)
	b = append(b, `","streamId":`...)
	return append(b, w.streamID...)
}

// media returns a `media` message (§3.2) for an encoded 20 ms payload. The result is valid
// until the next call.
func (w *msgWriter) media(track string, tsMillis int64, chunk int, payload []byte) []byte {
	b := w.head("media")
	b = append(b, `,"media":{"track":"`...)
	b = append(b, track...)
	b = append(b, `","timestamp":"`...)
	b = strconv.AppendInt(b, tsMillis, 10)
	b = append(b, `","chunk":`...)
	b = strconv.AppendInt(b, int64(chunk), 10)
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, payload)
	b = append(b, `"},"extra_headers":`...)
	b = append(b, w.extra...)
	b = append(b, '}')
	w.buf = b
	return b
}

// played returns a `playedStream` (§3.3).
func (w *msgWriter) played(name string) []byte {
	b := w.head("playedStream")
	n, _ := json.Marshal(name)
	b = append(b, `,"name":`...)
	b = append(b, n...)
	b = append(b, '}')
	w.buf = b
	return b
}

// cleared returns a `clearedAudio` (§3.4).
func (w *msgWriter) cleared() []byte {
	b := append(w.head("clearedAudio"), '}')
	w.buf = b
	return b
}

// dtmf returns a `dtmf` event (§3.5) for one caller key.
func (w *msgWriter) dtmf(digit byte, tsMillis int64) []byte {
	b := w.head("dtmf")
	b = append(b, `,"dtmf":{"track":"inbound","digit":"`...)
	b = append(b, digit)
	b = append(b, `","timestamp":"`...)
	b = strconv.AppendInt(b, tsMillis, 10)
	b = append(b, `"},"extra_headers":`...)
	b = append(b, w.extra...)
	b = append(b, '}')
	w.buf = b
	return b
}

// Events the app may send (§4), in canonical spelling.
const (
	appPlayAudio  = "playAudio"
	appCheckpoint = "checkpoint"
	appClearAudio = "clearAudio"
	appStop       = "stop"
	appSendDTMF   = "sendDTMF"
)

// appMessage is one message from the app, read leniently.
type appMessage struct {
	// Event is the canonical event name when known, else as sent.
	Event string
	// StreamID is the message's streamId, "" when absent.
	StreamID string
	// Name is a checkpoint's name ("" when absent).
	Name string
	// ContentType and SampleRate describe playAudio's payload; "" and 0 when absent.
	ContentType string
	SampleRate  int
	// Payload is playAudio's decoded audio.
	Payload []byte
	// Digits are sendDTMF's valid digits.
	Digits string
}

// errNoEvent is returned for a JSON object without an event.
var errNoEvent = errors.New(`message has no "event"`)

type rawAppMessage struct {
	Event    string          `json:"event"`
	StreamID json.RawMessage `json:"streamId"`
	Name     json.RawMessage `json:"name"`
	Media    *struct {
		ContentType string          `json:"contentType"`
		SampleRate  json.RawMessage `json:"sampleRate"`
		Payload     string          `json:"payload"`
	} `json:"media"`
	DTMF   json.RawMessage `json:"dtmf"`
	Digits json.RawMessage `json:"digits"`
}

// parseAppMessage reads a message from the app. It accepts a sampleRate given as a number or
// a numeric string, a streamId of any JSON type, a missing streamId, and the three sendDTMF
// shapes of §4.5; the error says what made the message unusable.
func parseAppMessage(data []byte) (appMessage, error) {
	var raw rawAppMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return appMessage{}, fmt.Errorf("bad JSON: %w", err)
	}
	if raw.Event == "" {
		return appMessage{}, errNoEvent
	}
	m := appMessage{Event: raw.Event, StreamID: jsonText(raw.StreamID), Name: jsonText(raw.Name)}
	for _, e := range []string{appPlayAudio, appCheckpoint, appClearAudio, appStop, appSendDTMF} {
		if strings.EqualFold(raw.Event, e) {
			m.Event = e
		}
	}
	switch m.Event {
	case appPlayAudio:
		if raw.Media == nil {
			return m, errors.New(`playAudio without "media"`)
		}
		m.ContentType = raw.Media.ContentType
		if len(raw.Media.SampleRate) > 0 && string(raw.Media.SampleRate) != "null" {
			r, ok := parseRate(jsonText(raw.Media.SampleRate))
			if !ok {
				return m, fmt.Errorf("playAudio sampleRate %s is not a sample rate", clip(string(raw.Media.SampleRate)))
			}
			m.SampleRate = r
		}
		p, err := decodeBase64(raw.Media.Payload)
		if err != nil {
			return m, fmt.Errorf("playAudio payload: %w", err)
		}
		m.Payload = p
	case appSendDTMF:
		m.Digits = dtmfDigits(jsonText(raw.DTMF) + jsonText(raw.Digits) + digitField(raw.DTMF))
	}
	return m, nil
}

// jsonText returns a JSON string's value, or the raw text of any other JSON value ("" for
// absent or null).
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}

// digitField reads {"digit":"1"} or {"digits":"12"}.
func digitField(raw json.RawMessage) string {
	var o struct {
		Digit  json.RawMessage `json:"digit"`
		Digits json.RawMessage `json:"digits"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		return ""
	}
	return jsonText(o.Digit) + jsonText(o.Digits)
}

// dtmfDigits keeps the DTMF characters of s ([0-9A-D*#], a-d upper-cased).
func dtmfDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'd' {
			r -= 'a' - 'A'
		}
		if strings.ContainsRune("0123456789ABCD*#", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseRate reads a positive sample rate written as an integer or a whole float.
func parseRate(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, n > 0 && n <= streamspec.MaxPlayRate
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int(f)) || f <= 0 || f > streamspec.MaxPlayRate {
		return 0, false
	}
	return int(f), true
}

// decodeBase64 accepts standard base64 with or without padding, and the URL alphabet.
func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if strings.ContainsAny(s, " \r\n\t") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\r' || r == '\n' || r == '\t' {
				return -1
			}
			return r
		}, s)
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
		s = strings.TrimRight(s, "=")
	}
	return enc.DecodeString(s)
}

// clip shortens s for log messages.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// isJSONObject reports whether b looks like a JSON object (for binary frames, §2.2).
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// parsePlayAudio reads the usual shape of a playAudio message without encoding/json, which
// is the app side's per-message hot path: an object with "event":"playAudio", an optional
// string "streamId" and a "media" object of "contentType", "sampleRate" (a plain positive
// integer or a string) and "payload" (padded standard base64), each key once, in any order,
// with any JSON whitespace; strings of printable ASCII without escapes. The payload is
// decoded into buf, which the result's Payload then shares. For anything else, ok is false
// and the caller uses parseAppMessage, whose result this one equals whenever ok is true
// (FuzzParsePlayAudio checks that).
func parsePlayAudio(data, buf []byte) (m appMessage, out []byte, ok bool) {
	p := jsonScanner{b: data}
	var payload []byte
	var seen uint8
	const (
		seenEvent uint8 = 1 << iota
		seenStreamID
		seenMedia
	)
	if !p.object(func(key []byte) bool {
		switch string(key) {
		case "event":
			v, ok := p.str()
			if !ok || string(v) != appPlayAudio || seen&seenEvent != 0 {
				return false
			}
			seen |= seenEvent
			m.Event = appPlayAudio
		case "streamId":
			v, ok := p.str()
			if !ok || seen&seenStreamID != 0 {
				return false
			}
			seen |= seenStreamID
			m.StreamID = string(v)
		case "media":
			if seen&seenMedia != 0 {
				return false
			}
			seen |= seenMedia
			var mseen uint8
			return p.object(func(key []byte) bool {
				var bit uint8
				switch string(key) {
				case "contentType":
					bit = 1
					v, ok := p.str()
					if !ok {
						return false
					}
					m.ContentType = string(v)
				case "sampleRate":
					bit = 2
					var v []byte
					var ok bool
					if p.peek('"') {
						v, ok = p.str()
					} else {
						v, ok = p.positiveInt()
					}
					if !ok {
						return false
					}
					if m.SampleRate, ok = parseRate(string(v)); !ok {
						return false
					}
				case "payload":
					bit = 4
					if payload, ok = p.str(); !ok {
						return false
					}
				default:
					return false
				}
				if mseen&bit != 0 {
					return false
				}
				mseen |= bit
				return true
			}) && mseen&4 != 0
		default:
			return false
		}
		return true
	}) || !p.end() || seen&(seenEvent|seenMedia) != seenEvent|seenMedia {
		return appMessage{}, buf, false
	}
	if len(payload) > 0 {
		n := base64.StdEncoding.DecodedLen(len(payload))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(buf[:n], payload)
		if err != nil {
			return appMessage{}, buf, false
		}
		m.Payload = buf[:n]
	}
	return m, buf, true
}

// jsonScanner reads the small subset of JSON that parsePlayAudio accepts; every method
// reports false for anything outside it.
type jsonScanner struct {
	b []byte
	i int
}

func (p *jsonScanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScanner) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// peek reports whether c comes next, after whitespace.
func (p *jsonScanner) peek(c byte) bool {
	p.ws()
	return p.i < len(p.b) && p.b[p.i] == c
}

// object reads {"key": value, ...}, calling member with the scanner at each value; member
// must read the value and report whether it could.
func (p *jsonScanner) object(member func(key []byte) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.eat(':') || !member(key) {
			return false
		}
		if p.eat('}') {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

// str reads a string of printable ASCII without escapes and returns its content.
func (p *jsonScanner) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// positiveInt reads an integer without sign, fraction or exponent that does not start with 0.
func (p *jsonScanner) positiveInt() ([]byte, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == start || p.b[start] == '0' || p.i-start > 9 {
		return nil, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return nil, false
		}
	}
	return p.b[start:p.i], true
}

// end reports whether only whitespace is left.
func (p *jsonScanner) end() bool {
	p.ws()
	return p.i == len(p.b)
}
