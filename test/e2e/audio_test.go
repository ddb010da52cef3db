package e2e

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/http"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// wavTone returns a mono 16-bit WAV file of a sine tone.
func wavTone(freq float64, rate int, d time.Duration, dBFS float64) []byte {
	n := int(float64(rate) * d.Seconds())
	amp := math.Pow(10, dBFS/20) * 32767
	var data bytes.Buffer
	for i := range n {
		v := int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		_ = binary.Write(&data, binary.LittleEndian, v)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, binary.LittleEndian, uint32(16))
	_ = binary.Write(&b, binary.LittleEndian, uint16(1))
	_ = binary.Write(&b, binary.LittleEndian, uint16(1))
	_ = binary.Write(&b, binary.LittleEndian, uint32(rate))
	_ = binary.Write(&b, binary.LittleEndian, uint32(rate*2))
	_ = binary.Write(&b, binary.LittleEndian, uint16(2))
	_ = binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

// serveBytes serves a fixed file at path of the web app.
func (w *webApp) serveBytes(path, contentType string, body []byte) {
	w.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", contentType)
		_, _ = rw.Write(body)
	})
}

// frameInfo is the analysis of one received 20 ms frame.
type frameInfo struct {
	at    time.Time
	level float64 // dBFS
	pcm   []int16
}

func analyse(frames []siptest.Frame) []frameInfo {
	out := make([]frameInfo, 0, len(frames))
	for _, f := range frames {
		out = append(out, frameInfo{at: f.At, level: media.LevelDBFS(f.PCM), pcm: f.PCM})
	}
	return out
}

// concat joins the PCM of frames.
func concat(frames []frameInfo) []int16 {
	var pcm []int16
	for _, f := range frames {
		pcm = append(pcm, f.pcm...)
	}
	return pcm
}

// fractionAbove is the share of frames louder than dBFS.
func fractionAbove(frames []frameInfo, dBFS float64) float64 {
	if len(frames) == 0 {
		return 0
	}
	n := 0
	for _, f := range frames {
		if f.level > dBFS {
			n++
		}
	}
	return float64(n) / float64(len(frames))
}

// toneFrames marks frames where freq dominates (its component is within 3 dB of the frame's
// level and the frame is audible).
func isTone(f frameInfo, freq float64) bool {
	return f.level > -40 && media.ToneDBFS(f.pcm, freq) > f.level-3
}

// window returns the frames received in [from, to).
func window(frames []frameInfo, from, to time.Time) []frameInfo {
	var out []frameInfo
	for _, f := range frames {
		if !f.at.Before(from) && f.at.Before(to) {
			out = append(out, f)
		}
	}
	return out
}
