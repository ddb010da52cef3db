// Package siptest is a SIP user agent for tests: it places calls to a SIP server over UDP,
// TCP or TLS (optionally with SRTP, SDES keys), sends audio from a media.Source every 20 ms
// (or, to try a far end's resilience, with lost packets, pauses and bursts), records every
// audio packet it receives (decoded to PCM), sends RFC 4733 or SIP INFO DTMF, records SIP INFO
// DTMF it receives and hangs up or waits for the server to hang up. It can also act as a
// registered phone (Listen, Register) that answers, rejects or ignores the calls it receives.
//
// It is built on diago/sipgo, an implementation independent of the Parley server's own SDP
// and RTP code, so tests exercise real interoperability. It must only be used by tests and
// tools, and it exposes plain Go types only (no diago or sipgo types).
package siptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/pion/rtp"

	"github.com/parley-voice/parley/internal/media"
)

// Options configure a Client.
type Options struct {
	// LocalIP is the address to bind SIP and RTP sockets on. Default "127.0.0.1".
	LocalIP string
	// Logger receives the logs of the client and of diago/sipgo; nil discards them.
	Logger *slog.Logger
	// SharedClock sends the audio of every call from one goroutine instead of a ticker and a
	// goroutine per call: it wakes every 2 ms and sends a frame for each call of that slot of
	// the 20 ms frame (calls take the slots in turn). Load tests with hundreds of calls use
	// it to save most of the wake-ups of their callers.
	SharedClock bool
}

// Client places test calls. Each call gets its own SIP user agent and sockets, so calls never
// interfere; a Client only keeps track of them so that Close can end them all.
type Client struct {
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
	calls []*Call
	phone *phone     // set by Listen
	clock *sendClock // Options.SharedClock
}

// NewClient returns a Client.
func NewClient(opts Options) (*Client, error) {
	if opts.LocalIP == "" {
		opts.LocalIP = "127.0.0.1"
	}
	if net.ParseIP(opts.LocalIP) == nil {
		return nil, fmt.Errorf("siptest: LocalIP %q is not an IP address", opts.LocalIP)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{opts: opts, log: opts.Logger}
	if opts.SharedClock {
		c.clock = newSendClock()
	}
	return c, nil
}

// Close ends every call of the client (BYE or CANCEL) and frees their sockets.
func (c *Client) Close() {
	c.mu.Lock()
	calls := c.calls
	c.calls = nil
	p := c.phone
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, call := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); call.Close() }()
	}
	wg.Wait()
	if p != nil {
		p.close()
	}
	if c.clock != nil {
		c.clock.close()
	}
}

// DialOptions describe one outgoing test call.
type DialOptions struct {
	From        string // From user, e.g. "+14155550100"; default "siptest"
	FromDisplay string // From display name
	Codec       media.Codec
	Transport   string            // "udp" (default), "tcp" or "tls"
	Send        media.Source      // audio sent every 20 ms after answer; nil = silence
	Headers     map[string]string // extra INVITE headers, e.g. X-PH-Foo
	EarlyMedia  bool              // accept 183 with SDP and record its audio
	Username    string            // digest credentials, used when challenged
	Password    string
	// NoTelephoneEvent leaves telephone-event out of the SDP, so the far end must send DTMF
	// as SIP INFO.
	NoTelephoneEvent bool
	// InfoStatus is the status answered to a received SIP INFO DTMF; 0 means 200.
	InfoStatus int
	// TLS is the client configuration of Transport "tls" (RootCAs, or InsecureSkipVerify);
	// nil verifies against the system's roots.
	TLS *tls.Config
	// SRTP offers RTP/SAVP with an SDES key (AES_CM_128_HMAC_SHA1_80) and encrypts and
	// decrypts the call's RTP.
	SRTP bool
	// DropEvery, when above 1, leaves every DropEvery-th audio packet unsent after it got its
	// sequence number and timestamp, as a lossy network would: the far end sees the gaps.
	DropEvery int
}

// Frame is one received audio packet, decoded.
type Frame struct {
	At        time.Time
	PCM       []int16
	PT        uint8
	Seq       uint16
	Timestamp uint32
}

// DTMFOptions shape a DTMF train.
type DTMFOptions struct {
	// FirstDurationZero sends the first (marker) packet of each event with duration 0, as
	// SIPp's pcaps do; valid RFC 4733 that some stacks mishandle.
	FirstDurationZero bool
}

