package media

import "math"

// Resampler design: a Kaiser-windowed sinc low-pass evaluated as a polyphase filter. The
// transition band runs from 85% to 100% of the lower Nyquist frequency (3400–4000 Hz when
// the output is 8 kHz) with at least resampleStopDB of stop-band attenuation, so nothing
// above the output's Nyquist frequency folds back into the telephone band.
const (
	resampleStopDB     = 70.0
	resamplePassEdge   = 0.85
	resampleMaxPhases  = 512
	maxResampleRate    = 1_000_000
	resampleChunkLimit = 1 << 16
)

// Resampler converts a stream of mono PCM from one sample rate to another. Feed it with
// Write and finish with Flush; it keeps the few samples of history its filter needs. The
// zero value is not usable; a Resampler is not safe for concurrent use.
type Resampler struct {
	l, m     int64     // output = input * l / m, reduced by their GCD
	exact    bool      // one coefficient phase per output phase (no interpolation)
	phases   int       // coefficient phases in coef (plus one extra row when !exact)
	hw       int       // half width of the filter in input samples
	taps     int       // 2*hw coefficients per phase
	coef     []float32 // phase-major: coef[p*taps+j]
	buf      []float32 // pending input; buf[0] has absolute input index start
	start    int64
	next     int64 // index of the next output sample
	inCount  int64 // input samples written so far
	copyRate bool  // from == to: pass samples through
	flushed  bool
}

// NewResampler returns a resampler from fromRate to toRate (both in Hz, 1..1,000,000). It
// returns nil for rates outside that range.
func NewResampler(fromRate, toRate int) *Resampler {
	if fromRate <= 0 || toRate <= 0 || fromRate > maxResampleRate || toRate > maxResampleRate {
		return nil
	}
	if fromRate == toRate {
		return &Resampler{copyRate: true}
	}
	g := gcd(fromRate, toRate)
	r := &Resampler{l: int64(toRate / g), m: int64(fromRate / g)}
	nyq := float64(min(fromRate, toRate)) / 2
	transition := (1 - resamplePassEdge) * nyq         // Hz
	fc := (nyq - transition/2) / float64(fromRate)     // cut-off, cycles per input sample
	dw := 2 * math.Pi * transition / float64(fromRate) // transition, radians per input sample
	n := (resampleStopDB - 8) / (2.285 * dw)           // Kaiser's length estimate
	beta := 0.1102 * (resampleStopDB - 8.7)
	r.hw = max(2, int(math.Ceil(n/2)))
	r.taps = 2 * r.hw
	r.exact = r.l <= resampleMaxPhases
	r.phases = int(r.l)
	rows := r.phases
	if !r.exact {
		r.phases = resampleMaxPhases
		rows = r.phases + 1
	}
	r.coef = make([]float32, rows*r.taps)
	i0beta := besselI0(beta)
	row := make([]float64, r.taps)
	for p := range rows {
		frac := float64(p) / float64(r.phases)
		sum := 0.0
		for j := range r.taps {
			tau := frac + float64(r.hw-1-j)
			x := tau / float64(r.hw)
			w := 0.0
			if x > -1 && x < 1 {
				w = besselI0(beta*math.Sqrt(1-x*x)) / i0beta
			}
			row[j] = 2 * fc * sinc(2*fc*tau) * w
			sum += row[j]
		}
		for j := range r.taps {
			// Normalising each phase to unit DC gain keeps a constant input constant.
			r.coef[p*r.taps+j] = float32(row[j] / sum)
		}
	}
	r.buf = make([]float32, r.hw, r.hw+4096)
	r.start = -int64(r.hw)
	return r
}

// Write resamples in and appends the output samples that are ready to out. Output lags the
// input by the filter's half width until Flush.
func (r *Resampler) Write(out []int16, in []int16) []int16 {
	if r.flushed {
		return out
	}
	if r.copyRate {
		return append(out, in...)
	}
	for len(in) > 0 {
		chunk := in[:min(len(in), resampleChunkLimit)]
		in = in[len(chunk):]
		for _, s := range chunk {
			r.buf = append(r.buf, float32(s))
		}
		r.inCount += int64(len(chunk))
		out = r.produce(out, math.MaxInt64)
	}
	return out
}

// Flush pads the input with silence, appends the remaining output to out and ends the stream:
// in total the output holds ceil(inputs*toRate/fromRate) samples.
func (r *Resampler) Flush(out []int16) []int16 {
	if r.flushed || r.copyRate {
		r.flushed = true
		return out
	}
	r.flushed = true
	total := (r.inCount*r.l + r.m - 1) / r.m
	r.buf = append(r.buf, make([]float32, r.hw+1)...)
	return r.produce(out, total)
}

// produce computes outputs while their input window is available, up to limit outputs.
func (r *Resampler) produce(out []int16, limit int64) []int16 {
	end := r.start + int64(len(r.buf))
	for r.next < limit {
		pos := r.next * r.m
		base := pos / r.l
		if base+int64(r.hw) >= end {
			break
		}
		window := r.buf[base-int64(r.hw)+1-r.start:][:r.taps]
		var acc float32
		if r.exact {
			acc = dot(r.coef[int(pos%r.l)*r.taps:][:r.taps], window)
		} else {
			phi := float64(pos%r.l) / float64(r.l) * float64(r.phases)
			i := int(phi)
			f := float32(phi - float64(i))
			c0 := r.coef[i*r.taps:][:r.taps]
			c1 := r.coef[(i+1)*r.taps:][:r.taps]
			for j, x := range window {
				acc += (c0[j] + f*(c1[j]-c0[j])) * x
			}
		}
		out = append(out, clamp16(acc))
		r.next++
	}
	// Drop input that no later output needs; compact only when it is worth the copy.
	need := (r.next*r.m)/r.l - int64(r.hw) + 1
	if drop := need - r.start; drop > 0 && drop >= int64(len(r.buf))/2 {
		drop = min(drop, int64(len(r.buf)))
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.start += drop
	}
	return out
}

// Resample converts mono PCM from fromRate to toRate (Hz) with an anti-aliasing filter. The
// output holds ceil(len(in)*toRate/fromRate) samples, time-aligned with the input. It returns
// nil when a rate is outside 1..1,000,000 Hz.
func Resample(in []int16, fromRate, toRate int) []int16 {
	r := NewResampler(fromRate, toRate)
	if r == nil {
		return nil
	}
	out := make([]int16, 0, int(int64(len(in))*int64(toRate)/int64(fromRate))+1)
	out = r.Write(out, in)
	return r.Flush(out)
}

// dot is the filter's inner product, with four accumulators so the adds can overlap.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var a0, a1, a2, a3 float32
	j := 0
	for ; j+4 <= len(c); j += 4 {
		a0 += c[j] * x[j]
		a1 += c[j+1] * x[j+1]
		a2 += c[j+2] * x[j+2]
		a3 += c[j+3] * x[j+3]
	}
	for ; j < len(c); j++ {
		a0 += c[j] * x[j]
	}
	return (a0 + a1) + (a2 + a3)
}

func clamp16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0 (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 64; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
