package kit

import (
	"context"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
)

// Phone is a siptest.Client bound to one local IP address, closed by the test's cleanup.
type Phone struct {
	*siptest.Client
	IP string
}

// NewPhone returns a Phone whose SIP and RTP sockets bind ip (127.0.0.0/8).
func NewPhone(t testing.TB, ip string) *Phone {
	t.Helper()
	c, err := siptest.NewClient(siptest.Options{LocalIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Phone{Client: c, IP: ip}
}

// Listen makes the phone answer calls as opts say and returns its contact URI.
func (p *Phone) Listen(t testing.TB, opts siptest.ListenOptions) string {
	t.Helper()
	contact, err := p.Client.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	return contact
}

// Incoming waits up to 10 s for the next call to the phone.
func (p *Phone) Incoming(t testing.TB) *siptest.Call {
	t.Helper()
	cl, err := p.Client.Incoming(Context(t, 10*time.Second))
	if err != nil {
		t.Fatalf("no incoming call: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Register registers user with password at s for two minutes.
func (p *Phone) Register(t testing.TB, s *Server, user, password string) error {
	t.Helper()
	return p.Client.Register(Context(t, 10*time.Second), siptest.RegisterOptions{
		Registrar: "sip:" + s.SIP, Username: user, Password: password, Expires: 120 * time.Second})
}

// Call places a call to user at s (From CallerNumber unless opts names one) and returns at
// once. The test client can fail before any response arrives (seen rarely, never explained by
// the server's logs): such a failure within the first 100 ms is logged and the call placed
// once more.
func (p *Phone) Call(t testing.TB, s *Server, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	if opts.From == "" {
		opts.From = CallerNumber
	}
	cl := p.dial(t, s, user, opts)
	select {
	case <-cl.Settled():
		if cl.FinalStatus() == 0 {
			t.Logf("test client failed to place the call: %v; retrying", cl.Err())
			cl = p.dial(t, s, user, opts)
		}
	case <-time.After(100 * time.Millisecond):
	}
	return cl
}

// CallAnswered places a call to user at s and waits up to 10 s for the answer; a call the
// client fails to place before any response is placed once more.
func (p *Phone) CallAnswered(t testing.TB, s *Server, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	return p.CallAnsweredURI(t, s.URI(user), opts)
}

// CallAnsweredURI is CallAnswered for a SIP URI that is not a Server's, such as a proxy's in
// front of servers.
func (p *Phone) CallAnsweredURI(t testing.TB, uri string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	if opts.From == "" {
		opts.From = CallerNumber
	}
	for attempt := 0; ; attempt++ {
		cl := p.dialURI(t, uri, opts)
		select {
		case <-cl.Answered():
			return cl
		case <-cl.Ended():
			if cl.FinalStatus() == 0 && attempt == 0 {
				t.Logf("test client failed to place the call from %s: %v; retrying", opts.From, cl.Err())
				continue
			}
			t.Fatalf("call from %s ended unanswered (status %d: %v)", opts.From, cl.FinalStatus(), cl.Err())
		case <-time.After(10 * time.Second):
			t.Fatalf("call from %s not answered", opts.From)
		}
	}
}

func (p *Phone) dial(t testing.TB, s *Server, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	return p.dialURI(t, s.URI(user), opts)
}

func (p *Phone) dialURI(t testing.TB, uri string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	cl, err := p.Dial(Context(t, 10*time.Second), uri, opts)
	if err != nil {
		t.Fatalf("dial from %s: %v", opts.From, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Dial places a call from a new phone on 127.0.0.1 to user at s, as Phone.Call.
func Dial(t testing.TB, s *Server, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	return NewPhone(t, "127.0.0.1").Call(t, s, user, opts)
}

// WaitAnswered fails the test unless cl is answered within 10 s; what says which call.
func WaitAnswered(t testing.TB, cl *siptest.Call, what string) {
	t.Helper()
	select {
	case <-cl.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// WaitEnd fails the test unless the server ends cl (its BYE) within timeout.
func WaitEnd(t testing.TB, cl *siptest.Call, timeout time.Duration) {
	t.Helper()
	byRemote, err := cl.WaitEnd(Context(t, timeout))
	if err != nil {
		t.Fatalf("call did not end: %v", err)
	}
	if !byRemote {
		t.Fatal("call ended, but not by the server")
	}
}

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