// Call is one test call.
type Call struct {
	c      *Client
	log    *slog.Logger
	opts   DialOptions
	ua     *sipgo.UserAgent
	dg     *diago.Diago
	cancel context.CancelFunc // stops the UA's listeners

	inviteCancel context.CancelFunc
	dialog       *diago.DialogClientSession

	// Set for a call the phone received (Listen).
	incoming    bool
	sdialog     *diago.DialogServerSession
	invite      map[string]string // headers of the received INVITE, by lower-case name
	fromUser    string
	fromDisplay string
	callID      string

	answered chan struct{}
	settled  chan struct{} // INVITE has its final outcome
	ended    chan struct{} // call over: rejected, cancelled or BYE either way
	endOnce  sync.Once

	mu          sync.Mutex
	med         *diago.DialogMedia
	status      int
	responses   []int
	err         error
	frames      []Frame
	infoDigits  []rune
	src         media.Source
	dtmfQueue   []dtmfTick
	pauseUntil  time.Time // no audio is sent before this (PauseSending)
	burst       int       // extra frames to send at once on the next tick (Burst)
	readStarted bool
	readGate    sync.RWMutex

	localBye  atomic.Bool
	remoteBye atomic.Bool
	closed    atomic.Bool
	wg        sync.WaitGroup
}

type dtmfTick struct {
	pkts    [][]byte
	marker  bool   // marker on the first packet
	advance uint32 // timestamp advance after this tick (end of event)
	done    chan struct{}
}

// Dial sends an INVITE to target (e.g. "sip:1000@127.0.0.1:5060") and returns at once; use
// Answered, Settled and FinalStatus to follow it.
func (c *Client) Dial(ctx context.Context, target string, opts DialOptions) (*Call, error) {
	if opts.Codec != media.PCMU && opts.Codec != media.PCMA {
		return nil, fmt.Errorf("siptest: codec %d is not PCMU or PCMA", opts.Codec)
	}
	if opts.Transport == "" {
		opts.Transport = "udp"
	}
	opts.Transport = strings.ToLower(opts.Transport)
	if opts.From == "" {
		opts.From = "siptest"
	}
	var uri sip.Uri
	if err := sip.ParseUri(target, &uri); err != nil {
		return nil, fmt.Errorf("siptest: target %q: %w", target, err)
	}
	var uaOpts []sipgo.UserAgentOption
	if opts.TLS != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(opts.TLS))
	}
	ua, err := c.newUA("siptest", uaOpts...)
	if err != nil {
		return nil, err
	}
	srtp := 0
	if opts.SRTP {
		srtp = 1 // SDES
	}
	dgOpts := []diago.DiagoOption{diago.WithLogger(c.log),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: c.opts.LocalIP, BindPort: 0, MediaSRTP: srtp}),
		diago.WithTransport(diago.Transport{Transport: "tcp", BindHost: c.opts.LocalIP, BindPort: 0, MediaSRTP: srtp}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: diagoCodecs(opts.Codec, opts.NoTelephoneEvent)}),
		diago.WithServerRequestMiddleware(c.infoMiddleware),
	}
	if opts.Transport == "tls" {
		// diago needs a TLS listener of its own to place calls over TLS; the server reaches
		// this call over the connection the call opened (its Contact is rewritten).
		lconf, err := listenerTLSConfig(c.opts.LocalIP)
		if err != nil {
			ua.Close()
			return nil, err
		}
		dgOpts = append(dgOpts, diago.WithTransport(diago.Transport{Transport: "tls", BindHost: c.opts.LocalIP, BindPort: 0,
			MediaSRTP: srtp, TLSConf: lconf, TLSURINoSIPS: true}))
	}
	dg := diago.NewDiago(ua, dgOpts...)
	sctx, cancel := context.WithCancel(context.Background())
	if err := dg.ServeBackground(sctx, func(d *diago.DialogServerSession) {
		_ = d.Respond(486, "Busy Here", nil) // this UA does not take calls
	}); err != nil {
		cancel()
		ua.Close()
		return nil, fmt.Errorf("siptest: starting user agent: %w", err)
	}
	// diago reports ready a moment before sipgo records the listening sockets; an INVITE sent
	// in that window makes sipgo open a second socket on the same port, which fails.
	if err := waitListening(ua, c.opts.LocalIP); err != nil {
		cancel()
		ua.Close()
		return nil, err
	}
	d, err := dg.NewDialog(uri, diago.NewDialogOptions{Transport: opts.Transport})
	if err != nil {
		cancel()
		ua.Close()
		return nil, fmt.Errorf("siptest: %w", err)
	}
	cid := sip.CallIDHeader(uuid.NewString())
	d.InviteRequest.AppendHeader(&cid)
	call := &Call{
		c: c, log: c.log.With("sip_call_id", string(cid)), opts: opts, ua: ua, dg: dg, cancel: cancel, dialog: d, callID: string(cid),
		answered: make(chan struct{}), settled: make(chan struct{}), ended: make(chan struct{}), src: opts.Send,
	}
	hdrs := []sip.Header{&sip.FromHeader{DisplayName: opts.FromDisplay,
		Address: sip.Uri{Scheme: "sip", User: opts.From, Host: c.opts.LocalIP}, Params: sip.NewParams()}}
	for k, v := range opts.Headers {
		hdrs = append(hdrs, sip.NewHeader(k, v))
	}
	ictx, icancel := context.WithCancel(context.Background())
	call.inviteCancel = icancel
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	call.wg.Add(1)
	go call.run(ictx, hdrs)
	return call, nil
}

