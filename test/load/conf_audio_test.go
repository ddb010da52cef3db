//go:build load

package load

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/test/kit"
)

// The conference sound check. Every member of a room sends a steady sine at its own whole-number
// frequency, all at one known level. In a window of exactly one second (8000 samples) sines of
// whole-number frequencies are orthogonal, so the received window can be fitted exactly: the
// amplitude and phase of each expected tone come from one DFT bin each, and what the fit does not
// explain (the residual) is G.711 quantisation noise plus any damage. A missing 20 ms frame of
// one member, a lost or repeated output packet, a phase jump or clipping all leave that member's
// tone (or all of them) in the residual of the frames concerned, far above the quantisation
// noise; the check therefore looks at the residual frame by frame, not only over the second.

// windowSamples is one analysis window: one second, so whole-number frequencies fit exactly.
const windowSamples = media.SampleRate

// glitchDB is the frame residual, relative to the power of one member's tone, above which a
// frame counts as damaged: a quarter of one voice. Clean G.711 mixes of up to 100 tones stay
// below -9 dB (see TestAnalyseWindow).
const glitchDB = -6.0

// levelTolDB is how far a received tone may be from the level it was sent at.
const levelTolDB = 3.0

// ownMaxDB is the most a member's own tone may reach in what it hears, relative to the others.
const ownMaxDB = -20.0

// trig holds cos and sin of 2πk/8000 for k < 8000: with whole-number frequencies the phase of
// sample n at f Hz is table entry f·n mod 8000.
var trig = sync.OnceValue(func() (t struct{ cos, sin [windowSamples]float64 }) {
	for k := range windowSamples {
		t.cos[k] = math.Cos(2 * math.Pi * float64(k) / windowSamples)
		t.sin[k] = math.Sin(2 * math.Pi * float64(k) / windowSamples)
	}
	return t
})

// windowResult is the sound check of one second heard by one member.
type windowResult struct {
	MinDev, MaxDev float64 // dB: lowest and highest level of the expected tones minus the sent level
	OwnDB          float64 // dB: the member's own tone relative to the sent level
	SINAD          float64 // dB: power of the fitted tones over the residual
	WorstFrameDB   float64 // dB: the worst 20 ms frame's residual relative to one tone's power
	GlitchFrames   int     // frames whose residual is above glitchDB
}

// clean reports whether the window passes every part of the check.
func (w windowResult) clean() bool {
	return w.MinDev >= -levelTolDB && w.MaxDev <= levelTolDB && w.OwnDB <= ownMaxDB && w.GlitchFrames == 0
}

// analyseWindow fits the tones others (what the member should hear) and own (what it must not
// hear) to x, windowSamples long, every tone sent at a peak level of levelDBFS.
func analyseWindow(x []int16, others []int, own int, levelDBFS float64) windowResult {
	tb := trig()
	n := len(x)
	model := make([]float64, n)
	res := windowResult{MinDev: math.Inf(1), MaxDev: math.Inf(-1)}
	sent := 32767 * math.Pow(10, levelDBFS/20)
	fit := func(f int) float64 {
		var c, s float64
		k := 0
		for _, v := range x {
			c += float64(v) * tb.cos[k]
			s += float64(v) * tb.sin[k]
			k += f
			if k >= windowSamples {
				k -= windowSamples
			}
		}
		c, s = 2*c/float64(n), 2*s/float64(n)
		k = 0
		for i := range model {
			model[i] += c*tb.cos[k] + s*tb.sin[k]
			k += f
			if k >= windowSamples {
				k -= windowSamples
			}
		}
		return dB(math.Hypot(c, s) / sent)
	}
	for _, f := range others {
		d := fit(f)
		res.MinDev = min(res.MinDev, d)
		res.MaxDev = max(res.MaxDev, d)
	}
	res.OwnDB = fit(own)
	var sig, noise float64
	onePower := sent * sent / 2
	res.WorstFrameDB = math.Inf(-1)
	for start := 0; start+media.FrameSamples <= n; start += media.FrameSamples {
		var fr float64
		for i := start; i < start+media.FrameSamples; i++ {
			r := float64(x[i]) - model[i]
			fr += r * r
			sig += model[i] * model[i]
		}
		noise += fr
		rel := 10 * math.Log10(max(fr/media.FrameSamples, 1e-9)/onePower)
		res.WorstFrameDB = max(res.WorstFrameDB, rel)
		if rel > glitchDB {
			res.GlitchFrames++
		}
	}
	res.SINAD = 10 * math.Log10(max(sig, 1e-9)/max(noise, 1e-9))
	return res
}

