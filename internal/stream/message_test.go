package stream

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parley-voice/parley/internal/streamspec"
)

func TestParseAppMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     appMessage
		err      bool
	}{
		{"playAudio full", `{"event":"playAudio","streamId":"s1","media":{"contentType":"audio/x-l16","sampleRate":16000,"payload":"AAEC"}}`,
			appMessage{Event: appPlayAudio, StreamID: "s1", ContentType: "audio/x-l16", SampleRate: 16000, Payload: []byte{0, 1, 2}}, false},
		{"sample rate as string, no streamId", `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":"8000","payload":"AAEC"}}`,
			appMessage{Event: appPlayAudio, ContentType: "audio/x-mulaw", SampleRate: 8000, Payload: []byte{0, 1, 2}}, false},
		{"sample rate float", `{"event":"playAudio","media":{"sampleRate":24000.0,"payload":""}}`,
			appMessage{Event: appPlayAudio, SampleRate: 24000}, false},
		{"payload only, unpadded", `{"event":"playAudio","media":{"payload":"AAE"}}`,
			appMessage{Event: appPlayAudio, Payload: []byte{0, 1}}, false},
		{"event case", `{"event":"PLAYAUDIO","media":{"payload":"AA=="}}`, appMessage{Event: appPlayAudio, Payload: []byte{0}}, false},
		{"bad sample rate", `{"event":"playAudio","media":{"sampleRate":"fast","payload":""}}`, appMessage{}, true},
		{"negative sample rate", `{"event":"playAudio","media":{"sampleRate":-8000,"payload":""}}`, appMessage{}, true},
		{"bad base64", `{"event":"playAudio","media":{"payload":"a*b"}}`, appMessage{}, true},
		{"no media", `{"event":"playAudio"}`, appMessage{}, true},
		{"checkpoint", `{"event":"checkpoint","streamId":"s","name":"response-3"}`, appMessage{Event: appCheckpoint, StreamID: "s", Name: "response-3"}, false},
		{"checkpoint numeric name", `{"event":"checkpoint","name":7}`, appMessage{Event: appCheckpoint, Name: "7"}, false},
		{"numeric streamId", `{"event":"clearAudio","streamId":12}`, appMessage{Event: appClearAudio, StreamID: "12"}, false},
		{"stop with reason", `{"event":"stop","reason":"bye"}`, appMessage{Event: appStop}, false},
		{"sendDTMF string", `{"event":"sendDTMF","dtmf":"12#x"}`, appMessage{Event: appSendDTMF, Digits: "12#"}, false},
		{"sendDTMF object", `{"event":"sendDTMF","dtmf":{"digit":"d"}}`, appMessage{Event: appSendDTMF, Digits: "D"}, false},
		{"sendDTMF digits", `{"event":"sendDTMF","digits":"*0"}`, appMessage{Event: appSendDTMF, Digits: "*0"}, false},
		{"unknown event", `{"event":"mark","mark":{"name":"x"}}`, appMessage{Event: "mark"}, false},
		{"no event", `{"streamId":"x"}`, appMessage{}, true},
		{"event not a string", `{"event":5}`, appMessage{}, true},
		{"not JSON", `hello`, appMessage{}, true},
		{"array", `[]`, appMessage{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseAppMessage([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if tc.err {
				return
			}
			if m.Event != tc.want.Event || m.StreamID != tc.want.StreamID || m.Name != tc.want.Name ||
				m.ContentType != tc.want.ContentType || m.SampleRate != tc.want.SampleRate ||
				!bytes.Equal(m.Payload, tc.want.Payload) || m.Digits != tc.want.Digits {
				t.Errorf("got %+v, want %+v", m, tc.want)
			}
		})
	}
}

func TestOutgoingMessagesAreJSON(t *testing.T) {
	w := newMsgWriter(`id"with\quotes`, []Header{{Name: "a", Value: "b"}})
	_ = w.start("c", "acc", "id", []string{"inbound"}, DefaultFormat, nil)
	var msgs [][]byte // each result is valid until the next call: keep copies
	msgs = append(msgs, bytes.Clone(w.media(TrackInbound, 1, 1, []byte{1, 2, 3})))
	msgs = append(msgs, bytes.Clone(w.played("na\"me\n")))
	msgs = append(msgs, bytes.Clone(w.cleared()))
	msgs = append(msgs, bytes.Clone(w.dtmf('#', 5)))
	for _, b := range msgs {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if m["streamId"] != `id"with\quotes` || m["event"] == nil {
			t.Errorf("%s", b)
		}
	}
	if w.seq != 5 {
		t.Errorf("sequence %d after start and four messages", w.seq)
	}
}

// FuzzParseAppMessage checks that no input makes the parser panic and that a message it
// accepts has an event, and a sendDTMF only valid digits.
func FuzzParseAppMessage(f *testing.F) {
	for _, s := range []string{
		`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"//8="}}`,
		`{"event":"playAudio","media":{"sampleRate":"16000","payload":"AAEC"}}`,
		`{"event":"checkpoint","name":"x"}`, `{"event":"clearAudio"}`, `{"event":"stop"}`,
		`{"event":"sendDTMF","dtmf":{"digit":"1"}}`, `{"event":"sendDTMF","digits":"12#"}`,
		`{}`, `null`, `{"event":null}`, `{"event":"playAudio","media":{"sampleRate":1e99}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseAppMessage(data)
		if err != nil {
			return
		}
		if m.Event == "" {
			t.Fatal("accepted without an event")
		}
		if m.Digits != dtmfDigits(m.Digits) {
			t.Fatalf("digits %q", m.Digits)
		}
		if m.SampleRate < 0 || m.SampleRate > streamspec.MaxPlayRate {
			t.Fatalf("rate %d", m.SampleRate)
		}
		d := newPlayDecoder(DefaultFormat, ByteOrderAuto)
		out, _ := d.decode(nil, m)
		_ = d.flush(out)
	})
}
