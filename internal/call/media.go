package call

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// mediaPath owns a call's RTP (the leg's media half only): one goroutine reads every received
// packet and hands audio and digits to whoever listens now; another (the pump) is the clock of
// outgoing audio while the flow owns it. A conference or a Dial bridge takes the output over
// with TakeOutput and gives it back; meanwhile the pump is parked.
type mediaPath struct {
	c   *Call
	leg LegMedia

	startOnce sync.Once
	stopOnce  sync.Once
	stopped   chan struct{}

	lastRx   atomic.Int64  // unix nanos of the last received packet
	timedOut atomic.Bool   // the media timeout fired (it hangs up once)
	wakeups  atomic.Uint64 // pump wake-ups, for tests of parking
	// onMediaTimeout ends the call when the media timeout fires (tests observe it instead).
	onMediaTimeout func()

	audioSink atomic.Pointer[func([]int16)]
	digitSink atomic.Pointer[func(rune)]
	// Taps see audio in each direction and overlays are mixed into what is sent, whoever owns
	// the output (taps.go).
	inTaps    cowList[func([]int16)]
	outTaps   cowList[func([]int16)]
	digitTaps cowList[func(rune)]
	overlays  cowList[OverlaySource]
	recTapsMu sync.Mutex
	recTaps   []func() // removers of the session recording's taps (SetTaps)

	// outMu guards the output state below and serialises writes to the leg.
	outMu    sync.Mutex
	taken    bool
	given    chan struct{} // while taken: closed when the output is given back
	output   *Output       // while taken: the owner's output
	playing  *playback
	digits   []dtmfSlot    // pending RFC 4733 packets, one per tick
	digitsCh chan struct{} // closed when the pending digits are sent
}

type playback struct {
	src  media.Source
	done chan error
}

func newMediaPath(c *Call) *mediaPath {
	return &mediaPath{c: c, leg: c.rtp, stopped: make(chan struct{}),
		onMediaTimeout: func() { go c.Hangup(CauseMediaTimeout, SourceVobiz, 0) }}
}

func (m *mediaPath) start() {
	m.startOnce.Do(func() {
		m.lastRx.Store(time.Now().UnixNano())
		go m.readLoop()
		go m.pump()
		if src, ok := m.c.leg.(InfoDigitSource); ok {
			go m.infoDigitLoop(src.InfoDigits())
		}
	})
}

func (m *mediaPath) stop() {
	m.stopOnce.Do(func() { close(m.stopped) })
	m.outMu.Lock()
	if m.playing != nil {
		m.playing.done <- ErrEnded
		m.playing = nil
	}
	if m.digitsCh != nil {
		close(m.digitsCh)
		m.digitsCh, m.digits = nil, nil
	}
	m.outMu.Unlock()
}

// readLoop hands every received packet to the current listeners.
func (m *mediaPath) readLoop() {
	buf := make([]byte, 1500)
	pcm := make([]int16, media.FrameSamples)
	var dtmf *media.DTMFDetector
	for {
		pkt, err := m.leg.ReadPacket(buf)
		if err != nil {
			return
		}
		m.lastRx.Store(time.Now().UnixNano())
		if te := m.leg.TelephoneEventPT(); te != 0 && pkt.PayloadType == te {
			if dtmf == nil {
				dtmf = media.NewDTMFDetector(te)
			}
			if digit, ok := dtmf.Feed(pkt); ok {
				m.c.log.Debug("dtmf received", "digit", string(digit))
				m.digit(digit)
			}
			continue
		}
		codec, ok := media.CodecFromPayloadType(pkt.PayloadType)
		if !ok || len(pkt.Payload) == 0 {
			continue // comfort noise and unknown payloads are not audio for us
		}
		sink := m.audioSink.Load()
		taps := m.inTaps.load()
		if sink == nil && len(taps) == 0 {
			continue
		}
		n := len(pkt.Payload)
		if n > len(pcm) {
			pcm = make([]int16, n)
		}
		codec.Decode(pcm[:n], pkt.Payload)
		runTaps(taps, pcm[:n])
		if sink != nil {
			(*sink)(pcm[:n])
		}
	}
}

// infoDigitLoop hands digits received as SIP INFO to the current digit sink.
func (m *mediaPath) infoDigitLoop(digits <-chan rune) {
	for {
		select {
		case <-m.stopped:
			return
		case d := <-digits:
			m.c.log.Debug("dtmf received (SIP INFO)", "digit", string(d))
			m.digit(d)
		}
	}
}

