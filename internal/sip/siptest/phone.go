package siptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/parley-voice/parley/internal/media"
)

// ListenOptions say how the phone treats the calls it receives. With none of AnswerAfter,
// Reject and NeverAnswer set it answers at once.
type ListenOptions struct {
	// Username is the user part of the phone's contact; default "phone".
	Username string
	// AnswerAfter rings (180) this long before answering.
	AnswerAfter time.Duration
	// Reject, when not 0, answers every call with this final status (486, 603...) after 180.
	Reject int
	// NeverAnswer rings until the caller cancels (the call then ends with 487).
	NeverAnswer bool
	// EarlyMedia sends 183 with SDP instead of 180 and plays Send before answering.
	EarlyMedia bool
	// Codec is the only audio codec the phone accepts (default PCMU).
	Codec media.Codec
	// Send is the audio sent every 20 ms once media flows; nil = silence. Each call reads
	// from the same source.
	Send media.Source
	// NoTelephoneEvent leaves telephone-event out of the SDP answer, so the caller must send
	// DTMF as SIP INFO.
	NoTelephoneEvent bool
	// InfoStatus is the status answered to a received SIP INFO DTMF; 0 means 200.
	InfoStatus int
	// SRTP accepts SRTP offers (SDES keys) and answers them with RTP/SAVP and a key of its own.
	SRTP bool
}

// phone is the Client's listening user agent.
type phone struct {
	c        *Client
	opts     ListenOptions
	ua       *sipgo.UserAgent
	dg       *diago.Diago
	cancel   context.CancelFunc
	contact  string
	incoming chan *Call
	handlers sync.WaitGroup

	mu    sync.Mutex
	regTx *diago.RegisterTransaction
}

// Listen starts the client's phone on LocalIP (UDP, a free port) and returns its contact,
// "sip:username@ip:port". Received calls are handed out by Incoming. One phone per Client.
func (c *Client) Listen(opts ListenOptions) (string, error) {
	if opts.Codec != media.PCMU && opts.Codec != media.PCMA {
		return "", fmt.Errorf("siptest: codec %d is not PCMU or PCMA", opts.Codec)
	}
	if opts.Username == "" {
		opts.Username = "phone"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phone != nil {
		return "", errors.New("siptest: this client already listens")
	}
	ua, err := c.newUA(opts.Username)
	if err != nil {
		return "", err
	}
	srtp := 0
	if opts.SRTP {
		srtp = 1 // SDES
	}
	dg := diago.NewDiago(ua, diago.WithLogger(c.log),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: c.opts.LocalIP, BindPort: 0, MediaSRTP: srtp}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: diagoCodecs(opts.Codec, opts.NoTelephoneEvent)}),
		diago.WithServerRequestMiddleware(c.infoMiddleware),
	)
	p := &phone{c: c, opts: opts, ua: ua, dg: dg, incoming: make(chan *Call, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if err := dg.ServeBackground(ctx, p.handle); err != nil {
		cancel()
		ua.Close()
		return "", fmt.Errorf("siptest: starting phone: %w", err)
	}
	// diago reports ready a moment before sipgo records the port.
	var ports []int
	for wait := time.Now().Add(2 * time.Second); len(ports) == 0 && time.Now().Before(wait); time.Sleep(time.Millisecond) {
		ports = ua.TransportLayer().ListenPorts("udp")
	}
	if len(ports) == 0 {
		cancel()
		ua.Close()
		return "", errors.New("siptest: phone has no UDP port")
	}
	p.contact = fmt.Sprintf("sip:%s@%s:%d", opts.Username, c.opts.LocalIP, ports[0])
	c.phone = p
	return p.contact, nil
}

// Contact is the phone's contact URI, "" before Listen.
func (c *Client) Contact() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phone == nil {
		return ""
	}
	return c.phone.contact
}

