package stream

import (
	"sync"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/streamspec"
)

// playout is the FIFO of the app's audio at 8 kHz with its checkpoints (§4.1, §4.2). The app
// side appends under mu; the call side pulls one 20 ms frame at a time under the same mu,
// which is held only for copies.
type playout struct {
	mu     sync.Mutex
	buf    []int16 // queued samples are buf[head:]
	head   int
	queued int64  // samples ever queued (since the last clear, counted from played)
	played int64  // samples ever played
	marks  []mark // pending checkpoints, in order
}

// mark is a checkpoint: it has played once played reaches pos.
type mark struct {
	pos  int64
	name string
}

// maxPlayoutSamples is MaxPlayout at 8 kHz.
const maxPlayoutSamples = int(MaxPlayout / media.FrameDuration * media.FrameSamples)

// add queues pcm and returns how many samples did not fit (dropped).
func (p *playout) add(pcm []int16) (dropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	room := maxPlayoutSamples - (len(p.buf) - p.head)
	if len(pcm) > room {
		dropped = len(pcm) - room
		pcm = pcm[:room]
	}
	if p.head > 0 && p.head >= len(p.buf)/2 {
		n := copy(p.buf, p.buf[p.head:])
		p.buf = p.buf[:n]
		p.head = 0
	}
	p.buf = append(p.buf, pcm...)
	p.queued += int64(len(pcm))
	return dropped
}

// checkpoint marks the end of what is queued now.
func (p *playout) checkpoint(name string) {
	p.mu.Lock()
	p.marks = append(p.marks, mark{pos: p.queued, name: name})
	p.mu.Unlock()
}

// clear drops the queued audio and voids the checkpoints; the frame being played is not
// affected, so the cut falls on the next 20 ms boundary.
func (p *playout) clear() {
	p.mu.Lock()
	p.buf, p.head = p.buf[:0], 0
	p.queued = p.played
	p.marks = nil
	p.mu.Unlock()
}

// next fills dst (media.FrameSamples) with the next frame, silence-padded, and returns whether
// it held any app audio and the names of the checkpoints that frame completed, appended to
// names. A checkpoint set on an empty queue completes with the next frame pulled.
func (p *playout) next(dst []int16, names []string) (bool, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := copy(dst, p.buf[p.head:])
	clear(dst[n:])
	p.head += n
	if p.head == len(p.buf) {
		p.buf, p.head = p.buf[:0], 0
	}
	p.played += int64(n)
	i := 0
	for ; i < len(p.marks) && p.marks[i].pos <= p.played; i++ {
		names = append(names, p.marks[i].name)
	}
	if i > 0 {
		p.marks = append(p.marks[:0], p.marks[i:]...)
	}
	return n > 0, names
}

// pending reports the queued duration in samples (for tests and stats).
func (p *playout) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf) - p.head
}

// playDecoder turns playAudio payloads into 8 kHz samples (§4.1): μ-law or L16 at any rate,
// L16 in a fixed or detected byte order, an odd trailing byte carried to the next message.
// Only the socket's reader uses it.
type playDecoder struct {
	def      Format    // start.mediaFormat: the default of a message that does not say
	order    ByteOrder // configured order; ByteOrderAuto detects
	detector orderDetector
	held     []heldChunk // L16 audio waiting for the order to be known
	heldLen  int         // samples in held
	carry    []byte      // an odd trailing L16 byte
	carryFmt Format
	rs       *media.Resampler
	rsRate   int
	scratch  []int16
}

type heldChunk struct {
	rate int
	data []byte
}

// maxHeldSamples forces a decision (little-endian if unclear) when this much audio, mostly
// silence, has been held undecided: 2 s at 8 kHz.
const maxHeldSamples = 16000

func newPlayDecoder(def Format, order ByteOrder) *playDecoder {
	return &playDecoder{def: def, order: order}
}