// digit hands a received digit to the digit taps, then to the current digit sink.
func (m *mediaPath) digit(d rune) {
	for _, tap := range m.digitTaps.load() {
		tap(d)
	}
	if sink := m.digitSink.Load(); sink != nil {
		(*sink)(d)
	}
}

// pump is the clock of outgoing audio while the flow owns it: every 20 ms it writes one frame of
// the current playback, a pending DTMF packet, or silence. While a room or a bridge owns the
// output it is parked (see park). It also enforces the media timeout.
func (m *mediaPath) pump() {
	frame := make([]int16, media.FrameSamples)
	scratch := make([]int16, media.FrameSamples)
	payload := make([]byte, media.FrameSamples)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-m.stopped:
			return
		case <-timer.C:
		}
		m.wakeups.Add(1)
		m.checkMediaTimeout()
		if given := m.tick(frame, scratch, payload); given != nil {
			if !m.park(given) {
				return
			}
			next = time.Now() // the owner was the clock meanwhile: start a fresh one
			timer.Reset(0)
			continue
		}
		next = next.Add(media.FrameDuration)
		wait := time.Until(next)
		if wait < -200*time.Millisecond {
			// Far behind (the machine stalled): restart the clock instead of bursting.
			next = time.Now()
			wait = 0
		}
		timer.Reset(max(wait, 0))
	}
}

// park blocks the pump until the output is given back (true) or the call's media stops
// (false). It wakes meanwhile only when the media timeout may be due.
func (m *mediaPath) park(given <-chan struct{}) bool {
	timer := time.NewTimer(m.mediaTimeoutCheckIn())
	defer timer.Stop()
	for {
		select {
		case <-m.stopped:
			return false
		case <-given:
			return true
		case <-timer.C:
			m.wakeups.Add(1)
			m.checkMediaTimeout()
			timer.Reset(m.mediaTimeoutCheckIn())
		}
	}
}

// parkedRecheck is how often a parked pump looks again at a media timeout that cannot fire now
// (not answered, peer on hold); a re-INVITE may change that.
const parkedRecheck = time.Second

// mediaTimeoutCheckIn is how long a parked pump may sleep before the media timeout could be due.
func (m *mediaPath) mediaTimeoutCheckIn() time.Duration {
	limit := m.c.opts.MediaTimeout
	if limit <= 0 || m.timedOut.Load() {
		return time.Hour // never due: the owner's release wakes the pump
	}
	if !m.c.IsAnswered() || !m.leg.RemoteSendsMedia() {
		return parkedRecheck
	}
	due := time.Until(time.Unix(0, m.lastRx.Load()).Add(limit))
	return max(due, media.FrameDuration)
}

// tick writes one frame of the flow's audio, overlays mixed in. When a room or a bridge owns the
// output it writes nothing and returns the channel closed when the output is given back.
func (m *mediaPath) tick(frame, scratch []int16, payload []byte) (given <-chan struct{}) {
	m.outMu.Lock()
	defer m.outMu.Unlock()
	if m.taken {
		return m.given
	}
	leg := m.leg
	if len(m.digits) > 0 {
		p := m.digits[0]
		m.digits = m.digits[1:]
		if len(m.digits) == 0 && m.digitsCh != nil {
			close(m.digitsCh)
			m.digitsCh = nil
		}
		if !p.Pause {
			if err := leg.WriteRTP(p.Payload, leg.TelephoneEventPT(), p.Marker, p.TSIncrement); err != nil {
				m.c.log.Debug("rtp write failed", "err", err)
			}
			return nil
		}
		// A pause slot between digits carries ordinary audio.
	}
	codec := leg.Codec()
	if pb := m.playing; pb != nil {
		err := pb.src.ReadFrame(frame)
		if err != nil {
			m.playing = nil
			if errors.Is(err, io.EOF) {
				err = nil
			}
			pb.done <- err
			clear(frame)
		}
	} else {
		clear(frame)
	}
	mixOverlays(m.overlays.load(), frame, scratch, nil, codec)
	runTaps(m.outTaps.load(), frame)
	codec.Encode(payload, frame)
	if err := leg.WriteRTP(payload, codec.PayloadType(), false, samplesIn(payload)); err != nil {
		m.c.log.Debug("rtp write failed", "err", err)
	}
	return nil
}

