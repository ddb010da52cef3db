package stream

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// playAudioSeeds are the playAudio shapes bots send (Pipecat's serializers, the kit agent, the
// load agent) and near misses around every rule of the fast path.
var playAudioSeeds = []string{
	`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"AAECAwQF"}}`,
	`{"event": "playAudio", "media": {"contentType": "audio/x-l16", "sampleRate": 24000, "payload": "AAEC"}}`,
	`{"event":"playAudio","streamId":"b3e1c1f0-0000-4000-8000-000000000000","media":{"contentType":"audio/x-l16","sampleRate":"16000","payload":"AAECAw=="}}`,
	"{\n \"media\" : {\"payload\":\"AA==\",\"sampleRate\":\" 8000 \"},\r\n\t\"event\":\"playAudio\"}  ",
	`{"event":"playAudio","media":{"payload":""}}`,
	`{"event":"playAudio","media":{"payload":"AAE"}}`,                      // unpadded
	`{"event":"playAudio","media":{"payload":"A-_A"}}`,                     // URL alphabet
	`{"event":"playAudio","media":{"payload":"AA\u003d\u003d"}}`,           // escapes
	`{"event":"playAudio","media":{"payload":"a*b"}}`,                      // bad base64
	`{"event":"playAudio","media":{"sampleRate":8000.0,"payload":"AA=="}}`, // float rate
	`{"event":"playAudio","media":{"sampleRate":08000,"payload":"AA=="}}`,  // not JSON
	`{"event":"playAudio","media":{"sampleRate":0,"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"sampleRate":-8000,"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"sampleRate":"fast","payload":"AA=="}}`,
	`{"event":"playAudio","media":{"sampleRate":null,"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"sampleRate":1e4,"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"sampleRate":9999999999,"payload":"AA=="}}`,
	`{"event":"playAudio","media":null}`,
	`{"event":"playAudio","media":{}}`,
	`{"event":"playAudio"}`,
	`{"event":"PlayAudio","media":{"payload":"AA=="}}`,
	`{"Event":"playAudio","media":{"payload":"AA=="}}`,
	`{"event":"playAudio","event":"stop","media":{"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"payload":"AA==","payload":"AQ=="}}`,
	`{"event":"playAudio","media":{"payload":"AA=="},"media":{"payload":"AQ=="}}`,
	`{"event":"playAudio","streamId":7,"media":{"payload":"AA=="}}`,
	`{"event":"playAudio","streamId":"é","media":{"payload":"AA=="}}`,
	`{"event":"playAudio","media":{"payload":"AA=="},"extra":1}`,
	`{"event":"playAudio","media":{"payload":"AA==",}}`,
	`{"event":"playAudio","media":{"payload":"AA=="}}x`,
	`{"event":"playAudio","media":{"payload":"AA=="}`,
	`{"event":"playAudio",,"media":{"payload":"AA=="}}`,
	`{"event":"checkpoint","name":"x"}`,
	`[{"event":"playAudio","media":{"payload":"AA=="}}]`,
	``,
}

// FuzzParsePlayAudio checks the fast path against encoding/json: whenever parsePlayAudio
// takes a message, parseAppMessage must accept it too and read the same fields.
func FuzzParsePlayAudio(f *testing.F) {
	for _, s := range playAudioSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fast, _, ok := parsePlayAudio([]byte(in), nil)
		if !ok {
			return
		}
		slow, err := parseAppMessage([]byte(in))
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json refused it: %v", in, err)
		}
		if fast.Event != slow.Event || fast.StreamID != slow.StreamID || fast.Name != slow.Name ||
			fast.ContentType != slow.ContentType || fast.SampleRate != slow.SampleRate ||
			fast.Digits != slow.Digits || !bytes.Equal(fast.Payload, slow.Payload) {
			t.Fatalf("%q: fast path read %+v, encoding/json %+v", in, fast, slow)
		}
	})
}

// TestParsePlayAudioTakesTheUsualShapes makes sure the fast path is used for what bots really
// send (it would be correct but pointless if it fell back every time), and that it falls back
// on shapes it must leave to encoding/json.
func TestParsePlayAudioTakesTheUsualShapes(t *testing.T) {
	audio := make([]byte, 320)
	for i := range audio {
		audio[i] = byte(i * 7)
	}
	p := base64.StdEncoding.EncodeToString(audio)
	for _, in := range []string{
		`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"` + p + `"}}`, // Pipecat (Plivo/Vobiz serializer, compact)
		`{"event": "playAudio", "media": {"contentType": "audio/x-l16", "sampleRate": 24000, "payload": "` + p + `"}}`,
		`{"event":"playAudio","streamId":"s-1","media":{"contentType":"audio/x-l16","sampleRate":"16000","payload":"` + p + `"}}`,
	} {
		m, buf, ok := parsePlayAudio([]byte(in), nil)
		if !ok {
			t.Errorf("fast path refused %.80q", in)
			continue
		}
		if !bytes.Equal(m.Payload, audio) || m.Event != appPlayAudio {
			t.Errorf("%.80q: read %+v", in, m)
		}
		// The payload buffer is reused by the next message.
		m2, _, ok := parsePlayAudio([]byte(in), buf)
		if !ok || &m2.Payload[0] != &buf[0] {
			t.Errorf("%.80q: the second parse did not reuse the payload buffer", in)
		}
	}
	for _, in := range []string{
		`{"event":"playAudio","media":{"payload":"AAE"}}`,
		`{"event":"PLAYAUDIO","media":{"payload":"AA=="}}`,
		`{"event":"playAudio","streamId":12,"media":{"payload":"AA=="}}`,
		`{"event":"playAudio","media":{"payload":"AA\u003d\u003d"}}`,
		`{"event":"playAudio","media":{"sampleRate":8000.0,"payload":"AA=="}}`,
		`{"event":"checkpoint","name":"x"}`,
	} {
		if _, _, ok := parsePlayAudio([]byte(in), nil); ok {
			t.Errorf("fast path took %q, which is encoding/json's to read", in)
		}
	}
}

// BenchmarkParsePlayAudio compares the fast path with encoding/json on a 40 ms μ-law
// playAudio, Pipecat's chunk.
func BenchmarkParsePlayAudio(b *testing.B) {
	msg := []byte(`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"` +
		base64.StdEncoding.EncodeToString(make([]byte, 320)) + `"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var ok bool
			if _, buf, ok = parsePlayAudio(msg, buf); !ok {
				b.Fatal("fast path refused the message")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseAppMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
