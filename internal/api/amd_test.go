package api

import (
	"reflect"
	"testing"
	"time"
)

func TestMakeCallMachineDetection(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name, body string
		text       string            // the 400's message, "" for 201
		want       *MachineDetection // when 201
	}{
		{"off by default", `{` + minimalCall + `}`, "", nil},
		{"false string", `{` + minimalCall + `,"machine_detection":"false","machine_detection_time":3000}`, "", nil},
		{"false JSON", `{` + minimalCall + `,"machine_detection":false}`, "", nil},
		{"empty is off", `{` + minimalCall + `,"machine_detection":""}`, "", nil},
		{"true JSON, defaults left to the detector", `{` + minimalCall + `,"machine_detection":true}`, "",
			&MachineDetection{Method: "POST"}},
		{"hangup any case, all companions (Go client number types)", `{` + minimalCall + `,"machine_detection":"HangUp","machine_detection_time":2500,
			"machine_detection_url":"https://a.test/amd","machine_detection_method":"get","machine_detection_maximum_speech_length":"1000",
			"machine_detection_initial_silence":10000,"machine_detection_maximum_words":2,"machine_detection_initial_greeting":5000,
			"machine_detection_answer_time":"whatever"}`, "",
			&MachineDetection{Hangup: true, URL: "https://a.test/amd", Method: "GET", Time: ms(2500), MaximumSpeechLength: ms(1000),
				InitialSilence: ms(10000), MaximumWords: 2, InitialGreeting: ms(5000)}},
		{"bad mode", `{` + minimalCall + `,"machine_detection":"yes"}`, "invalid value for parameter: machine_detection", nil},
		{"number mode", `{` + minimalCall + `,"machine_detection":1}`, "invalid value for parameter: machine_detection", nil},
		{"time low even when off", `{` + minimalCall + `,"machine_detection_time":1999}`, "invalid value for parameter: machine_detection_time", nil},
		{"time high", `{` + minimalCall + `,"machine_detection":"true","machine_detection_time":10001}`, "invalid value for parameter: machine_detection_time", nil},
		{"time not a number", `{` + minimalCall + `,"machine_detection":"true","machine_detection_time":"5s"}`, "invalid value for parameter: machine_detection_time", nil},
		{"url relative", `{` + minimalCall + `,"machine_detection":"true","machine_detection_url":"/amd"}`, "invalid value for parameter: machine_detection_url", nil},
		{"method", `{` + minimalCall + `,"machine_detection":"true","machine_detection_method":"PUT"}`, "invalid value for parameter: machine_detection_method", nil},
		{"speech length", `{` + minimalCall + `,"machine_detection_maximum_speech_length":6001}`, "invalid value for parameter: machine_detection_maximum_speech_length", nil},
		{"initial silence", `{` + minimalCall + `,"machine_detection_initial_silence":1999}`, "invalid value for parameter: machine_detection_initial_silence", nil},
		{"words", `{` + minimalCall + `,"machine_detection_maximum_words":11}`, "invalid value for parameter: machine_detection_maximum_words", nil},
		{"greeting", `{` + minimalCall + `,"machine_detection_initial_greeting":999}`, "invalid value for parameter: machine_detection_initial_greeting", nil},
		{"table order: mode before time", `{` + minimalCall + `,"machine_detection":"x","machine_detection_time":1}`, "invalid value for parameter: machine_detection", nil},
		{"table order: sip_headers before mode", `{` + minimalCall + `,"machine_detection":"x","sip_headers":"a"}`, "invalid value for parameter: sip_headers", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: base + "/Call/", body: tt.body})
			if tt.text != "" {
				if w.Code != 400 || errorText(t, w) != tt.text {
					t.Fatalf("%d %s, want 400 %q", w.Code, w.Body, tt.text)
				}
				return
			}
			if w.Code != 201 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if got := fx.calls.made[0].MachineDetection; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("machine detection\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