// newUA is a sipgo user agent named name on the client's address, logging to its logger.
func (c *Client) newUA(name string, extra ...sipgo.UserAgentOption) (*sipgo.UserAgent, error) {
	ua, err := sipgo.NewUA(append([]sipgo.UserAgentOption{sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(c.opts.LocalIP),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(c.log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(c.log))}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("siptest: %w", err)
	}
	return ua, nil
}

// diagoCodecs are the codecs a call offers or accepts: codec and, unless noTE, telephone-event.
func diagoCodecs(codec media.Codec, noTE bool) []dmedia.Codec {
	audio := dmedia.CodecAudioUlaw
	if codec == media.PCMA {
		audio = dmedia.CodecAudioAlaw
	}
	if noTE {
		return []dmedia.Codec{audio}
	}
	return []dmedia.Codec{audio, dmedia.CodecTelephoneEvent8000}
}

// waitListening waits until the user agent's UDP and TCP listeners are registered with
// sipgo's transport layer, so that requests reuse them.
func waitListening(ua *sipgo.UserAgent, ip string) error {
	tl := ua.TransportLayer()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		udp, tcp := tl.ListenPorts("udp"), tl.ListenPorts("tcp")
		if len(udp) == 0 || len(tcp) == 0 {
			continue
		}
		conn, err := tl.GetConnection("udp", net.JoinHostPort(ip, strconv.Itoa(udp[0])))
		if err == nil && conn != nil {
			_, _ = conn.TryClose() // drops the reference GetConnection took
			return nil
		}
	}
	return errors.New("siptest: the user agent's listeners did not come up")
}

func (call *Call) run(ictx context.Context, hdrs []sip.Header) {
	defer call.wg.Done()
	d := call.dialog
	var med *diago.DialogMedia
	gated := false
	onResp := func(res *sip.Response) error {
		call.record(res.StatusCode)
		if res.StatusCode >= 200 && med != nil && !gated {
			// diago applies the 200's SDP to the early-media session while our reader
			// uses it (a data race inside diago): park the reader until that is done.
			if ms := med.MediaSession(); ms != nil {
				_ = ms.StopRTP(1, 0)
			}
			call.readGate.Lock()
			gated = true
		}
		return nil
	}
	med, err := d.Invite(ictx, diago.InviteClientOptions{Headers: hdrs, OnResponse: onResp,
		EarlyMediaDetect: call.opts.EarlyMedia, Username: call.opts.Username, Password: call.opts.Password})
	if errors.Is(err, diago.ErrClientEarlyMedia) {
		if rs := med.RTPSession(); rs != nil {
			_ = rs.MonitorClose() // diago's RTCP monitor also races with the 200's SDP; RTCP is not needed here
		}
		call.startReader(med)
		err = d.WaitAnswer(ictx, med, sipgo.AnswerOptions{OnResponse: onResp, Username: call.opts.Username, Password: call.opts.Password})
		if gated {
			if ms := med.MediaSession(); ms != nil {
				_ = ms.StartRTP(1)
			}
			call.readGate.Unlock()
		}
	}
	if err == nil {
		err = d.Ack(context.Background())
	}
	if err != nil {
		var re *sipgo.ErrDialogResponse
		var re2 sipgo.ErrDialogResponse
		status := 0
		switch {
		case errors.As(err, &re):
			status = re.Res.StatusCode
		case errors.As(err, &re2):
			status = re2.Res.StatusCode
		case ictx.Err() != nil && call.FinalStatus() == 0:
			status = 487
		}
		call.log.Debug("call not answered", "err", err)
		call.fail(status, err)
		return
	}
	call.answer(med)
	call.startMedia(med)
	call.waitBye(d.Context(), ictx)
}

