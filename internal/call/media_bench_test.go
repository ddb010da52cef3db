package call

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// benchLeg is an answered leg whose media goes nowhere: ReadPacket hands out one audio packet
// per call until n are read, WriteRTP discards. It measures the call's own work per packet.
type benchLeg struct {
	done    chan struct{}
	n       int
	payload []byte
}

func newBenchLeg(n int) *benchLeg {
	p := make([]byte, media.FrameSamples)
	media.PCMU.Encode(p, media.ReadAll(media.Tone(440, 20*time.Millisecond, -20), 0))
	return &benchLeg{done: make(chan struct{}), n: n, payload: p}
}

func (l *benchLeg) Info() LegInfo                              { return LegInfo{Inbound: true} }
func (l *benchLeg) Media() LegMedia                            { return l }
func (l *benchLeg) Ring(context.Context) error                 { return nil }
func (l *benchLeg) EarlyMedia(context.Context) error           { return nil }
func (l *benchLeg) Answer(context.Context) error               { return nil }
func (l *benchLeg) Reject(int, string, ...string) error        { return nil }
func (l *benchLeg) Hangup(context.Context) error               { return nil }
func (l *benchLeg) Done() <-chan struct{}                      { return l.done }
func (l *benchLeg) EndedBy() LegEnd                            { return EndedLocal }
func (l *benchLeg) Codec() media.Codec                         { return media.PCMU }
func (l *benchLeg) TelephoneEventPT() uint8                    { return 101 }
func (l *benchLeg) RemoteSendsMedia() bool                     { return true }
func (l *benchLeg) WriteRTP([]byte, uint8, bool, uint32) error { return nil }
func (l *benchLeg) Stats() MediaStats                          { return MediaStats{} }

func (l *benchLeg) ReadPacket(buf []byte) (media.Packet, error) {
	if l.n == 0 {
		return media.Packet{}, io.EOF
	}
	l.n--
	return media.Packet{PayloadType: 0, Payload: buf[:copy(buf, l.payload)]}, nil
}

// benchCall is a call on a benchLeg whose media goroutines are not started: the benchmark
// drives them.
func benchCall(l *benchLeg) *Call {
	c := New(Identity{Direction: Inbound}, l, Options{Logger: slog.New(slog.DiscardHandler)})
	c.state = Answered
	return c
}

// BenchmarkPumpTick is one 20 ms frame of the flow's audio: read the playback, encode, write.
func BenchmarkPumpTick(b *testing.B) {
	c := benchCall(newBenchLeg(0))
	tone := media.ReadAll(media.Tone(440, time.Second, -20), 0)
	c.media.playing = &playback{src: media.Loop(func() media.Source { return media.NewPCMSource(tone) }, 0), done: make(chan error, 1)}
	frame := make([]int16, media.FrameSamples)
	scratch := make([]int16, media.FrameSamples)
	payload := make([]byte, media.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		c.media.tick(frame, scratch, payload)
	}
}

// BenchmarkOutputWriteFrame is one encoded frame written by a room or a bridge, with and without
// an out tap (a recording) decoding it.
func BenchmarkOutputWriteFrame(b *testing.B) {
	for _, tapped := range []bool{false, true} {
		name := "plain"
		if tapped {
			name = "tapped"
		}
		b.Run(name, func(b *testing.B) {
			c := benchCall(newBenchLeg(0))
			out, err := c.TakeOutput()
			if err != nil {
				b.Fatal(err)
			}
			if tapped {
				c.AddTap(TapSent, func([]int16) {})
			}
			payload := make([]byte, media.FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				if err := out.WriteFrame(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOutputWriteFrameOverlaid is a room's frame with one overlay playing (decode, mix,
// encode) and one sent-audio tap.
func BenchmarkOutputWriteFrameOverlaid(b *testing.B) {
	c := benchCall(newBenchLeg(0))
	out, err := c.TakeOutput()
	if err != nil {
		b.Fatal(err)
	}
	ring := NewAudioRing(media.SampleRate)
	tone := media.ReadAll(media.Tone(440, time.Second, -20), 0)
	c.AddOverlay(ring)
	c.AddTap(TapSent, func([]int16) {})
	payload := make([]byte, media.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		if ring.Len() < media.FrameSamples {
			ring.Write(tone)
		}
		if err := out.WriteFrame(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadLoop is one received audio packet: read, decode, hand to the audio sink.
func BenchmarkReadLoop(b *testing.B) {
	l := newBenchLeg(b.N)
	c := benchCall(l)
	c.SetAudioSink(func([]int16) {})
	b.ReportAllocs()
	b.ResetTimer()
	c.media.readLoop()
}
