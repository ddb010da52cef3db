package amd

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// seg is a stretch of synthetic audio: voice (a square wave well above the threshold) or
// silence (low noise below it).
type seg struct {
	voice bool
	ms    int
}

func v(ms int) seg { return seg{true, ms} }
func s(ms int) seg { return seg{false, ms} }

// repeat returns the segments n times over.
func repeat(n int, segs ...seg) []seg {
	var out []seg
	for range n {
		out = append(out, segs...)
	}
	return out
}

// frames renders segments as 20 ms frames. Voice has a mean absolute value of 1000, silence
// of 100 (the threshold is 256).
func frames(segs []seg) [][]int16 {
	var out [][]int16
	for _, sg := range segs {
		amp := int16(100)
		if sg.voice {
			amp = 1000
		}
		for range sg.ms / 20 {
			f := make([]int16, media.FrameSamples)
			for i := range f {
				if i%4 < 2 {
					f[i] = amp
				} else {
					f[i] = -amp
				}
			}
			out = append(out, f)
		}
	}
	return out
}

func TestDetectorRules(t *testing.T) {
	defaults := DefaultParams()
	with := func(change func(*Params)) Params {
		p := DefaultParams()
		change(&p)
		return p
	}
	cases := []struct {
		name   string
		params Params
		audio  []seg
		want   Result
		reason Reason
		at     int // ms
	}{
		{"silence only: initial silence", defaults, []seg{s(10000)}, Machine, ReasonInitialSilence, 4500},
		{"clicks shorter than a word are not voice", defaults, repeat(10, s(940), v(60)), Machine, ReasonInitialSilence, 4500},
		{"initial silence is configurable", with(func(p *Params) { p.InitialSilence = 2000 * time.Millisecond }), []seg{s(10000)}, Machine, ReasonInitialSilence, 2000},
		{"one long word: maximum speech length", with(func(p *Params) {
			p.MaximumSpeechLength = 1000 * time.Millisecond
			p.InitialGreeting = 2000 * time.Millisecond
		}),
			[]seg{s(500), v(3000)}, Machine, ReasonMaxWordLength, 1500},
		{"gaps under 50 ms stay inside the word", with(func(p *Params) {
			p.MaximumSpeechLength = 1000 * time.Millisecond
			p.InitialGreeting = 2000 * time.Millisecond
		}),
			append([]seg{s(500)}, repeat(10, v(200), s(40))...), Machine, ReasonMaxWordLength, 1500},
		{"three short words: maximum words", defaults, append([]seg{s(500)}, repeat(4, v(200), s(100))...), Machine, ReasonMaxWords, 1200},
		{"maximum words is configurable", with(func(p *Params) { p.MaximumWords = 2 }), append([]seg{s(500)}, repeat(4, v(200), s(100))...), Machine, ReasonMaxWords, 900},
		{"continuous greeting: long greeting", defaults, []seg{s(300), v(4000)}, Machine, ReasonLongGreeting, 1800},
		{"greeting with pauses under 800 ms", with(func(p *Params) { p.MaximumWords = 10 }),
			append([]seg{s(500)}, repeat(4, v(300), s(700))...), Machine, ReasonLongGreeting, 2520},
		{"short hello then silence: human", defaults, []seg{s(400), v(400), s(3000)}, Human, ReasonHuman, 1600},
		{"syllables with gaps under 50 ms add up to a word", defaults, append(append([]seg{s(500)}, repeat(3, v(60), s(20))...), s(3000)), Human, ReasonHuman, 1520},
		{"two words then silence: human", defaults, []seg{s(500), v(300), s(100), v(300), s(3000)}, Human, ReasonHuman, 2000},
		{"a hello longer than a pause is not a greeting", defaults, []seg{s(200), v(1000), s(3000)}, Human, ReasonHuman, 2000},
		{"time limit before initial silence: not sure", with(func(p *Params) { p.Time = 2000 * time.Millisecond }), []seg{s(10000)}, Human, ReasonNotSure, 2000},
		{"word then clicks until the time limit: not sure", with(func(p *Params) { p.Time = 2000 * time.Millisecond; p.InitialGreeting = 5000 * time.Millisecond }),
			append([]seg{s(500), v(300)}, repeat(10, s(340), v(60))...), Human, ReasonNotSure, 2000},
		{"threshold is configurable", with(func(p *Params) { p.SilenceThreshold = 2000 }), []seg{v(10000)}, Machine, ReasonInitialSilence, 4500},
		{"no frames long enough: undecided", defaults, []seg{s(400), v(400), s(600)}, Undecided, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.params)
			if err != nil {
				t.Fatal(err)
			}
			var got Verdict
			for _, f := range frames(tc.audio) {
				got = d.Feed(f)
			}
			want := Verdict{Result: tc.want, Reason: tc.reason, At: time.Duration(tc.at) * time.Millisecond}
			if got != want {
				t.Errorf("verdict %v %s at %v, want %v %s at %v", got.Result, got.Reason, got.At, want.Result, want.Reason, want.At)
			}
			if d.Verdict() != got {
				t.Errorf("Verdict() = %+v, Feed returned %+v", d.Verdict(), got)
			}
		})
	}
}

func TestVerdictIsFinal(t *testing.T) {
	d, err := New(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var first Verdict
	for _, f := range frames([]seg{s(400), v(400), s(800)}) {
		first = d.Feed(f)
	}
	if first.Result != Human {
		t.Fatalf("setup: got %+v, want human", first)
	}
	for _, f := range frames([]seg{v(6000)}) {
		if got := d.Feed(f); got != first {
			t.Fatalf("verdict changed after decision: %+v then %+v", first, got)
		}
	}
	if d.Words() != 1 {
		t.Errorf("words = %d, want 1 (frames after the decision are ignored)", d.Words())
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := []func(*Params){
		func(p *Params) { p.Time = 1999 * time.Millisecond },
		func(p *Params) { p.Time = 10001 * time.Millisecond },
		func(p *Params) { p.InitialSilence = time.Second },
		func(p *Params) { p.MaximumSpeechLength = 6001 * time.Millisecond },
		func(p *Params) { p.MaximumWords = 1 },
		func(p *Params) { p.MaximumWords = 11 },
		func(p *Params) { p.InitialGreeting = 999 * time.Millisecond },
		func(p *Params) { p.SilenceThreshold = 0 },
	}
	for i, change := range bad {
		p := DefaultParams()
		change(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("case %d: Validate = %v, want ErrInvalidParams", i, err)
		}
		if _, err := New(p); err == nil {
			t.Errorf("case %d: New accepted invalid params", i)
		}
	}
}

func BenchmarkFeed(b *testing.B) {
	audio := frames(repeat(50, v(300), s(60)))
	b.ReportAllocs()
	b.ResetTimer()
	var d *Detector
	for i := range b.N {
		if i%len(audio) == 0 {
			d, _ = New(DefaultParams())
			d.p.Time, d.p.InitialGreeting, d.p.MaximumWords = time.Hour, time.Hour, 1<<30
		}
		d.Feed(audio[i%len(audio)])
	}
}