// record notes a response to the INVITE, sent or received; a final one is the call's status.
func (call *Call) record(status int) {
	call.mu.Lock()
	call.responses = append(call.responses, status)
	if status >= 200 {
		call.status = status
	}
	call.mu.Unlock()
}

// fail settles and ends a call that was not answered; status 0 keeps the one recorded.
func (call *Call) fail(status int, err error) {
	call.mu.Lock()
	if status != 0 {
		call.status = status
	}
	call.err = err
	call.mu.Unlock()
	close(call.settled)
	call.finish()
}

// answer settles the call as answered, with med as its media.
func (call *Call) answer(med *diago.DialogMedia) {
	call.mu.Lock()
	call.status = 200
	call.med = med
	call.mu.Unlock()
	close(call.settled)
	close(call.answered)
}

// startMedia starts recording what med receives and sending audio on it.
func (call *Call) startMedia(med *diago.DialogMedia) {
	call.startReader(med)
	call.wg.Add(1)
	go call.sendLoop(med)
}

// waitBye ends the answered call once its dialog ends (dialog is done; a BYE unless we sent
// one) or once stop is done (Close: a dead far end must not keep the call waiting).
func (call *Call) waitBye(dialog, stop context.Context) {
	select {
	case <-dialog.Done():
	case <-stop.Done():
	}
	if !call.localBye.Load() && dialog.Err() != nil {
		call.remoteBye.Store(true)
	}
	call.finish()
}

func (call *Call) finish() { call.endOnce.Do(func() { close(call.ended) }) }

func (call *Call) startReader(med *diago.DialogMedia) {
	call.mu.Lock()
	if call.readStarted || med == nil || med.RTPPacketReader == nil {
		call.mu.Unlock()
		return
	}
	call.readStarted = true
	call.mu.Unlock()
	call.wg.Add(1)
	go func() {
		defer call.wg.Done()
		r := med.RTPPacketReader
		buf := make([]byte, dmedia.RTPBufSize)
		for {
			call.readGate.RLock()
			n, err := r.Read(buf)
			call.readGate.RUnlock()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue // parked by the gate, see run
			}
			if err != nil {
				return
			}
			if n == 0 {
				continue
			}
			h := r.PacketHeader
			codec, ok := media.CodecFromPayloadType(h.PayloadType)
			if !ok {
				continue // telephone-event, comfort noise: not audio
			}
			pcm := make([]int16, n)
			codec.Decode(pcm, buf[:n])
			call.mu.Lock()
			call.frames = append(call.frames, Frame{At: time.Now(), PCM: pcm, PT: h.PayloadType, Seq: h.SequenceNumber, Timestamp: h.Timestamp})
			call.mu.Unlock()
		}
	}()
}

// sendLoop is the one writer of the call: audio every 20 ms, or the DTMF train when one is
// queued (audio is suppressed while an event plays, as RFC 4733 §2.5.1.1 suggests). With
// Options.SharedClock the client's clock calls the sender instead.
func (call *Call) sendLoop(med *diago.DialogMedia) {
	snd := call.newSender(med)
	if clk := call.c.clock; clk != nil {
		clk.add(snd) // the clock calls call.wg.Done when it lets go of the sender
		return
	}
	defer call.wg.Done()
	t := time.NewTicker(media.FrameDuration)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-call.ended:
			return
		}
		if !snd.tick() {
			return
		}
	}
}

// sender is a call's audio writer and its state between ticks.
type sender struct {
	call    *Call
	w       *dmedia.RTPPacketWriter
	pt      uint8
	tePT    uint8
	pcm     []int16
	payload []byte
	lossy   *droppingWriter
	sent    int
	first   bool
}

