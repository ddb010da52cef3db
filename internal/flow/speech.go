package flow

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/vxml"
	"github.com/parley-voice/parley/internal/webhook"
)

// Recognizer is the speech recogniser of speech <Gather>s (calls-more.md §C.5). app adapts the
// configured asr engine to it.
type Recognizer interface {
	// Recognize starts one streaming recognition. It fails when there is no model for the
	// language, when too many recognitions run, or when the engine cannot start; the Gather
	// then hears no speech. Cancelling ctx abandons the recognition.
	Recognize(ctx context.Context, o SpeechOptions) (Recognition, error)
}

// SpeechOptions are the Gather's recognition attributes (§C.1).
type SpeechOptions struct {
	Language    string
	Hints       []string
	SpeechModel string
	Profanity   bool // mask profane words in partial and final results
	Interim     bool // deliver partial results on Partials
}

// SpeechPartial is a partial hypothesis (§C.4): Stable is the part unlikely to change,
// Unstable the newer part, Stability 0–1 for Unstable (0 when the engine gives none).
type SpeechPartial struct {
	Stable, Unstable string
	Stability        float64
}

// SpeechHypothesis is the final result of a recognition: the transcript ("" when nothing was
// recognised) and its confidence 0–1.
type SpeechHypothesis struct {
	Text       string
	Confidence float64
}

// Recognition is one running recognition.
type Recognition interface {
	// Write queues a frame of the caller's audio (8 kHz); it never blocks (a frame that
	// cannot be queued is dropped).
	Write(frame []int16)
	// Partials delivers partial hypotheses when SpeechOptions.Interim was set; it is closed
	// when the recognition ends.
	Partials() <-chan SpeechPartial
	// Finish ends the audio and waits for the final hypothesis of everything written. An error
	// means the recogniser failed (§C.2: a no match).
	Finish(ctx context.Context) (SpeechHypothesis, error)
}

// InterimSender makes one request and ignores the reply (webhook.Client.SendOnce): interim
// results are neither retried nor stored (§C.4).
type InterimSender interface {
	SendOnce(ctx context.Context, r webhook.Request) error
}

// Speech is what speech <Gather>s need. A Runner without it (or without a Recognizer) hears no
// speech: §C.5's behaviour with asr_engine=none.
type Speech struct {
	Recognizer Recognizer
	// Interim sends interimSpeechResultsCallback requests; nil sends none.
	Interim InterimSender
	// AutoEnd is speechEndTimeout="auto" (asr_auto_end_ms); 0 means 1.5 s.
	AutoEnd time.Duration
	// InterimInterval is the least time between interim requests of one Gather
	// (asr_interim_interval); 0 means 250 ms.
	InterimInterval time.Duration
}

// Timing of speech input (§C.2).
const (
	speechOnset        = 100 * time.Millisecond // voice that counts as the start of speech
	speechRelease      = 50 * time.Millisecond  // the voice detector's gap between words
	maxSpeechCapture   = 60 * time.Second       // hard cap of one capture
	speechFinishLimit  = 10 * time.Second       // wait for the final hypothesis after the audio
	defaultAutoEnd     = 1500 * time.Millisecond
	defaultInterimStep = 250 * time.Millisecond
	// silentLinkMargin is added to speechEndTimeout when it is measured in wall time because
	// no packets come: late packets must not end speech early.
	silentLinkMargin = 500 * time.Millisecond
)

// speechCapture is the speech side of one Gather: the caller's received audio goes to the
// recogniser and to a voice detector, which says when speech starts and ends.
type speechCapture struct {
	rec       Recognition
	ring      *call.AudioRing
	removeTap func()
	cancel    context.CancelFunc
	started   chan struct{} // closed when speech starts and won the Gather (claim returned true)
	ended     chan struct{} // closed when the capture is over: silence after speech, or the cap
}

// startSpeech starts recognising the caller for e, or returns nil (after one warning per call)
// when no recognition can run. claim is asked at the start of speech; false means DTMF won
// and the speech is ignored.
func (x *run) startSpeech(e *vxml.Gather, claim func() bool) *speechCapture {
	sp := x.r.Speech
	if sp == nil || sp.Recognizer == nil {
		x.warnSpeechOnce("speech is not recognised: no speech recogniser is installed (asr_engine=none)", nil)
		return nil
	}
	ctx, cancel := context.WithCancel(x.ctx)
	rec, err := sp.Recognizer.Recognize(ctx, SpeechOptions{Language: e.Language, Hints: e.Hints,
		SpeechModel: e.SpeechModel, Profanity: e.ProfanityFilter, Interim: e.InterimURL != ""})
	if err != nil {
		cancel()
		x.warnSpeechOnce("speech is not recognised in this <Gather>", err, "language", e.Language)
		return nil
	}
	endAfter := e.SpeechEndTimeout
	if endAfter <= 0 {
		endAfter = sp.AutoEnd
	}
	if endAfter <= 0 {
		endAfter = defaultAutoEnd
	}
	s := &speechCapture{rec: rec, ring: call.NewAudioRing(2 * media.SampleRate), cancel: cancel,
		started: make(chan struct{}), ended: make(chan struct{})}
	s.removeTap = x.c.AddTap(call.TapReceived, func(pcm []int16) { s.ring.Write(pcm) })
	go s.listen(ctx, endAfter, claim)
	return s
}

