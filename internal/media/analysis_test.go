package media

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestGoertzelScale(t *testing.T) {
	tests := []struct {
		name     string
		samples  []int16
		freq     float64
		min, max float64
	}{
		{"full scale at freq", sine(1000, SampleRate, 800, 1), 1000, 0.98, 1.02},
		{"half scale", sine(1000, SampleRate, 800, 0.5), 1000, 0.24, 0.26},
		{"other freq", sine(2000, SampleRate, 800, 1), 1000, 0, 1e-4},
		{"neighbour 100 Hz away, 100 ms", sine(1100, SampleRate, 800, 1), 1000, 0, 1e-3},
		{"empty", nil, 1000, 0, 0},
	}
	for _, tc := range tests {
		if p := Goertzel(tc.samples, tc.freq); p < tc.min || p > tc.max {
			t.Errorf("%s: %g, want [%g, %g]", tc.name, p, tc.min, tc.max)
		}
	}
}

func TestLevels(t *testing.T) {
	square := make([]int16, 800)
	for i := range square {
		square[i] = 32767
		if i%16 < 8 {
			square[i] = -32767
		}
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"tone -20", ToneDBFS(sine(700, SampleRate, 1600, 0.1), 700), -20},
		{"tone of silence", ToneDBFS(make([]int16, 160), 700), FloorDBFS},
		{"level full-scale sine", LevelDBFS(sine(1000, SampleRate, 800, 1)), -3.01},
		{"level full-scale square", LevelDBFS(square), 0},
		{"level -30 sine", LevelDBFS(sine(1000, SampleRate, 800, 0.031623)), -33.01},
		{"level zeros", LevelDBFS(make([]int16, 160)), FloorDBFS},
		{"level empty", LevelDBFS(nil), FloorDBFS},
	}
	for _, tc := range tests {
		if math.Abs(tc.got-tc.want) > 0.1 {
			t.Errorf("%s: %.2f, want %.2f", tc.name, tc.got, tc.want)
		}
	}
}

func noise(n int, dBFS float64, r *rand.Rand) []int16 {
	out := make([]int16, n)
	sd := 32768 * math.Pow(10, dBFS/20)
	for i := range out {
		out[i] = int16(max(-32768, min(32767, r.NormFloat64()*sd)))
	}
	return out
}

func TestSilenceDetector(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := NewSilenceDetector(0, 200*time.Millisecond)
	speech := sine(300, SampleRate, FrameSamples, 0.1)
	quiet := noise(FrameSamples, -60, r)
	for range 20 {
		if d.Feed(speech) {
			t.Fatal("speech reported as silence")
		}
	}
	for i := 1; i <= 10; i++ {
		if got := d.Feed(quiet); got != (i == 10) {
			t.Fatalf("after %d quiet frames: %v (silent for %v)", i, got, d.SilentFor())
		}
	}
	if d.SilentFor() != 200*time.Millisecond {
		t.Errorf("SilentFor = %v", d.SilentFor())
	}
	if d.Feed(speech) || d.SilentFor() != 0 {
		t.Error("speech did not restart the count")
	}
	d.Feed(quiet)
	d.Reset()
	if d.SilentFor() != 0 {
		t.Error("Reset kept the count")
	}
	// A custom threshold: -60 dBFS noise is not silence under -70.
	strict := NewSilenceDetector(-70, 20*time.Millisecond)
	if strict.Feed(quiet) {
		t.Error("noise above a -70 dBFS threshold counted as silence")
	}
}

// feedAll feeds samples to a beep detector in 20 ms frames and returns what it reported.
func feedAll(d *BeepDetector, samples []int16) []float64 {
	var found []float64
	for f := range slices.Chunk(samples, FrameSamples) {
		if freq, ok := d.Feed(f); ok {
			found = append(found, freq)
		}
	}
	return found
}

// withTone returns total samples of silence (or bg) with a tone of freq Hz and length d
// starting at offset samples.
func withTone(bg []int16, offset int, freq float64, d time.Duration, amp float64) []int16 {
	out := slices.Clone(bg)
	for i, v := range sine(freq, SampleRate, samplesFor(d), amp) {
		out[offset+i] = int16(max(-32768, min(32767, int(out[offset+i])+int(v))))
	}
	return out
}

func TestBeepDetector(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	silence := make([]int16, 2*SampleRate)
	hiss := noise(2*SampleRate, -50, r)
	// A vowel-like sound: 120 Hz fundamental with falling harmonics.
	vowel := make([]int16, 2*SampleRate)
	for h := 1; h <= 25; h++ {
		for i, v := range sine(120*float64(h), SampleRate, len(vowel), 0.3/float64(h)) {
			vowel[i] += v
		}
	}
	tests := []struct {
		name  string
		audio []int16
		want  []float64 // frequencies reported (±25 Hz)
	}{
		{"1 kHz 200 ms", withTone(silence, 3000, 1000, 200*time.Millisecond, 0.3), []float64{1000}},
		{"300 Hz 150 ms", withTone(silence, 3000, 300, 150*time.Millisecond, 0.3), []float64{300}},
		{"2950 Hz 150 ms", withTone(silence, 3000, 2950, 150*time.Millisecond, 0.3), []float64{2950}},
		{"off-grid 1412 Hz 150 ms", withTone(silence, 3001, 1412, 150*time.Millisecond, 0.3), []float64{1412}},
		{"tone in hiss", withTone(hiss, 5000, 1400, 300*time.Millisecond, 0.1), []float64{1400}},
		{"long tone reported once", withTone(silence, 100, 800, 1500*time.Millisecond, 0.3), []float64{800}},
		{"100 ms is too short", withTone(silence, 3000, 1000, 100*time.Millisecond, 0.3), nil},
		{"120 ms is too short", withTone(silence, 3000, 1000, 120*time.Millisecond, 0.3), nil},
		{"250 Hz is too low", withTone(silence, 3000, 250, 300*time.Millisecond, 0.3), nil},
		{"3500 Hz is too high", withTone(silence, 3000, 3500, 300*time.Millisecond, 0.3), nil},
		{"too quiet", withTone(silence, 3000, 1000, 300*time.Millisecond, 0.003), nil},
		{"silence", silence, nil},
		{"hiss", hiss, nil},
		{"loud noise", noise(2*SampleRate, -10, r), nil},
		{"vowel", vowel, nil},
		{"DTMF dual tone", withTone(withTone(silence, 3000, 697, 300*time.Millisecond, 0.2), 3000, 1209, 300*time.Millisecond, 0.2), nil},
		{"two beeps", slices.Concat(ReadAll(Beep2(), 0), silence[:800]), []float64{1000, 1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := feedAll(NewBeepDetector(), tc.audio)
			if len(got) != len(tc.want) {
				t.Fatalf("reported %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 25 {
					t.Errorf("reported %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestBeepDetectorAlignment: a 150 ms tone is found wherever it falls against the frames.
func TestBeepDetectorAlignment(t *testing.T) {
	silence := make([]int16, SampleRate)
	for off := 1600; off < 1600+FrameSamples; off += 7 {
		for _, freq := range []float64{437, 1000, 2213} {
			got := feedAll(NewBeepDetector(), withTone(silence, off, freq, 150*time.Millisecond, 0.3))
			if len(got) != 1 {
				t.Errorf("offset %d, %v Hz: reported %v", off, freq, got)
			}
		}
	}
}

func BenchmarkBeepDetector(b *testing.B) {
	d := NewBeepDetector()
	frame := sine(1000, SampleRate, FrameSamples, 0.3)
	for b.Loop() {
		d.Feed(frame)
	}
}