// Incoming returns the next call the phone received (in any state: ringing, answered,
// rejected).
func (c *Client) Incoming(ctx context.Context) (*Call, error) {
	c.mu.Lock()
	p := c.phone
	c.mu.Unlock()
	if p == nil {
		return nil, errors.New("siptest: call Listen first")
	}
	select {
	case call := <-p.incoming:
		return call, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RegisterOptions describe a REGISTER of the phone.
type RegisterOptions struct {
	Registrar string // e.g. "sip:127.0.0.1:5060"
	Username  string
	Password  string
	Expires   time.Duration // 0: no Expires header (the registrar's default)
}

// RegisterError is a registration the registrar refused.
type RegisterError struct{ Status int }

func (e *RegisterError) Error() string {
	return fmt.Sprintf("siptest: registration refused with %d", e.Status)
}

// Register registers the phone's contact (starting a phone that answers at once when
// Listen was not called). It returns a *RegisterError when the registrar refuses (401 after
// the credentials, 403...).
func (c *Client) Register(ctx context.Context, opts RegisterOptions) error {
	c.mu.Lock()
	p := c.phone
	c.mu.Unlock()
	if p == nil {
		if _, err := c.Listen(ListenOptions{Username: opts.Username}); err != nil {
			return err
		}
		c.mu.Lock()
		p = c.phone
		c.mu.Unlock()
	}
	var reg sip.Uri
	if err := sip.ParseUri(opts.Registrar, &reg); err != nil {
		return fmt.Errorf("siptest: registrar %q: %w", opts.Registrar, err)
	}
	reg.User = opts.Username
	t, err := p.dg.RegisterTransaction(ctx, reg, diago.RegisterOptions{Username: opts.Username, Password: opts.Password, Expiry: opts.Expires})
	if err != nil {
		return fmt.Errorf("siptest: %w", err)
	}
	if err := t.Register(ctx); err != nil {
		var re *diago.RegisterResponseError
		if errors.As(err, &re) {
			return &RegisterError{Status: re.StatusCode()}
		}
		return fmt.Errorf("siptest: REGISTER: %w", err)
	}
	p.mu.Lock()
	p.regTx = t
	p.mu.Unlock()
	return nil
}

// Unregister removes the phone's registration (Contact: *, Expires: 0).
func (c *Client) Unregister(ctx context.Context) error {
	c.mu.Lock()
	p := c.phone
	c.mu.Unlock()
	if p == nil {
		return errors.New("siptest: not registered")
	}
	p.mu.Lock()
	t := p.regTx
	p.mu.Unlock()
	if t == nil {
		return errors.New("siptest: not registered")
	}
	if err := t.Unregister(ctx); err != nil {
		var re *diago.RegisterResponseError
		if errors.As(err, &re) {
			return &RegisterError{Status: re.StatusCode()}
		}
		return fmt.Errorf("siptest: un-REGISTER: %w", err)
	}
	return nil
}

func (p *phone) close() {
	p.cancel()
	p.handlers.Wait()
	_ = p.ua.Close()
}

// Header returns a header of the INVITE the phone received ("" when absent or for a call
// the client placed).
func (call *Call) Header(name string) string { return call.invite[strings.ToLower(name)] }

// FromUser is the From user of a received call.
func (call *Call) FromUser() string { return call.fromUser }

// FromDisplay is the From display name of a received call.
func (call *Call) FromDisplay() string { return call.fromDisplay }

func reasonFor(status int) string {
	switch status {
	case 486:
		return "Busy Here"
	case 603:
		return "Decline"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	}
	return "Rejected"
}

// handle runs one received call; diago ends the dialog when it returns.
func (p *phone) handle(d *diago.DialogServerSession) {
	p.handlers.Add(1)
	defer p.handlers.Done()
	c := p.c
	req := d.InviteRequest
	call := &Call{
		c: c, log: c.log.With("sip_call_id", callIDOf(req)), opts: DialOptions{Codec: p.opts.Codec, InfoStatus: p.opts.InfoStatus},
		incoming: true, sdialog: d, callID: callIDOf(req),
		answered: make(chan struct{}), settled: make(chan struct{}), ended: make(chan struct{}), src: p.opts.Send,
		invite: map[string]string{}, cancel: func() {},
	}
	for _, h := range req.Headers() {
		k := strings.ToLower(h.Name())
		if _, ok := call.invite[k]; !ok {
			call.invite[k] = h.Value()
		}
	}
	if f := req.From(); f != nil {
		call.fromUser, call.fromDisplay = f.Address.User, f.DisplayName
	}
	ictx, icancel := context.WithCancel(context.Background())
	defer icancel()
	call.inviteCancel = icancel
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	select {
	case p.incoming <- call:
	default:
		call.log.Warn("incoming call queue full")
	}
	codecs := diagoCodecs(p.opts.Codec, p.opts.NoTelephoneEvent)

	_ = d.Trying()
	call.record(100)
	if p.opts.Reject != 0 {
		_ = d.Ringing()
		call.record(180)
		if err := d.Respond(p.opts.Reject, reasonFor(p.opts.Reject), nil); err != nil {
			call.fail(0, err)
			return
		}
		call.record(p.opts.Reject)
		call.fail(p.opts.Reject, nil)
		return
	}
	var med *diago.DialogMedia
	if p.opts.EarlyMedia {
		m, err := d.ProgressMedia(diago.ProgressMediaOptions{Codecs: codecs})
		if err != nil {
			call.fail(0, err)
			return
		}
		call.record(183)
		med = m
		call.mu.Lock()
		call.med = med
		call.mu.Unlock()
		call.startMedia(med)
	} else {
		_ = d.Ringing()
		call.record(180)
	}
	var answerAt <-chan time.Time
	if !p.opts.NeverAnswer {
		answerAt = time.After(p.opts.AnswerAfter)
	}
	select {
	case <-answerAt:
	case <-d.Context().Done(): // CANCEL: the transaction layer answered 487
		call.record(487)
		call.fail(487, context.Cause(d.Context()))
		return
	case <-ictx.Done():
		_ = d.Respond(480, "Temporarily Unavailable", nil)
		call.record(480)
		call.fail(480, nil)
		return
	}
	var err error
	if med != nil {
		err = d.AnswerEarlyMedia(med, diago.AnswerOptions{})
	} else {
		med, err = d.Answer(diago.AnswerOptions{Codecs: codecs})
	}
	if err != nil {
		call.fail(0, err)
		return
	}
	call.record(200)
	call.answer(med)
	if !p.opts.EarlyMedia {
		call.startMedia(med)
	}
	call.waitBye(d.Context(), ictx)
}

func callIDOf(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