// warnSpeechOnce warns that a Gather hears no speech, once per call (§C.5).
func (x *run) warnSpeechOnce(msg string, err error, args ...any) {
	if x.speechWarned {
		return
	}
	x.speechWarned = true
	if err != nil {
		args = append(args, "err", err)
	}
	x.warn(msg, args...)
}

// listen feeds the audio to the recogniser and the voice detector until the capture ends.
func (s *speechCapture) listen(ctx context.Context, endAfter time.Duration, claim func() bool) {
	vd := media.NewVoiceDetector(0, speechOnset, speechRelease)
	frame := make([]int16, media.SampleRate/50)
	speaking := false
	var since time.Duration
	// A far end that stops sending packets in silence (no comfort noise) feeds no silent
	// frames: speech then also ends after endAfter of wall time without voice.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastVoice time.Time
	end := func() {
		s.removeTap()
		close(s.ended)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if speaking && time.Since(lastVoice) >= endAfter+silentLinkMargin {
				end()
				return
			}
			continue
		case <-s.ring.Ready():
		}
		for {
			n := s.ring.Read(frame)
			if n == 0 {
				break
			}
			f := frame[:n]
			s.rec.Write(f)
			ev := vd.Feed(f)
			if !speaking && ev == media.VoiceStart {
				if !claim() {
					return // DTMF came first: the Gather stops the recognition
				}
				speaking, since = true, vd.Elapsed()
				close(s.started)
			}
			if vd.VoicedRun() > 0 {
				lastVoice = time.Now()
			}
			if speaking && (vd.SilentRun() >= endAfter || vd.Elapsed()-since >= maxSpeechCapture) {
				end()
				return
			}
		}
	}
}

// stop abandons the recognition (idempotent).
func (s *speechCapture) stop() {
	s.removeTap()
	s.cancel()
}

// result waits for the end of the capture and returns the final hypothesis; ok is false when
// the call ended first, err is the recogniser's failure.
func (s *speechCapture) result(ctx context.Context) (h SpeechHypothesis, ok bool, err error) {
	select {
	case <-ctx.Done():
		return h, false, nil
	case <-s.ended:
	}
	fctx, cancel := context.WithTimeout(ctx, speechFinishLimit)
	defer cancel()
	h, err = s.rec.Finish(fctx)
	if ctx.Err() != nil {
		return h, false, nil
	}
	return h, true, err
}

// sendInterims posts changed partial hypotheses to the Gather's interim callback (§C.4): at
// most one per interval, in order, numbered from 1, only once speech has started. It returns
// when the partials end or ctx ends.
func (x *run) sendInterims(ctx context.Context, e *vxml.Gather, s *speechCapture) {
	sp := x.r.Speech
	if sp.Interim == nil {
		return // partials are dropped when nobody reads them
	}
	step := sp.InterimInterval
	if step <= 0 {
		step = defaultInterimStep
	}
	tick := time.NewTicker(step)
	defer tick.Stop()
	var latest, sent SpeechPartial
	seq := 0
	partials := s.rec.Partials()
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-partials:
			if !ok {
				return
			}
			latest = p
			continue
		case <-tick.C:
		}
		select {
		case <-s.started:
		default:
			continue
		}
		if latest == sent || latest.Unstable == "" && latest.Stable == "" {
			continue
		}
		seq++
		sent = latest
		params := CallParams(x.c, "")
		params.Set("StableSpeech", latest.Stable)
		params.Set("UnstableSpeech", latest.Unstable)
		params.Set("Stability", twoDecimals(latest.Stability))
		params.Set("SequenceNumber", strconv.Itoa(seq))
		// On the call's context: a request under way finishes even when the Gather is over.
		if err := sp.Interim.SendOnce(x.ctx, webhookRequest(e.InterimURL, e.InterimMethod, params, x.s.AuthToken)); err != nil {
			x.log.Debug("interim speech result not delivered", "seq", seq, "err", err)
		}
	}
}

// twoDecimals formats a 0–1 score with at most 2 decimals (0.92, 0.5, 0).
func twoDecimals(v float64) string {
	return strconv.FormatFloat(math.Round(min(max(v, 0), 1)*100)/100, 'f', -1, 64)
}

// modality decides which input of a "dtmf speech" Gather came first (§C.2.2).
type modality struct {
	mu    sync.Mutex
	first string
}

// claim reports whether m ("dtmf" or "speech") is, or now becomes, the Gather's input.
func (g *modality) claim(m string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.first == "" {
		g.first = m
	}
	return g.first == m
}
