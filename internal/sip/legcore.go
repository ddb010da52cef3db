package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
)

// legCore is what inbound and outbound legs share: the media half (call.LegMedia), the end of
// the leg, and the answer to a re-INVITE. Each leg type embeds it and adds its own signalling.
type legCore struct {
	srv     *Server
	log     *slog.Logger
	localIP netip.Addr // our address in SDP, Via and Contact

	// mu guards the fields below and the embedding leg's own signalling state.
	mu      sync.Mutex
	neg     negotiated
	sessID  uint64
	sdpVer  uint64
	endedBy call.LegEnd
	// localKey is our SRTP key once SRTP was offered or accepted (srtp.go).
	localKey *sdesCrypto

	media   legMedia
	done    chan struct{}
	endOnce sync.Once

	infoDigits chan rune // DTMF received as SIP INFO
}

// infoDigitQueue is how many SIP INFO digits wait for the call to read them; more are dropped.
const infoDigitQueue = 32

func newLegCore(s *Server, log *slog.Logger, localIP netip.Addr) legCore {
	done := make(chan struct{})
	return legCore{srv: s, log: log, localIP: localIP, done: done,
		media:      legMedia{ready: make(chan struct{}), ended: done},
		infoDigits: make(chan rune, infoDigitQueue)}
}

// Media implements call.Leg: the leg's media half.
func (c *legCore) Media() call.LegMedia { return &c.media }

// InfoDigits implements call.InfoDigitSource: digits the far end sent as SIP INFO.
func (c *legCore) InfoDigits() <-chan rune { return c.infoDigits }

// handleInfoDigit queues a digit received in a SIP INFO.
func (c *legCore) handleInfoDigit(d rune) {
	select {
	case c.infoDigits <- d:
	default:
		c.log.Warn("SIP INFO digit dropped: too many waiting", "digit", string(d))
	}
}

// startMedia makes r the leg's RTP stream and picks the SDP session ID.
func (c *legCore) startMedia(r *rtpStream) {
	c.sessID = uint64(rand.Uint32())
	c.sdpVer = c.sessID
	c.media.rtp.Store(r)
	close(c.media.ready)
}

// applyNegotiatedLocked takes a negotiated remote SDP for our media.
func (c *legCore) applyNegotiatedLocked(n negotiated) {
	c.neg = n
	c.media.codec.Store(uint32(n.codec))
	c.media.tePT.Store(uint32(n.tePT))
	c.media.remoteSends.Store(n.dir == dirSendRecv && n.remote.Addr().IsValid() && !n.remote.Addr().IsUnspecified())
	if r := c.media.rtp.Load(); r != nil {
		r.setRemote(n.remote, remoteAcceptsMedia(n.dir))
		if err := c.keySRTPLocked(r); err != nil {
			c.log.Error("SRTP keys not applied", "err", err)
		}
	}
}

func remoteAcceptsMedia(dir string) bool { return dir == dirSendRecv || dir == dirRecvOnly }

// answerSDPLocked is our SDP answer to the negotiated offer, with the current version.
func (c *legCore) answerSDPLocked() []byte {
	var key *sdesCrypto
	if c.neg.crypto != nil {
		key = c.localKey
	}
	return buildSDP(c.sessID, c.sdpVer, c.localIP, c.media.rtp.Load().localPort(), c.neg.codec, c.neg.tePT,
		answerDir(c.neg.dir), c.neg.offered, c.neg.mIndex, key)
}

// finish records who ended the leg (the first caller wins; under mu it also runs setState for
// the leg's own state), closes Done and the RTP socket. It reports whether this call ended it.
func (c *legCore) finish(by call.LegEnd, setState func()) bool {
	first := false
	c.endOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.endedBy = by
		setState()
		c.mu.Unlock()
		close(c.done)
		if r := c.media.rtp.Load(); r != nil {
			_ = r.close()
		}
		c.log.Debug("call leg ended", "ended_by", int(by))
	})
	return first
}

func (c *legCore) ended() bool { return isClosed(c.done) }

// isClosed tells whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *legCore) Done() <-chan struct{} { return c.done }

func (c *legCore) EndedBy() call.LegEnd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedBy
}

// legMedia is a leg's media half (call.LegMedia): its RTP stream and what was negotiated for
// it. Signalling sets it up (startMedia, applyNegotiatedLocked); of the dialog it knows only
// whether the leg has ended. Everything here is atomic: no lock on the packet path.
type legMedia struct {
	rtp         atomic.Pointer[rtpStream]
	codec       atomic.Uint32
	tePT        atomic.Uint32
	remoteSends atomic.Bool

	ready chan struct{}   // closed once rtp is set
	ended <-chan struct{} // the leg's Done
}

var _ call.LegMedia = (*legMedia)(nil)

func (m *legMedia) Codec() media.Codec { return media.Codec(m.codec.Load()) }

func (m *legMedia) TelephoneEventPT() uint8 { return uint8(m.tePT.Load()) }

func (m *legMedia) RemoteSendsMedia() bool { return m.remoteSends.Load() }

func (m *legMedia) ReadPacket(buf []byte) (media.Packet, error) {
	select {
	case <-m.ready:
	case <-m.ended:
		return media.Packet{}, ErrLegEnded
	}
	if isClosed(m.ended) {
		return media.Packet{}, ErrLegEnded
	}
	p, err := m.rtp.Load().read(buf)
	if err != nil {
		if isClosed(m.ended) {
			return p, ErrLegEnded
		}
		return p, fmt.Errorf("reading RTP: %w", err)
	}
	return p, nil
}