func (call *Call) newSender(med *diago.DialogMedia) *sender {
	s := &sender{
		call: call, w: med.RTPPacketWriter, pt: call.opts.Codec.PayloadType(), tePT: call.telephoneEventPT(med),
		pcm: make([]int16, media.FrameSamples), payload: make([]byte, media.FrameSamples), first: true,
	}
	if call.opts.DropEvery > 1 {
		// The packet writer takes the sequence number before it hands the packet on, so a
		// writer that swallows the packet leaves a gap in the numbering.
		if ms := med.MediaSession(); ms != nil {
			s.lossy = &droppingWriter{next: s.w.Writer()}
			s.w.UpdateWriter(s.lossy, dmedia.CodecAudioFromSession(ms))
		}
	}
	return s
}

// tick sends what one 20 ms tick sends; false when the call's media is over.
func (s *sender) tick() bool {
	call, w := s.call, s.w
	call.mu.Lock()
	var job *dtmfTick
	if len(call.dtmfQueue) > 0 {
		j := call.dtmfQueue[0]
		call.dtmfQueue = call.dtmfQueue[1:]
		job = &j
	}
	src := call.src
	paused := time.Now().Before(call.pauseUntil)
	frames := 1
	if !paused && (job == nil || job.pkts == nil) {
		frames += call.burst
		call.burst = 0
	}
	call.mu.Unlock()
	if job != nil && job.pkts != nil {
		for i, p := range job.pkts {
			if _, err := w.WriteSamples(p, 0, job.marker && i == 0, s.tePT); err != nil {
				return false
			}
		}
		if job.advance > 0 {
			w.DelayTimestamp(job.advance)
		}
		if job.done != nil {
			close(job.done)
		}
		return true
	}
	if job != nil && job.done != nil {
		close(job.done)
	}
	if paused {
		// The media clock runs on while nothing is sent; the next packet starts a talkspurt.
		w.DelayTimestamp(media.FrameSamples)
		s.first = true
		return true
	}
	for range frames {
		clear(s.pcm)
		if src != nil {
			if err := src.ReadFrame(s.pcm); err != nil && !errors.Is(err, io.EOF) {
				call.log.Debug("audio source failed", "err", err)
			}
		}
		call.opts.Codec.Encode(s.payload, s.pcm)
		s.sent++
		if s.lossy != nil {
			s.lossy.drop = s.sent%call.opts.DropEvery == 0
		}
		if _, err := w.WriteSamples(s.payload, media.FrameSamples, s.first, s.pt); err != nil {
			return false
		}
		s.first = false
	}
	return true
}

// sendClock drives the senders of every call of a client from one goroutine (Options.SharedClock).
// The 20 ms frame is cut into clockSlots slots and each call sends in its own slot (by the
// order calls joined), so that the clock spreads the calls' packets over the frame as
// independent tickers would, instead of sending them all in one burst.
type sendClock struct {
	mu      sync.Mutex
	slots   [clockSlots][]*sender
	joined  int
	stopped bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

const clockSlots = 10

func newSendClock() *sendClock {
	k := &sendClock{stop: make(chan struct{}), done: make(chan struct{})}
	go k.run()
	return k
}

func (k *sendClock) add(s *sender) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		s.call.wg.Done()
		return
	}
	i := k.joined % clockSlots
	k.joined++
	k.slots[i] = append(k.slots[i], s)
}

// run ticks every slot and sends one tick of each call of that slot in turn; a call whose
// media is over is let go of (its wg is done).
func (k *sendClock) run() {
	defer close(k.done)
	const step = media.FrameDuration / clockSlots
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	var list, over []*sender
	for slot := 0; ; slot = (slot + 1) % clockSlots {
		// A late clock catches up slot by slot (each call sends late, none skips a frame),
		// unless it is so far behind that it restarts.
		if wait := time.Until(next); wait > 0 || wait < -200*time.Millisecond {
			if wait < 0 {
				next, wait = time.Now(), 0
			}
			t.Reset(wait)
			select {
			case <-t.C:
			case <-k.stop:
				k.release()
				return
			}
		}
		next = next.Add(step)
		select {
		case <-k.stop:
			k.release()
			return
		default:
		}
		k.mu.Lock()
		list = append(list[:0], k.slots[slot]...)
		k.mu.Unlock()
		over = over[:0]
		for _, s := range list {
			select {
			case <-s.call.ended:
				over = append(over, s)
				continue
			default:
			}
			if !s.tick() {
				over = append(over, s)
			}
		}
		if len(over) > 0 {
			k.mu.Lock()
			k.slots[slot] = slices.DeleteFunc(k.slots[slot], func(s *sender) bool { return slices.Contains(over, s) })
			k.mu.Unlock()
			for _, s := range over {
				s.call.wg.Done()
			}
		}
	}
}

