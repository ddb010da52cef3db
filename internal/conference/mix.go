package conference

import (
	"math"
	"slices"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// maxCatchUp is how many frames one late tick may mix to catch up; a room further behind skips
// the rest rather than bursting.
const maxCatchUp = 10

// onTick mixes every 20 ms frame due by now (several when the tick came late), then applies
// the room's timers.
func (r *room) onTick(now time.Time) {
	due := int64(now.Sub(r.epoch)/media.FrameDuration) - r.ticks
	if due <= 0 {
		return
	}
	if due > maxCatchUp {
		r.m.stats.skippedTicks.Add(due - maxCatchUp)
		r.ticks += due - maxCatchUp
		due = maxCatchUp
	}
	var start time.Time
	if r.m.opts.Observer != nil {
		start = time.Now() // wall time even under a test clock: this measures work, not schedule
	}
	for range due {
		r.ticks++
		r.mix()
	}
	if r.m.opts.Observer != nil {
		r.m.opts.Observer.TickDuration(time.Since(start))
	}
	r.m.stats.ticks.Add(due)
	if due > 1 {
		r.m.stats.lateTicks.Add(due - 1)
	}
	if len(r.members) > 0 && r.timeLimit > 0 && now.Sub(r.begun) >= r.timeLimit {
		r.log.Info("conference time limit reached", "time_limit", r.timeLimit)
		r.depart(slices.Clone(r.members), TimeLimit)
	}
}

// mix runs one 20 ms frame: sum the heard members and room sounds into the bus, then give each
// member the bus minus its own voice (or silence when deaf or waiting) plus its private and
// wait audio, and hand the bus to the recorder.
func (r *room) mix() {
	bus := &r.bus
	clear(bus[:])
	var lost int64
	r.talkChanged = r.talkChanged[:0]
	for _, x := range r.members {
		x.heard = false
		if !x.input.q.Pop(x.frame[:]) {
			if x.flowing {
				lost++
				x.fig.lost++
			}
			if x.talk.feed(0) {
				r.talkChanged = append(r.talkChanged, x)
			}
			continue
		}
		x.flowing = true
		x.fig.mixed++
		var level int
		if x.waiting || x.muted {
			level = frameLevel(&x.frame)
		} else {
			// Sum into the bus and measure the level in the same pass.
			x.heard = true
			var sum int32
			for i, s := range &x.frame {
				v := int32(s)
				bus[i] += v
				m := v >> 31
				sum += (v ^ m) - m
			}
			level = int(sum) / media.FrameSamples
		}
		if x.talk.feed(level) {
			r.talkChanged = append(r.talkChanged, x)
		}
	}
	if lost > 0 {
		r.m.stats.framesLost.Add(lost)
	}
	for _, x := range r.talkChanged {
		r.emit(Event{Kind: EventTalking, Talking: x.talk.talking}, x, nil)
	}
	if len(r.sounds) > 0 {
		r.mixSounds()
	}
	for _, x := range r.members {
		r.output(x)
	}
	if r.rec != nil {
		for i, v := range bus {
			r.recFrame[i] = clamp(v)
		}
		r.rec.push(&r.recFrame)
		if r.rec.expired() {
			r.stopRecording()
		}
	}
}

func (r *room) mixSounds() {
	kept := r.sounds[:0]
	for _, s := range r.sounds {
		n := min(media.FrameSamples, len(s.pcm)-s.pos)
		for i, v := range s.pcm[s.pos : s.pos+n] {
			r.bus[i] += int32(v)
		}
		s.pos += n
		if s.pos < len(s.pcm) {
			kept = append(kept, s)
		}
	}
	clear(r.sounds[len(kept):])
	r.sounds = kept
}

// output encodes and writes one frame to member x.
func (r *room) output(x *member) {
	hearRoom := !x.deaf && !x.waiting
	var item *privItem
	if len(x.private) > 0 && x.private[0].ready {
		item = x.private[0]
	}
	wait := x.waiting && len(x.wait) > 0
	switch {
	case !hearRoom && item == nil && !wait:
		r.write(x, x.silence[:])
		return
	case hearRoom && item == nil:
		// The common case: the room only, in one pass.
		pcm := &x.pcm
		if x.heard {
			for i, v := range &r.bus {
				pcm[i] = clamp(v - int32(x.frame[i]))
			}
		} else {
			for i, v := range &r.bus {
				pcm[i] = clamp(v)
			}
		}
		x.codec.Encode(x.payload[:], pcm[:])
		r.write(x, x.payload[:])
		return
	}
	acc := &r.acc
	switch {
	case !hearRoom:
		clear(acc[:])
	case x.heard:
		for i, v := range &r.bus {
			acc[i] = v - int32(x.frame[i])
		}
	default:
		*acc = r.bus
	}
	if item != nil {
		n := min(media.FrameSamples, len(item.pcm)-item.pos)
		for i, v := range item.pcm[item.pos : item.pos+n] {
			acc[i] += int32(v)
		}
		item.pos += n
		if item.pos >= len(item.pcm) {
			x.private[0] = nil
			x.private = x.private[1:]
		}
	}
	if wait {
		for i := range acc {
			acc[i] += int32(x.wait[x.waitPos])
			x.waitPos++
			if x.waitPos == len(x.wait) {
				x.waitPos = 0
			}
		}
	}
	for i, v := range acc {
		x.pcm[i] = clamp(v)
	}
	x.codec.Encode(x.payload[:], x.pcm[:])
	r.write(x, x.payload[:])
}

func (r *room) write(x *member, payload []byte) {
	if err := x.out.WriteFrame(payload); err != nil {
		r.m.stats.writeErrors.Add(1)
	}
}

func clamp(v int32) int16 { return int16(max(min(v, math.MaxInt16), math.MinInt16)) }
