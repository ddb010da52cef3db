package media

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// goertzelAt is Goertzel for any sample rate (the package's works at 8 kHz only).
func goertzelAt(samples []int16, freq float64, rate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range samples {
		s := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s
	}
	n := float64(len(samples))
	return (s1*s1 + s2*s2 - coeff*s1*s2) * 4 / (n * n)
}

// middle drops the first and last 10% (filter edges) of samples.
func middle(s []int16) []int16 { return s[len(s)/10 : len(s)-len(s)/10] }

func TestResampleKeepsTone(t *testing.T) {
	for _, rate := range []int{11025, 16000, 22050, 32000, 44100, 44099, 48000, 96000} {
		for _, freq := range []float64{1000, 3000} {
			in := sine(freq, rate, rate/2, 0.5) // 0.5 s at -6 dBFS
			out := Resample(in, rate, SampleRate)
			wantLen := (len(in)*SampleRate + rate - 1) / rate
			if len(out) != wantLen {
				t.Errorf("%d Hz: %d samples out, want %d", rate, len(out), wantLen)
			}
			if freq == 1000 {
				if f := dominantFreq(middle(out)); math.Abs(f-freq) > 10 {
					t.Errorf("%d Hz: tone at %v Hz after resampling, want %v", rate, f, freq)
				}
			}
			got, want := ToneDBFS(middle(out), freq), 20*math.Log10(0.5)
			if math.Abs(got-want) > 0.5 {
				t.Errorf("%d Hz: %v Hz tone at %.2f dBFS, want %.2f", rate, freq, got, want)
			}
		}
	}
}

func TestResampleSuppressesAliases(t *testing.T) {
	tests := []struct {
		rate int
		freq float64
	}{
		{16000, 6000}, {16000, 4100}, {16000, 7900},
		{22050, 4100}, {22050, 5000}, {22050, 10000},
		{44100, 4100}, {44100, 7000}, {44100, 15000},
		{48000, 4100}, {48000, 12000}, {48000, 20000},
		{11025, 4500}, {44099, 6000},
	}
	for _, tc := range tests {
		in := sine(tc.freq, tc.rate, tc.rate/2, 0.9)
		out := middle(Resample(in, tc.rate, SampleRate))
		inLevel := LevelDBFS(in)
		outLevel := LevelDBFS(out)
		t.Logf("%d Hz, %v Hz tone: attenuated %.1f dB", tc.rate, tc.freq, inLevel-outLevel)
		if inLevel-outLevel < 40 {
			t.Errorf("%d Hz, %v Hz tone: attenuated %.1f dB, want >= 40 (alias at %v Hz)",
				tc.rate, tc.freq, inLevel-outLevel, dominantFreq(out))
		}
	}
}

func TestResampleUp(t *testing.T) {
	in := sine(1000, SampleRate, SampleRate/2, 0.5)
	out := Resample(in, SampleRate, 16000)
	if len(out) != 2*len(in) {
		t.Fatalf("%d samples out, want %d", len(out), 2*len(in))
	}
	m := middle(out)
	if db := 10 * math.Log10(goertzelAt(m, 1000, 16000)); math.Abs(db-20*math.Log10(0.5)) > 0.5 {
		t.Errorf("1 kHz at %.2f dBFS after upsampling", db)
	}
	if db := 10 * math.Log10(goertzelAt(m, 7000, 16000)); db > -46 {
		t.Errorf("7 kHz image at %.1f dBFS, want < -46", db)
	}
}

func TestResampleStreamingMatchesOneShot(t *testing.T) {
	in := make([]int16, 30000)
	for i := range in {
		in[i] = int16(rand.IntN(20000) - 10000)
	}
	for _, rates := range [][2]int{{44100, 8000}, {8000, 16000}, {48000, 8000}, {44099, 8000}} {
		want := Resample(in, rates[0], rates[1])
		r := NewResampler(rates[0], rates[1])
		var got []int16
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(500))
			got = r.Write(got, rest[:n])
			rest = rest[n:]
		}
		got = r.Flush(got)
		if !slices.Equal(got, want) {
			t.Errorf("%v: streaming output differs from one-shot (%d vs %d samples)", rates, len(got), len(want))
		}
		if more := r.Write(nil, in[:10]); len(more) != 0 {
			t.Errorf("%v: Write after Flush produced samples", rates)
		}
	}
}

func TestResampleEdgeCases(t *testing.T) {
	in := []int16{1, 2, 3}
	if got := Resample(in, 8000, 8000); !slices.Equal(got, in) {
		t.Errorf("same rate: %v", got)
	}
	for _, rates := range [][2]int{{0, 8000}, {8000, -1}, {2_000_000, 8000}} {
		if got := Resample(in, rates[0], rates[1]); got != nil {
			t.Errorf("rates %v: got %v, want nil", rates, got)
		}
	}
	if got := Resample(nil, 44100, 8000); len(got) != 0 {
		t.Errorf("empty input gave %d samples", len(got))
	}
	// A constant signal stays constant (unit DC gain in every phase).
	dc := make([]int16, 4410)
	for i := range dc {
		dc[i] = 10000
	}
	for _, v := range middle(Resample(dc, 44100, 8000)) {
		if v < 9995 || v > 10005 {
			t.Fatalf("DC 10000 came out as %d", v)
		}
	}
	// A full-scale square wave overshoots after filtering: it must clip, not wrap around.
	sq := make([]int16, 4800)
	for i := range sq {
		sq[i] = 32767
		if i/24%2 == 1 {
			sq[i] = -32768
		}
	}
	out := Resample(sq, 48000, 8000)
	for i := 10; i < len(out)-10; i++ {
		phase := (6 * i) % 48 // input position within the square's period
		if phase >= 3 && phase <= 21 && out[i] < 16000 {
			t.Fatalf("sample %d (phase %d of the positive half) = %d", i, phase, out[i])
		}
	}
}

func BenchmarkResample(b *testing.B) {
	for _, rates := range [][2]int{{44100, 8000}, {48000, 8000}, {16000, 8000}, {22050, 8000}, {8000, 16000}} {
		in := sine(1000, rates[0], rates[0], 0.5) // one second
		b.Run(strconv.Itoa(rates[0])+"to"+strconv.Itoa(rates[1]), func(b *testing.B) {
			b.SetBytes(int64(2 * len(in)))
			for b.Loop() {
				Resample(in, rates[0], rates[1])
			}
		})
	}
}
