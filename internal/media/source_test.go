package media

import (
	"errors"
	"io"
	"math"
	"slices"
	"testing"
	"time"
)

// frames reads src to EOF and returns its frames; it fails after limit frames.
func frames(t *testing.T, src Source, limit int) [][]int16 {
	t.Helper()
	var out [][]int16
	for range limit {
		f := make([]int16, FrameSamples)
		for i := range f {
			f[i] = 12345 // sources must overwrite every sample
		}
		err := src.ReadFrame(f)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	t.Fatalf("source still running after %d frames", limit)
	return nil
}

func TestPCMSource(t *testing.T) {
	in := make([]int16, 400)
	for i := range in {
		in[i] = int16(i + 1)
	}
	got := frames(t, NewPCMSource(in), 10)
	if len(got) != 3 {
		t.Fatalf("%d frames, want 3", len(got))
	}
	flat := slices.Concat(got...)
	if !slices.Equal(flat[:400], in) {
		t.Error("samples differ")
	}
	for _, s := range flat[400:] {
		if s != 0 {
			t.Fatal("last frame not padded with silence")
		}
	}
	if got := frames(t, NewPCMSource(nil), 1); len(got) != 0 {
		t.Error("empty source yielded frames")
	}
}

func TestSilence(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {-time.Second, 0}, {20 * time.Millisecond, 1}, {100 * time.Millisecond, 5}, {110 * time.Millisecond, 6}} {
		got := frames(t, Silence(tc.d), 100)
		if len(got) != tc.want {
			t.Errorf("Silence(%v): %d frames, want %d", tc.d, len(got), tc.want)
		}
		for _, f := range got {
			if slices.ContainsFunc(f, func(s int16) bool { return s != 0 }) {
				t.Fatalf("Silence(%v) is not silent", tc.d)
			}
		}
	}
}

func TestTone(t *testing.T) {
	for _, tc := range []struct {
		freq, dBFS float64
		d          time.Duration
	}{{1000, -12, time.Second}, {440, -3, 500 * time.Millisecond}, {2500, -30, 200 * time.Millisecond}} {
		s := ReadAll(Tone(tc.freq, tc.d, tc.dBFS), 0)
		if want := samplesFor(tc.d); len(s) != want {
			t.Errorf("%v Hz: %d samples, want %d", tc.freq, len(s), want)
		}
		if f := dominantFreq(s); math.Abs(f-tc.freq) > 10 {
			t.Errorf("dominant %v Hz, want %v", f, tc.freq)
		}
		if db := ToneDBFS(middle(s), tc.freq); math.Abs(db-tc.dBFS) > 0.2 {
			t.Errorf("%v Hz: %.2f dBFS, want %.2f", tc.freq, db, tc.dBFS)
		}
		peak := 32767 * math.Pow(10, tc.dBFS/20)
		for _, v := range s {
			if math.Abs(float64(v)) > peak+1 {
				t.Fatalf("sample %d above the peak %.0f", v, peak)
			}
		}
		if s[0] != 0 || math.Abs(float64(s[len(s)-1])) > peak/10 {
			t.Errorf("no fade at the edges: first %d last %d", s[0], s[len(s)-1])
		}
	}
}

type errSource struct{ err error }

func (e errSource) ReadFrame([]int16) error { return e.err }

func TestConcat(t *testing.T) {
	src := Concat(Tone(1000, 40*time.Millisecond, -6), Silence(60*time.Millisecond), NewPCMSource([]int16{7}))
	got := frames(t, src, 20)
	if len(got) != 6 {
		t.Fatalf("%d frames, want 6", len(got))
	}
	if got[5][0] != 7 || got[2][0] != 0 || got[0][42] == 0 {
		t.Error("frames out of order")
	}
	boom := errors.New("boom")
	if err := Concat(Silence(0), errSource{boom}).ReadFrame(make([]int16, FrameSamples)); err != boom {
		t.Errorf("err = %v, want boom", err)
	}
	if err := Concat().ReadFrame(make([]int16, FrameSamples)); err != io.EOF {
		t.Errorf("empty Concat: %v", err)
	}
}

func TestLoop(t *testing.T) {
	calls := 0
	factory := func() Source { calls++; return Silence(60 * time.Millisecond) }
	if got := frames(t, Loop(factory, 3), 100); len(got) != 9 || calls != 3 {
		t.Errorf("Loop 3: %d frames from %d sources, want 9 from 3", len(got), calls)
	}
	forever := Loop(factory, 0)
	buf := make([]int16, FrameSamples)
	for i := range 1000 {
		if err := forever.ReadFrame(buf); err != nil {
			t.Fatalf("forever loop ended at frame %d: %v", i, err)
		}
	}
	// An empty source must end an endless loop instead of spinning.
	if got := frames(t, Loop(func() Source { return Silence(0) }, 0), 10); len(got) != 0 {
		t.Errorf("empty loop yielded %d frames", len(got))
	}
	if got := frames(t, Loop(func() Source { return nil }, 0), 10); len(got) != 0 {
		t.Errorf("nil source loop yielded %d frames", len(got))
	}
	boom := errors.New("boom")
	if err := Loop(func() Source { return errSource{boom} }, 0).ReadFrame(buf); err != boom {
		t.Errorf("err = %v, want boom", err)
	}
}

func TestBeeps(t *testing.T) {
	on := func(s []int16) bool { return ToneDBFS(s, 1000) > BeepLevelDBFS-1 }
	off := func(s []int16) bool { return LevelDBFS(s) == FloorDBFS }
	b1 := ReadAll(Beep1(), 0)
	if len(b1) != 1600 || !on(b1[100:1500]) {
		t.Errorf("Beep1: %d samples, 1 kHz at %.1f dBFS", len(b1), ToneDBFS(b1[100:1500], 1000))
	}
	b2 := ReadAll(Beep2(), 0)
	if len(b2) != 4000 {
		t.Fatalf("Beep2: %d samples, want 4000", len(b2))
	}
	if !on(b2[100:1500]) || !off(b2[1600:2400]) || !on(b2[2500:3900]) {
		t.Error("Beep2 is not tone, 100 ms gap, tone")
	}
	br := ReadAll(BeepRecord(), 0)
	if len(br) != 4000 || !on(br[100:3900]) {
		t.Errorf("BeepRecord: %d samples", len(br))
	}
}

func TestReadAllLimit(t *testing.T) {
	if got := ReadAll(Silence(time.Second), 1000); len(got) != 1000 {
		t.Errorf("limit 1000: %d samples", len(got))
	}
	if got := ReadAll(Loop(func() Source { return Beep1() }, 0), 8000); len(got) != 8000 {
		t.Errorf("endless source with limit: %d samples", len(got))
	}
}
