package call

import (
	"fmt"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// dtmfSlot is what one 20 ms tick sends while digits go out: an RFC 4733 packet, or a pause
// that carries ordinary audio.
type dtmfSlot struct {
	Payload     []byte
	Marker      bool
	TSIncrement uint32 // the timestamp advance after this packet: the whole event on its last packet
	Pause       bool
}

// Durations of spec §7.13: 100 ms events, 50 ms gaps, w = 0.5 s, W = 1 s.
const (
	dtmfEventDuration = 100 * time.Millisecond
	dtmfGap           = 50 * time.Millisecond
)

// dtmfTrain turns digits into ticks. All packets of one event share its start timestamp, so
// the clock advances only after the event's last packet.
func dtmfTrain(digits string) ([]dtmfSlot, error) {
	var out []dtmfSlot
	pause := func(d time.Duration) {
		for range int((d + media.FrameDuration - 1) / media.FrameDuration) {
			out = append(out, dtmfSlot{Pause: true})
		}
	}
	for _, d := range digits {
		switch d {
		case 'w':
			pause(500 * time.Millisecond)
			continue
		case 'W':
			pause(time.Second)
			continue
		}
		pkts, err := media.DTMFPackets(d, dtmfEventDuration, 10)
		if err != nil {
			return nil, fmt.Errorf("sending DTMF %q: %w", digits, err)
		}
		for i, p := range pkts {
			s := dtmfSlot{Payload: p.Payload, Marker: p.Marker}
			if i == len(pkts)-1 {
				s.TSIncrement = uint32(len(pkts) * media.FrameSamples)
			}
			out = append(out, s)
		}
		pause(dtmfGap)
	}
	return out, nil
}