// samplesIn is how many samples an encoded G.711 payload carries (one byte each): what the RTP
// timestamp advances by after it.
func samplesIn(payload []byte) uint32 { return uint32(len(payload)) }

// checkMediaTimeout hangs up, once, an answered call that has received no RTP for too long.
func (m *mediaPath) checkMediaTimeout() {
	limit := m.c.opts.MediaTimeout
	if limit <= 0 || m.timedOut.Load() || !m.c.IsAnswered() || !m.leg.RemoteSendsMedia() {
		return
	}
	if time.Since(time.Unix(0, m.lastRx.Load())) > limit && !m.timedOut.Swap(true) {
		m.c.log.Warn("no RTP received: media timeout", "timeout", limit)
		m.onMediaTimeout()
	}
}

// ErrMediaNotReady is returned when audio is played before the call has early media or is
// answered.
var ErrMediaNotReady = errors.New("call has no media yet (neither answered nor in early media)")

// Play sends src to the caller at real-time pace and returns when it is exhausted, when ctx
// ends (the element was interrupted) or when the call ends.
func (c *Call) Play(ctx context.Context, src media.Source) error {
	if st := c.State(); st == Ended {
		return ErrEnded
	} else if st == Ringing {
		return ErrMediaNotReady
	}
	m := c.media
	pb := &playback{src: src, done: make(chan error, 1)}
	m.outMu.Lock()
	if m.taken {
		m.outMu.Unlock()
		return errors.New("call audio is owned by a conference")
	}
	if old := m.playing; old != nil {
		old.done <- context.Canceled
	}
	m.playing = pb
	m.outMu.Unlock()
	select {
	case err := <-pb.done:
		return err
	case <-ctx.Done():
		m.outMu.Lock()
		if m.playing == pb {
			m.playing = nil
		}
		m.outMu.Unlock()
		return ctx.Err()
	}
}