// release lets go of every sender, for good.
func (k *sendClock) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.slots {
		for _, s := range k.slots[i] {
			s.call.wg.Done()
		}
		k.slots[i] = nil
	}
	k.stopped = true
}

// close stops the clock and lets go of every sender.
func (k *sendClock) close() {
	k.once.Do(func() { close(k.stop) })
	<-k.done
}

// droppingWriter passes RTP packets on to next, except the one after drop was set. Only the
// send loop uses it.
type droppingWriter struct {
	next dmedia.RTPWriter
	drop bool
}

func (d *droppingWriter) WriteRTP(p *rtp.Packet) error {
	if d.drop {
		d.drop = false
		return nil
	}
	return d.next.WriteRTP(p)
}

func (call *Call) telephoneEventPT(med *diago.DialogMedia) uint8 {
	if ms := med.MediaSession(); ms != nil {
		for _, c := range ms.CommonCodecs() {
			if strings.HasPrefix(c.Name, "telephone-event") {
				return c.PayloadType
			}
		}
	}
	return 101
}

// AnswerSDP is the SDP of the far end's 200 OK ("" before the answer).
func (call *Call) AnswerSDP() string {
	select {
	case <-call.answered:
	default:
		return ""
	}
	if call.incoming || call.dialog == nil || call.dialog.InviteResponse == nil {
		return ""
	}
	return string(call.dialog.InviteResponse.Body())
}

// ServerRTP is the RTP address the far end's SDP named (where this call sends its audio);
// invalid before the answer.
func (call *Call) ServerRTP() netip.AddrPort {
	call.mu.Lock()
	med := call.med
	call.mu.Unlock()
	if med == nil {
		return netip.AddrPort{}
	}
	ms := med.MediaSession()
	if ms == nil {
		return netip.AddrPort{}
	}
	ap := ms.Raddr.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Answered is closed when the call is answered (200 OK, ACK sent).
func (call *Call) Answered() <-chan struct{} { return call.answered }

// Settled is closed when the INVITE has its final outcome: answered, refused or cancelled.
func (call *Call) Settled() <-chan struct{} { return call.settled }

// Ended is closed when the call is over for any reason.
func (call *Call) Ended() <-chan struct{} { return call.ended }

// Err is why the call was not answered: the final response, or a failure of the client itself
// (nil while pending or once answered).
func (call *Call) Err() error {
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.err
}

// FinalStatus is the final SIP status of the INVITE (200, 486, 487, ...), 0 while pending.
func (call *Call) FinalStatus() int {
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.status
}

// Responses lists every status received for the INVITE, provisional ones included.
func (call *Call) Responses() []int {
	call.mu.Lock()
	defer call.mu.Unlock()
	return append([]int(nil), call.responses...)
}

// Received returns every audio packet received so far, in arrival order.
func (call *Call) Received() []Frame {
	call.mu.Lock()
	defer call.mu.Unlock()
	return append([]Frame(nil), call.frames...)
}

// ReceivedPCM concatenates the audio of the packets that arrived in [from, to).
func (call *Call) ReceivedPCM(from, to time.Time) []int16 {
	var out []int16
	for _, f := range call.Received() {
		if !f.At.Before(from) && f.At.Before(to) {
			out = append(out, f.PCM...)
		}
	}
	return out
}

// SetSource changes what is sent from the next frame on; nil sends silence.
func (call *Call) SetSource(src media.Source) {
	call.mu.Lock()
	call.src = src
	call.mu.Unlock()
}

// PauseSending sends no audio for d from the next frame on, as a sender whose packets stop
// for a while (the sequence numbers stay contiguous, the timestamps jump over the pause).
func (call *Call) PauseSending(d time.Duration) {
	call.mu.Lock()
	call.pauseUntil = time.Now().Add(d)
	call.mu.Unlock()
}

// Burst sends n audio frames on top of the next frame, all at once: a sender running faster
// than real time. The frames are read from the source in order, so the audio itself is
// continuous.
func (call *Call) Burst(n int) {
	call.mu.Lock()
	call.burst += max(n, 0)
	call.mu.Unlock()
}

// dtmfEvents maps a DTMF character to its RFC 4733 event code.
func dtmfEvent(r rune) (byte, bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return byte(12 + r - 'A'), true
	case r >= 'a' && r <= 'd':
		return byte(12 + r - 'a'), true
	}
	return 0, false
}