// WriteRTP sends a packet at once; while the far end does not want media it is dropped.
func (m *legMedia) WriteRTP(payload []byte, payloadType uint8, marker bool, tsIncrement uint32) error {
	r := m.rtp.Load()
	if r == nil {
		return errNoMedia
	}
	if isClosed(m.ended) {
		return ErrLegEnded
	}
	if err := r.write(payload, payloadType, marker, tsIncrement); err != nil {
		return fmt.Errorf("sending RTP: %w", err)
	}
	return nil
}

// Stats implements call.LegMedia; zero before media started.
func (m *legMedia) Stats() call.MediaStats {
	if r := m.rtp.Load(); r != nil {
		return r.stats.snapshot()
	}
	return call.MediaStats{}
}

// byeBriefly runs sendBye and waits only a moment: the BYE is on the wire quickly, and
// hanging up must not wait long for its 200.
func byeBriefly(ctx context.Context, sendBye func(timeout time.Duration)) {
	byeDone := make(chan struct{})
	go func() {
		sendBye(5 * time.Second)
		close(byeDone)
	}()
	select {
	case <-byeDone:
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
}

// answerReInviteLocked answers an accepted in-dialog INVITE (hold, unhold, new address or
// codec): an offer in it updates our media, then 200 carries our SDP and contact, or 488
// when the offer is unusable. It returns the SDP sent, nil after a 488.
func (c *legCore) answerReInviteLocked(req *sip.Request, tx sip.ServerTransaction, contact sip.Header) []byte {
	if len(req.Body()) > 0 {
		offer, err := parseSDP(req.Body())
		var neg negotiated
		if err == nil {
			cur := c.neg.codec
			neg, err = negotiate(offer, &cur)
		}
		if err == nil && c.neg.crypto != nil && neg.crypto == nil {
			err = errSRTPDowngrade
		}
		if err != nil {
			c.log.Info("re-INVITE refused", "err", err)
			c.srv.respond(req, tx, 488, "Not Acceptable Here")
			return nil
		}
		c.applyNegotiatedLocked(neg)
		c.log.Info("media updated by re-INVITE", "direction", neg.dir, "codec", neg.codec.String(), "remote", neg.remote.String())
	}
	c.sdpVer++
	body := c.answerSDPLocked()
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Server", c.srv.opts.UserAgent))
	if contact != nil {
		res.AppendHeader(contact)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Debug("re-INVITE response not sent", "err", err)
	}
	return body
}

// infoTimeout bounds the wait for the final response to a SIP INFO we send.
const infoTimeout = 5 * time.Second

// defaultInfoDuration is the Duration sent when the caller gives none (§8.7: 100 ms events).
const defaultInfoDuration = 100 * time.Millisecond

// errNotAnswered is returned by in-dialog requests on a leg not answered yet.
var errNotAnswered = errors.New("the call is not answered yet")

// inDialogRequest sends one request of the leg's answered dialog, with body of contentType
// when body is not nil, and waits for its final response (bounded by ctx).
type inDialogRequest func(ctx context.Context, method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error)

// sendInfoDigit sends digit as SIP INFO (application/dtmf-relay) through request and waits for
// a 2xx; inbound and outbound legs differ only in how they build and send the request.
func (c *legCore) sendInfoDigit(ctx context.Context, digit rune, duration time.Duration, request inDialogRequest) error {
	sig, ok := infoSignal(digit)
	if !ok {
		return fmt.Errorf("sending DTMF as SIP INFO: %q is not a DTMF digit", digit)
	}
	if c.ended() {
		return fmt.Errorf("sending DTMF %c as SIP INFO: %w", sig, ErrLegEnded)
	}
	if duration <= 0 {
		duration = defaultInfoDuration
	}
	body := fmt.Appendf(nil, "Signal=%c\r\nDuration=%d\r\n", sig, duration.Milliseconds())
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	res, err := request(ctx, sip.INFO, "application/dtmf-relay", body)
	if err != nil {
		return fmt.Errorf("sending DTMF %c as SIP INFO: %w", sig, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("sending DTMF %c as SIP INFO: the far end answered %d %s", sig, res.StatusCode, res.Reason)
	}
	return nil
}

// infoSignal is the dtmf-relay Signal value of a DTMF digit: 0-9, *, #, A-D.
func infoSignal(d rune) (rune, bool) {
	switch {
	case d >= '0' && d <= '9', d == '*', d == '#', d >= 'A' && d <= 'D':
		return d, true
	case d >= 'a' && d <= 'd':
		return d - 'a' + 'A', true
	}
	return 0, false
}

// finalResponse waits for the final response of a client transaction, the transaction's
// end, ctx's end or the leg's.
func (c *legCore) finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return res, nil
			}
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("no final response: %w", err)
			}
			return nil, errors.New("no final response")
		case <-ctx.Done():
			return nil, fmt.Errorf("no final response in time: %w", ctx.Err())
		case <-c.done:
			return nil, ErrLegEnded
		}
	}
}

// DroppedPackets is how many received packets the leg dropped: not RTP, or from a source the
// source rules refused (see rtpsource.go).
func (m *legMedia) DroppedPackets() uint64 {
	if r := m.rtp.Load(); r != nil {
		return r.stats.foreign.Load()
	}
	return 0
}
