package api

import (
	"net/http"
	"strings"
	"time"
)

// MachineDetection is answering-machine detection on a POST /Call/ (calls-more.md §D.1). Zero
// durations and counts mean the detector's defaults.
type MachineDetection struct {
	// Hangup: machine_detection=hangup, hang up with cause 9100 when a machine answers.
	Hangup bool
	// URL, when set, makes detection asynchronous (§D.4), notified with Method.
	URL    string
	Method string
	// The companions, in their units (ms; a count for MaximumWords).
	Time                time.Duration
	MaximumSpeechLength time.Duration
	InitialSilence      time.Duration
	MaximumWords        int
	InitialGreeting     time.Duration
}

// machineDetection binds the parameters of §D.1 in table order. The companions are checked
// also when detection is off; the result is nil when it is off.
func (b *binder) machineDetection() *MachineDetection {
	md := &MachineDetection{}
	on := false
	if v, ok := b.get("machine_detection", false); ok {
		switch t := strings.ToLower(v.text); {
		case (v.kind == kindText || v.kind == kindBool) && t == "true":
			on = true
		case v.kind == kindText && t == "hangup":
			on, md.Hangup = true, true
		case (v.kind == kindText || v.kind == kindBool) && t == "false":
		default:
			b.invalid("machine_detection")
		}
	}
	ms := func(name string, lo, hi int64) time.Duration {
		n, _ := b.Int(name, false, lo, hi)
		return time.Duration(n) * time.Millisecond
	}
	md.Time = ms("machine_detection_time", 2000, 10000)
	md.URL, _ = b.URL("machine_detection_url", false)
	md.Method = b.Method("machine_detection_method")
	md.MaximumSpeechLength = ms("machine_detection_maximum_speech_length", 1000, 6000)
	md.InitialSilence = ms("machine_detection_initial_silence", 2000, 10000)
	words, _ := b.Int("machine_detection_maximum_words", false, 2, 10)
	md.MaximumWords = int(words)
	md.InitialGreeting = ms("machine_detection_initial_greeting", 1000, 5000)
	// machine_detection_answer_time: accepted and ignored, no source documents it.
	if !on {
		return nil
	}
	if md.Method == "" {
		md.Method = http.MethodPost
	}
	return md
}