// SendDigits sends DTMF digits as RFC 4733 events on the call's clock ('w' pauses 0.5 s, 'W'
// 1 s). It returns when they are sent, or at once with wait false. While a room or a bridge
// owns the output, the digits go out on the owner's clock and it returns once they are queued.
func (c *Call) SendDigits(ctx context.Context, digits string, wait bool) error {
	if c.State() == Ended {
		return ErrEnded
	}
	if c.rtp.TelephoneEventPT() == 0 {
		sender, ok := c.leg.(InfoDigitSender)
		if !ok {
			return errors.New("the far end did not negotiate telephone-event")
		}
		if _, err := dtmfTrain(digits); err != nil {
			return err
		}
		if !wait {
			go func() { _ = c.sendInfoDigits(c.ctx, sender, digits) }()
			return nil
		}
		return c.sendInfoDigits(ctx, sender, digits)
	}
	pkts, err := dtmfTrain(digits)
	if err != nil {
		return err
	}
	m := c.media
	m.outMu.Lock()
	if o := m.output; o != nil {
		// A room or a bridge owns the output: the digits go out in place of its next frames,
		// on its clock, as relayed digits do. Nothing reports when they are sent.
		m.outMu.Unlock()
		o.queueDigits(pkts)
		return nil
	}
	m.digits = append(m.digits, pkts...)
	if m.digitsCh == nil {
		m.digitsCh = make(chan struct{})
	}
	done := m.digitsCh
	m.outMu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendInfoDigits sends digits as SIP INFO requests, with the same timing as RFC 4733 events.
func (c *Call) sendInfoDigits(ctx context.Context, sender InfoDigitSender, digits string) error {
	for _, d := range digits {
		var pause time.Duration
		switch d {
		case 'w':
			pause = 500 * time.Millisecond
		case 'W':
			pause = time.Second
		default:
			if err := sender.SendInfoDigit(ctx, d, dtmfEventDuration); err != nil {
				return err
			}
			pause = dtmfEventDuration + dtmfGap
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return nil
}

// SetAudioSink sets who receives decoded audio frames (nil: nobody). The sink runs on the
// call's RTP reader goroutine and must not block.
func (c *Call) SetAudioSink(sink func(pcm []int16)) {
	if sink == nil {
		c.media.audioSink.Store(nil)
		return
	}
	c.media.audioSink.Store(&sink)
}

// SetDigitSink sets who receives DTMF digits (nil: digits are discarded). The sink runs on the
// call's RTP reader goroutine and must not block.
func (c *Call) SetDigitSink(sink func(digit rune)) {
	if sink == nil {
		c.media.digitSink.Store(nil)
		return
	}
	c.media.digitSink.Store(&sink)
}

// Output is the call's outgoing audio while a conference room or a Dial bridge owns it. It
// needs only the leg's media half.
type Output struct {
	c        *Call
	leg      LegMedia
	released atomic.Bool

	mu      sync.Mutex
	pending []dtmfSlot // relayed digits, sent in place of audio frames

	// Buffers for overlays and taps (one writer at a time).
	pcm, scratch []int16
	enc          []byte
}

// TakeOutput hands the call's outgoing audio to the caller (a conference room or a Dial
// bridge): the pump is parked until Release. Any playback in progress is interrupted.
func (c *Call) TakeOutput() (*Output, error) {
	if c.State() == Ended {
		return nil, ErrEnded
	}
	m := c.media
	m.outMu.Lock()
	defer m.outMu.Unlock()
	if m.taken {
		return nil, errors.New("call audio is already owned by a conference")
	}
	m.taken = true
	m.given = make(chan struct{})
	if m.playing != nil {
		m.playing.done <- context.Canceled
		m.playing = nil
	}
	m.output = &Output{c: c, leg: c.rtp}
	return m.output, nil
}

// Codec of the call.
func (o *Output) Codec() media.Codec { return o.leg.Codec() }

// WriteFrame sends one encoded frame at once (the owner is the clock): 20 ms from a room, or
// whatever the other leg's packets carry when a Dial bridge relays them (e.g. 30 ms). The RTP
// timestamp advances by the frame's samples. The call's overlays are mixed in and its sent-audio
// taps see the result. While a relayed digit is pending, its RFC 4733 packet goes out in the
// frame's place.
func (o *Output) WriteFrame(payload []byte) error {
	if o.released.Load() {
		return errors.New("output released")
	}
	o.mu.Lock()
	if len(o.pending) > 0 {
		p := o.pending[0]
		o.pending = o.pending[1:]
		o.mu.Unlock()
		if !p.Pause { // a pause slot between digits carries the frame
			return o.leg.WriteRTP(p.Payload, o.leg.TelephoneEventPT(), p.Marker, p.TSIncrement)
		}
		return o.writeAudio(payload)
	}
	o.mu.Unlock()
	return o.writeAudio(payload)
}

// writeAudio sends one audio frame with the overlays mixed in, through the taps. A frame with
// neither overlay samples nor taps is sent as it is, without decoding.
func (o *Output) writeAudio(payload []byte) error {
	leg, m := o.leg, o.c.media
	codec := leg.Codec()
	overlays, taps := m.overlays.load(), m.outTaps.load()
	if len(overlays) > 0 || len(taps) > 0 {
		n := len(payload)
		if len(o.pcm) < n {
			o.pcm, o.scratch, o.enc = make([]int16, n), make([]int16, n), make([]byte, n)
		}
		pcm := o.pcm[:n]
		decoded := mixOverlays(overlays, pcm, o.scratch, payload, codec)
		if decoded {
			codec.Encode(o.enc[:n], pcm)
			payload = o.enc[:n]
		}
		if len(taps) > 0 {
			if !decoded {
				codec.Decode(pcm, payload)
			}
			runTaps(taps, pcm)
		}
	}
	return leg.WriteRTP(payload, codec.PayloadType(), false, samplesIn(payload))
}

// SendDigit queues one RFC 4733 digit for the following frames (used to relay DTMF inside a
// room). Legs without telephone-event drop it.
func (o *Output) SendDigit(digit rune) error {
	if o.leg.TelephoneEventPT() == 0 {
		return nil
	}
	pkts, err := dtmfTrain(string(digit))
	if err != nil {
		return err
	}
	o.queueDigits(pkts)
	return nil
}

func (o *Output) queueDigits(pkts []dtmfSlot) {
	o.mu.Lock()
	o.pending = append(o.pending, pkts...)
	o.mu.Unlock()
}

// Release gives the outgoing audio back to the call's own pump. Idempotent.
func (o *Output) Release() {
	if o.released.Swap(true) {
		return
	}
	m := o.c.media
	m.outMu.Lock()
	m.taken = false
	close(m.given)
	m.given = nil
	m.output = nil
	m.outMu.Unlock()
}
