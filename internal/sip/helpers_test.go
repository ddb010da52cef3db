package sip

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
)

// Helpers shared by the tests of inbound and outbound legs.

func testLogger() *slog.Logger {
	if os.Getenv("SIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a Server on 127.0.0.1:0 whose handler hands each leg to the test.
func startServer(t *testing.T, portMin, portMax int) (*Server, chan call.Leg) {
	t.Helper()
	return startServerOpts(t, Options{RTPPortMin: portMin, RTPPortMax: portMax}, nil)
}

func newClient(t *testing.T) *siptest.Client {
	t.Helper()
	c, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func target(s *Server, user string) string { return "sip:" + user + "@" + s.Addr().String() }

func recvLeg(t *testing.T, legs chan call.Leg) call.Leg {
	t.Helper()
	select {
	case l := <-legs:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no inbound leg")
	}
	return nil
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s", what)
	}
}

// tone is a sine media.Source.
type tone struct {
	freq float64
	n    int
}

func (s *tone) ReadFrame(dst []int16) error {
	for i := range dst {
		dst[i] = int16(8000 * math.Sin(2*math.Pi*s.freq*float64(s.n)/media.SampleRate))
		s.n++
	}
	return nil
}

// goertzel returns the power of freq in pcm, normalised by length.
func goertzel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/media.SampleRate)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(pcm)) / float64(len(pcm))
}

// playTone writes a tone to the leg every 20 ms until stop closes.
func playTone(leg call.Leg, freq float64, stop <-chan struct{}) {
	src := &tone{freq: freq}
	pcm := make([]int16, media.FrameSamples)
	buf := make([]byte, media.FrameSamples)
	tk := time.NewTicker(media.FrameDuration)
	defer tk.Stop()
	first := true
	for {
		select {
		case <-stop:
			return
		case <-leg.Done():
			return
		case <-tk.C:
		}
		src.ReadFrame(pcm)
		leg.Media().Codec().Encode(buf, pcm)
		if err := leg.Media().WriteRTP(buf, leg.Media().Codec().PayloadType(), first, media.FrameSamples); err != nil {
			return
		}
		first = false
	}
}

// collect reads the leg's packets until it ends, keeping decoded audio and all packets.
type collector struct {
	mu   sync.Mutex
	pcm  []int16
	pkts []media.Packet
}

func (c *collector) run(leg call.Leg) {
	buf := make([]byte, 1500)
	for {
		p, err := leg.Media().ReadPacket(buf)
		if err != nil {
			return
		}
		c.mu.Lock()
		p.Payload = append([]byte(nil), p.Payload...)
		c.pkts = append(c.pkts, p)
		if codec, ok := media.CodecFromPayloadType(p.PayloadType); ok {
			pcm := make([]int16, len(p.Payload))
			codec.Decode(pcm, p.Payload)
			c.pcm = append(c.pcm, pcm...)
		}
		c.mu.Unlock()
	}
}

func (c *collector) snapshot() ([]int16, []media.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.pcm...), append([]media.Packet(nil), c.pkts...)
}

// passwords is a Registrar over a map.
type passwords map[string]string

func (p passwords) Credentials(_ context.Context, u string) (string, bool) {
	pw, ok := p[u]
	return pw, ok
}

// fakeClock is a movable clock for registration expiry.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// startServerOpts runs a Server with opts (listen address, logger and a handler that hands
// legs to the test filled in).
func startServerOpts(t *testing.T, opts Options, clock *fakeClock) (*Server, chan call.Leg) {
	t.Helper()
	legs := make(chan call.Leg, 4)
	opts.ListenAddr = "127.0.0.1:0"
	opts.Logger = testLogger()
	if opts.Handler == nil {
		opts.Handler = func(ctx context.Context, leg call.Leg) { legs <- leg }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		s.now = clock.now
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, legs
}

func listenPhone(t *testing.T, opts siptest.ListenOptions) (*siptest.Client, string) {
	t.Helper()
	c := newClient(t)
	contact, err := c.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, contact
}

func incoming(t *testing.T, c *siptest.Client) *siptest.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := c.Incoming(ctx)
	if err != nil {
		t.Fatalf("phone got no call: %v", err)
	}
	return cl
}

func waitAnswer(t *testing.T, leg call.OutboundLeg, within time.Duration) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	st, err := leg.WaitAnswer(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no outcome within %v", within)
	}
	return st, err
}

// progressLog records OnProgress calls.
type progressLog struct {
	mu    sync.Mutex
	calls []string
}

func (p *progressLog) on(status int, early bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := itoa(status)
	if early {
		s += "+sdp"
	}
	p.calls = append(p.calls, s)
}

func (p *progressLog) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// dial places a test call from c to user at s.
func dial(t *testing.T, c *siptest.Client, s *Server, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	cl, err := c.Dial(context.Background(), target(s, user), opts)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// playToneFor writes a tone to the leg every 20 ms for d.
func playToneFor(leg call.Leg, freq float64, d time.Duration) {
	stop := make(chan struct{})
	go playTone(leg, freq, stop)
	time.Sleep(d)
	close(stop)
}

// exchangeTones plays 1000 Hz into the answered leg for 1.2 s while the far end sends
// 400 Hz, and checks that each side heard the other. It returns what the far end received.
func exchangeTones(t *testing.T, leg call.Leg, far *siptest.Call) []siptest.Frame {
	t.Helper()
	col := &collector{}
	go col.run(leg)
	playToneFor(leg, 1000, 1200*time.Millisecond)

	got, pkts := col.snapshot()
	if len(got) < 30*160 {
		t.Fatalf("leg received %d samples, want about 1 s", len(got))
	}
	if st := leg.Media().Stats(); st.PacketsIn < uint64(len(pkts)) || st.BytesIn < uint64(len(got)) || st.PacketsOut < 30 || st.BytesOut < 30*160 {
		t.Errorf("media stats %+v after %d packets received", st, len(pkts))
	}
	if p400, p1000 := goertzel(got, 400), goertzel(got, 1000); p400 < 100*p1000 || p400 < 1e5 {
		t.Errorf("our side: 400 Hz power %.0f, 1000 Hz %.0f", p400, p1000)
	}
	frames := far.Received()
	if len(frames) < 30 {
		t.Fatalf("far end received %d frames", len(frames))
	}
	pcm := far.ReceivedPCM(frames[0].At, time.Now())
	if p1000, p400 := goertzel(pcm, 1000), goertzel(pcm, 400); p1000 < 100*p400 || p1000 < 1e5 {
		t.Errorf("far side: 1000 Hz power %.0f, 400 Hz %.0f", p1000, p400)
	}
	return frames
}

func itoa(x int) string { return strconv.Itoa(x) }

func containsInt(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}