// dB converts an amplitude ratio to decibels, -120 for zero.
func dB(ratio float64) float64 {
	if ratio <= 0 {
		return -120
	}
	return max(20*math.Log10(ratio), -120)
}

// roomTones returns the frequency of each of m members (whole Hz, 300 Hz up, evenly spread
// below 3.2 kHz) and a level at which m-1 of them summed cannot clip.
func roomTones(m int) (freqs []int, levelDBFS float64) {
	step := max(1, min(100, 2900/max(m, 1)))
	for i := range m {
		freqs = append(freqs, 300+i*step)
	}
	levelDBFS = min(-12, 20*math.Log10(0.8/float64(max(m-1, 1))))
	return freqs, levelDBFS
}

// memberAudio is the sound check of everything one member heard in the measured window.
type memberAudio struct {
	Packets      int     // audio packets that arrived in the window
	Rate         float64 // packets per second
	SeqGaps      int     // missing RTP sequence numbers (lost on the way to the client)
	Windows      int     // whole seconds analysed
	Clean        int     // windows that passed
	GlitchFrames int
	MinSINAD     float64
	WorstDev     float64 // dB, the largest |level - sent level| of an expected tone
	WorstOwn     float64 // dB
	Damaged      []span  // arrival times of the windows that were not clean
}

// span is a time interval.
type span struct{ From, To time.Time }

// analyseMember checks the frames a member received between from and to.
func analyseMember(frames []kit.Frame, from, to time.Time, others []int, own int, level float64) memberAudio {
	a := memberAudio{MinSINAD: math.Inf(1), WorstOwn: math.Inf(-1)}
	var in []kit.Frame
	for _, f := range frames {
		if !f.At.Before(from) && f.At.Before(to) {
			in = append(in, f)
		}
	}
	a.Packets = len(in)
	a.Rate = float64(len(in)) / to.Sub(from).Seconds()
	for i := 1; i < len(in); i++ {
		if d := in[i].Seq - in[i-1].Seq; d != 1 {
			if d > 1 && d < 1000 {
				a.SeqGaps += int(d - 1)
			} else {
				a.SeqGaps++ // reordered or duplicated
			}
		}
	}
	per := windowSamples / media.FrameSamples
	buf := make([]int16, 0, windowSamples)
	for w := 0; (w+1)*per <= len(in); w++ {
		buf = buf[:0]
		contiguous := true
		for i, f := range in[w*per : (w+1)*per] {
			if i > 0 && f.Seq != in[w*per+i-1].Seq+1 || len(f.PCM) != media.FrameSamples {
				contiguous = false
			}
			buf = append(buf, f.PCM...)
		}
		a.Windows++
		win := span{in[w*per].At, in[(w+1)*per-1].At}
		if len(buf) != windowSamples {
			a.Damaged = append(a.Damaged, win)
			continue
		}
		r := analyseWindow(buf, others, own, level)
		a.GlitchFrames += r.GlitchFrames
		a.MinSINAD = min(a.MinSINAD, r.SINAD)
		a.WorstDev = max(a.WorstDev, math.Abs(r.MinDev), math.Abs(r.MaxDev))
		a.WorstOwn = max(a.WorstOwn, r.OwnDB)
		if contiguous && r.clean() {
			a.Clean++
		} else {
			a.Damaged = append(a.Damaged, win)
		}
	}
	return a
}

