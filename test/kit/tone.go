package kit

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// WAV encodes pcm as a mono 16-bit WAV file at rate Hz.
func WAV(pcm []int16, rate int) []byte {
	b := make([]byte, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}

// ToneWAV is a WAV file at rate Hz of a sine of freq Hz lasting d, its peak at dBFS.
func ToneWAV(freq float64, rate int, d time.Duration, dBFS float64) []byte {
	return WAV(TonePCM(freq, rate, d, dBFS), rate)
}

// TonePCM is a sine of freq Hz at rate Hz lasting d, its peak at dBFS.
func TonePCM(freq float64, rate int, d time.Duration, dBFS float64) []int16 {
	n := int(float64(rate) * d.Seconds())
	amp := math.Pow(10, dBFS/20) * 32767
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return pcm
}

// ToneSource is what a caller of a tone test sends: a sine of freq Hz at -10 dBFS for three
// minutes, or nothing (silence) for freq 0.
func ToneSource(freq float64) media.Source {
	if freq == 0 {
		return nil
	}
	return media.Tone(freq, 3*time.Minute, -10)
}

// Frame is one received 20 ms frame with its level.
type Frame struct {
	At    time.Time
	Seq   uint16
	Level float64 // RMS, dBFS
	PCM   []int16
}

// Frames is what cl has received so far, frame by frame.
func Frames(cl *siptest.Call) []Frame { return FramesOf(cl.Received()) }

// FramesOf analyses received frames.
func FramesOf(rx []siptest.Frame) []Frame {
	out := make([]Frame, 0, len(rx))
	for _, f := range rx {
		out = append(out, Frame{At: f.At, Seq: f.Seq, Level: media.LevelDBFS(f.PCM), PCM: f.PCM})
	}
	return out
}

// IsTone reports whether freq dominates the frame: it is audible (above -40 dBFS) and the
// component at freq is within 3 dB of the frame's level.
func (f Frame) IsTone(freq float64) bool {
	return f.Level > -40 && media.ToneDBFS(f.PCM, freq) > f.Level-3
}

// Window returns the frames received in [from, to).
func Window(frames []Frame, from, to time.Time) []Frame {
	var out []Frame
	for _, f := range frames {
		if !f.At.Before(from) && f.At.Before(to) {
			out = append(out, f)
		}
	}
	return out
}

// Concat joins the PCM of frames.
func Concat(frames []Frame) []int16 {
	var pcm []int16
	for _, f := range frames {
		pcm = append(pcm, f.PCM...)
	}
	return pcm
}

// FractionAbove is the share of frames louder than dBFS.
func FractionAbove(frames []Frame, dBFS float64) float64 {
	if len(frames) == 0 {
		return 0
	}
	n := 0
	for _, f := range frames {
		if f.Level > dBFS {
			n++
		}
	}
	return float64(n) / float64(len(frames))
}

// ToneLevels measures the level (dBFS) of each of freqs in what cl received during the last d.
func ToneLevels(cl *siptest.Call, d time.Duration, freqs ...float64) map[float64]float64 {
	now := time.Now()
	pcm := cl.ReceivedPCM(now.Add(-d), now)
	out := map[float64]float64{}
	for _, f := range freqs {
		out[f] = media.ToneDBFS(pcm, f)
	}
	return out
}

// ToneFramesSince counts the frames cl received from since on that freq dominates.
func ToneFramesSince(cl *siptest.Call, freq float64, since time.Time) int {
	n := 0
	for _, f := range Frames(cl) {
		if !f.At.Before(since) && f.IsTone(freq) {
			n++
		}
	}
	return n
}

// SpeechFramesSince counts the audible frames cl received from since on that none of tones
// explains.
func SpeechFramesSince(cl *siptest.Call, since time.Time, tones ...float64) int {
	n := 0
	for _, f := range Frames(cl) {
		if f.At.Before(since) || f.Level <= -40 {
			continue
		}
		tonal := false
		for _, tn := range tones {
			if tn > 0 && f.IsTone(tn) {
				tonal = true
			}
		}
		if !tonal {
			n++
		}
	}
	return n
}