// SendDTMF sends digits as RFC 4733 events and returns once they are on the wire: per digit a
// marker packet, an update every 20 ms, three end packets (all with the event's timestamp),
// 100 ms per event, then 60 ms of audio before the next digit.
func (call *Call) SendDTMF(digits string, opts DTMFOptions) error {
	select {
	case <-call.answered:
	default:
		return errors.New("siptest: call not answered")
	}
	const volume = 10
	const updates = 5 // 5 x 20 ms = 100 ms
	var jobs []dtmfTick
	for _, r := range digits {
		ev, ok := dtmfEvent(r)
		if !ok {
			return fmt.Errorf("siptest: %q is not a DTMF digit", r)
		}
		pkt := func(dur uint16, end bool) []byte {
			b := []byte{ev, volume, byte(dur >> 8), byte(dur)}
			if end {
				b[1] |= 0x80
			}
			return b
		}
		for i := 0; i < updates; i++ {
			dur := uint16((i + 1) * media.FrameSamples)
			if opts.FirstDurationZero {
				dur = uint16(i * media.FrameSamples)
			}
			jobs = append(jobs, dtmfTick{pkts: [][]byte{pkt(dur, false)}, marker: i == 0})
		}
		full := uint16(updates * media.FrameSamples)
		jobs = append(jobs, dtmfTick{pkts: [][]byte{pkt(full, true), pkt(full, true), pkt(full, true)},
			advance: (updates + 1) * media.FrameSamples})
		jobs = append(jobs, dtmfTick{}, dtmfTick{}, dtmfTick{}) // gap: audio ticks
	}
	if len(jobs) == 0 {
		return nil
	}
	done := make(chan struct{})
	jobs[len(jobs)-1].done = done
	call.mu.Lock()
	call.dtmfQueue = append(call.dtmfQueue, jobs...)
	call.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-call.ended:
		return errors.New("siptest: call ended while sending DTMF")
	}
}

// Hangup ends the call from the client: BYE when answered; before, CANCEL for a call it
// placed and 480 for a call it received.
func (call *Call) Hangup(ctx context.Context) error {
	select {
	case <-call.answered:
		if call.localBye.Swap(true) || call.remoteBye.Load() {
			return nil
		}
		select {
		case <-call.ended:
			return nil
		default:
		}
		var err error
		if call.incoming {
			err = call.sdialog.Hangup(ctx)
		} else {
			err = call.dialog.Hangup(ctx)
		}
		if err != nil {
			return fmt.Errorf("siptest: BYE: %w", err)
		}
		return nil
	default:
	}
	call.inviteCancel()
	select {
	case <-call.settled:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The 200 may have crossed our CANCEL: then hang up properly.
	select {
	case <-call.answered:
		return call.Hangup(ctx)
	default:
	}
	return nil
}

// WaitEnd blocks until the call ends. byRemote is true when the server sent BYE. It returns an
// error when the call was never answered or ctx ends first.
func (call *Call) WaitEnd(ctx context.Context) (byRemote bool, err error) {
	select {
	case <-call.ended:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case <-call.answered:
		return call.remoteBye.Load(), nil
	default:
		return false, fmt.Errorf("siptest: call was not answered (status %d)", call.FinalStatus())
	}
}

// Close hangs up if needed and frees the call's sockets and goroutines.
func (call *Call) Close() {
	if call.closed.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = call.Hangup(ctx)
	cancel()
	call.inviteCancel()
	select {
	case <-call.ended:
	case <-time.After(3 * time.Second):
	}
	if !call.incoming {
		_ = call.dialog.Close()
	}
	call.mu.Lock()
	med := call.med
	call.mu.Unlock()
	if med != nil {
		_ = med.Close()
	}
	call.finish()
	call.cancel() // a received call's user agent is the phone's: its cancel does nothing
	call.wg.Wait()
	if call.ua != nil {
		_ = call.ua.Close()
	}
}