// format resolves a message's encoding and rate against the stream's defaults.
func (d *playDecoder) format(m appMessage) (Format, bool) {
	f := Format{Encoding: d.def.Encoding}
	if m.ContentType != "" {
		enc, rate, ok := streamspec.ParseMediaType(m.ContentType)
		if !ok {
			return f, false
		}
		f = Format{Encoding: enc, SampleRate: rate}
	}
	if m.SampleRate > 0 {
		f.SampleRate = m.SampleRate
	}
	if f.SampleRate == 0 {
		f.SampleRate = 8000
		if f.Encoding == d.def.Encoding {
			f.SampleRate = d.def.SampleRate
		}
	}
	return f, true
}

// decode appends to out the 8 kHz samples ready after message m. ok is false when the
// message's contentType is not understood.
func (d *playDecoder) decode(out []int16, m appMessage) ([]int16, bool) {
	f, ok := d.format(m)
	if !ok {
		return out, false
	}
	data := m.Payload
	if f.Encoding == EncodingMulaw {
		d.carry = d.carry[:0]
		d.scratch = decodeMulaw(d.scratch[:0], data)
		return d.resample(out, f.SampleRate, d.scratch), true
	}
	if len(d.carry) > 0 && d.carryFmt == f {
		data = append(append([]byte(nil), d.carry...), data...)
	}
	d.carry = d.carry[:0]
	if len(data)%2 == 1 {
		d.carry = append(d.carry, data[len(data)-1])
		d.carryFmt = f
		data = data[:len(data)-1]
	}
	if len(data) == 0 {
		return out, true
	}
	if d.order == ByteOrderAuto {
		d.held = append(d.held, heldChunk{rate: f.SampleRate, data: append([]byte(nil), data...)})
		d.heldLen += len(data) / 2 * 8000 / f.SampleRate
		order, decided := d.detector.feed(data)
		if !decided && d.heldLen >= maxHeldSamples {
			order, decided = d.detector.decide(true)
		}
		if !decided {
			return out, true
		}
		d.order = order
		return d.release(out), true
	}
	d.scratch = decodeL16(d.scratch[:0], data, d.order)
	return d.resample(out, f.SampleRate, d.scratch), true
}

// release decodes the held L16 audio in the now known order.
func (d *playDecoder) release(out []int16) []int16 {
	for _, h := range d.held {
		d.scratch = decodeL16(d.scratch[:0], h.data, d.order)
		out = d.resample(out, h.rate, d.scratch)
	}
	d.held, d.heldLen = nil, 0
	return out
}

// resample converts pcm at rate to 8 kHz through a resampler kept across messages of the same
// rate, so that chunk edges do not click.
func (d *playDecoder) resample(out []int16, rate int, pcm []int16) []int16 {
	if rate == media.SampleRate {
		out = d.drain(out)
		return append(out, pcm...)
	}
	if d.rs == nil || d.rsRate != rate {
		out = d.drain(out)
		d.rs, d.rsRate = media.NewResampler(rate, media.SampleRate), rate
		if d.rs == nil {
			return out
		}
	}
	return d.rs.Write(out, pcm)
}

// drain flushes the resampler's tail.
func (d *playDecoder) drain(out []int16) []int16 {
	if d.rs != nil {
		out = d.rs.Flush(out)
		d.rs, d.rsRate = nil, 0
	}
	return out
}

// flush appends everything the decoder still holds (audio held for the byte order, the
// resampler's tail): a checkpoint must follow all audio sent before it.
func (d *playDecoder) flush(out []int16) []int16 {
	if len(d.held) > 0 {
		if d.order == ByteOrderAuto {
			d.order, _ = d.detector.decide(true)
		}
		out = d.release(out)
	}
	return d.drain(out)
}

// reset drops what the decoder holds (clearAudio); a detected byte order is kept.
func (d *playDecoder) reset() {
	d.held, d.heldLen = nil, 0
	d.carry = d.carry[:0]
	d.rs, d.rsRate = nil, 0
}