// mixFor simulates what one member hears: the others' tones, each through G.711 on the way in,
// summed, and through G.711 on the way out, as Parley's mixer does.
func mixFor(freqs []int, me int, level float64, samples int, damage func(member, frame int, pcm []int16)) []int16 {
	acc := make([]int32, samples)
	frame := make([]int16, media.FrameSamples)
	enc := make([]byte, media.FrameSamples)
	for i, f := range freqs {
		if i == me {
			continue
		}
		src := media.Tone(float64(f), time.Minute, level)
		for start := 0; start < samples; start += media.FrameSamples {
			_ = src.ReadFrame(frame)
			media.PCMU.Encode(enc, frame)
			media.PCMU.Decode(frame, enc)
			if damage != nil {
				damage(i, start/media.FrameSamples, frame)
			}
			for k, v := range frame {
				acc[start+k] += int32(v)
			}
		}
	}
	out := make([]int16, samples)
	for start := 0; start < samples; start += media.FrameSamples {
		for k := range frame {
			frame[k] = int16(max(min(acc[start+k], math.MaxInt16), math.MinInt16))
		}
		media.PCMU.Encode(enc, frame)
		media.PCMU.Decode(out[start:start+media.FrameSamples], enc)
	}
	return out
}

// TestAnalyseWindow checks that the sound check passes clean mixes and catches each kind of
// damage it is meant to catch. It needs no server.
func TestAnalyseWindow(t *testing.T) {
	// Skip the tones' 2 ms fade-in: analyse the second second.
	second := func(pcm []int16) []int16 { return pcm[windowSamples : 2*windowSamples] }
	for _, tc := range []struct {
		name    string
		members int
		damage  func(member, frame int, pcm []int16)
		out     func([]int16) // damage to what the member hears
		clean   bool
	}{
		{name: "3 clean", members: 3, clean: true},
		{name: "30 clean", members: 30, clean: true},
		{name: "100 clean", members: 100, clean: true},
		{name: "30, one member's frame missing", members: 30, damage: func(m, f int, pcm []int16) {
			if m == 7 && f == 50+20 {
				clear(pcm)
			}
		}},
		{name: "100, one member's frame missing", members: 100, damage: func(m, f int, pcm []int16) {
			if m == 42 && f == 50+33 {
				clear(pcm)
			}
		}},
		{name: "30, an output frame silent", members: 30, out: func(p []int16) { clear(p[5*160 : 6*160]) }},
		{name: "30, an output frame repeated", members: 30, out: func(p []int16) { copy(p[9*160:10*160], p[8*160:9*160]) }},
		{name: "30, own voice heard", members: 30, out: func(p []int16) {
			freqs, level := roomTones(30)
			src := media.Tone(float64(freqs[0]), 2*time.Second, level-10)
			buf := make([]int16, len(p))
			for i := 0; i < len(p); i += media.FrameSamples {
				_ = src.ReadFrame(buf[i : i+media.FrameSamples])
			}
			for i := range p {
				p[i] += buf[i]
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			freqs, level := roomTones(tc.members)
			pcm := second(mixFor(freqs, 0, level, 2*windowSamples, tc.damage))
			if tc.out != nil {
				tc.out(pcm)
			}
			r := analyseWindow(pcm, freqs[1:], freqs[0], level)
			t.Logf("%+v", r)
			if r.clean() != tc.clean {
				t.Errorf("clean = %v, want %v (%+v)", r.clean(), tc.clean, r)
			}
			if tc.clean && (r.WorstFrameDB > glitchDB-3 || r.SINAD < 20) {
				t.Errorf("clean mix too close to the glitch threshold: %+v", r)
			}
		})
	}
}

// TestAnalyseMemberSeq checks the packet accounting: rate, sequence gaps, whole windows.
func TestAnalyseMemberSeq(t *testing.T) {
	freqs, level := roomTones(3)
	pcm := mixFor(freqs, 0, level, 4*windowSamples, nil)
	t0 := time.Unix(1000, 0)
	var frames []kit.Frame
	for i := 0; i*media.FrameSamples < len(pcm); i++ {
		if i == 130 { // lost on the way: the third window is not contiguous
			continue
		}
		frames = append(frames, kit.Frame{At: t0.Add(time.Duration(i) * media.FrameDuration), Seq: uint16(65500 + i),
			PCM: pcm[i*media.FrameSamples : (i+1)*media.FrameSamples]})
	}
	a := analyseMember(frames, t0.Add(time.Second), t0.Add(4*time.Second), freqs[1:], freqs[0], level)
	if a.Packets != 149 || a.SeqGaps != 1 || a.Windows != 2 || a.Clean != 1 {
		t.Errorf("got %+v, want 149 packets, 1 gap, 2 windows, 1 clean", a)
	}
	if math.Abs(a.Rate-149.0/3) > 0.01 {
		t.Errorf("rate %.2f", a.Rate)
	}
}
