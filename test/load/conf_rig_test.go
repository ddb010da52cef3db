//go:build load

package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// Shared pieces of the conference benchmarks (conf_load_test.go, conf_kick_test.go).

// confEvent is one conference callback the app received.
type confEvent struct {
	Event, MemberID, CallUUID, Timestamp string
	At                                   time.Time // when the request reached the app
}

// confApp is the customer application of the conference benchmarks. /answer serves the document
// docFor(To) and /redirect/{To} the same one (for <Redirect> loops); conference callbacks go to
// the events channel (never blocking: an event that does not fit is counted as dropped); files
// are served with Cache-Control: max-age=3600 so that Parley caches them.
type confApp struct {
	*kit.App
	events chan confEvent
	drop   atomic.Int64
}

func startConfApp(t *testing.T, docFor func(to string) string, files map[string][]byte) *confApp {
	t.Helper()
	a := &confApp{App: kit.NewApp(t, kit.WithoutRecording()), events: make(chan confEvent, 4096)}
	a.Doc("/answer", func(r *http.Request) string { return docFor(r.Form.Get("To")) })
	a.Doc("/redirect/{to}", func(r *http.Request) string { return docFor(r.PathValue("to")) })
	a.HandleFunc("/events", func(rw http.ResponseWriter, r *http.Request) {
		ev := confEvent{Event: r.Form.Get("Event"), MemberID: r.Form.Get("ConferenceMemberID"),
			CallUUID: r.Form.Get("CallUUID"), Timestamp: r.Form.Get("Timestamp"), At: time.Now()}
		select {
		case a.events <- ev:
		default:
			a.drop.Add(1)
		}
		rw.WriteHeader(http.StatusOK)
	})
	a.OK("/hangup")
	a.HandleFunc("/files/{name}", func(rw http.ResponseWriter, r *http.Request) {
		b, ok := files[r.PathValue("name")]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "audio/wav")
		rw.Header().Set("Cache-Control", "max-age=3600")
		_, _ = rw.Write(b)
	})
	return a
}

// startConfServer starts parley for the conference benchmark name, pointed at app.
func startConfServer(t *testing.T, app *confApp, name string) (*kit.Server, string) {
	t.Helper()
	work := workDir(t, name)
	return startServer(t, app.App, work, "40000-47999", nil), work
}

// roomMembers returns the member ids listed by GET Conference, by CallUUID.
func roomMembers(ctx context.Context, srv *kit.Server, room string) (map[string]string, error) {
	st, body, err := srv.Request(ctx, kit.AuthID, kit.AuthToken, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("GET conference %s: status %d", room, st)
	}
	out := map[string]string{}
	ms, _ := body["members"].([]any)
	for _, raw := range ms {
		m, _ := raw.(map[string]any)
		id, _ := m["member_id"].(string)
		cu, _ := m["call_uuid"].(string)
		out[cu] = id
	}
	return out, nil
}

// metricsSnapshot reads Parley's /metrics into name → value.
func metricsSnapshot(srv *kit.Server) (map[string]float64, error) {
	resp, err := http.Get(srv.HTTP + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading /metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format (names without labels only).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// sendMeter wraps a member's audio source to count the frames the client really sent and how
// regularly: the test clients share the 2 cores with the server, and a client that sends late
// starves the server's jitter queue (a "lost frame" that is not the server's fault).
type sendMeter struct {
	src       media.Source
	measuring *atomic.Bool
	sent      atomic.Int64
	last      atomic.Int64 // UnixNano of the previous frame
	maxGap    atomic.Int64 // ns, while measuring
	late      atomic.Int64 // intervals over lateSendGap while measuring

	mu     sync.Mutex
	gapsAt []time.Time // when intervals of suspectSendGap or more ended, while measuring
}

// suspectSendGap is a send interval that may starve the server's jitter queue (it primes two
// frames, so its cushion is 20-40 ms).
const suspectSendGap = 30 * time.Millisecond

// gapsBetween reports whether a send interval of suspectSendGap or more ended in [from, to].
func (m *sendMeter) gapsBetween(from, to time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, at := range m.gapsAt {
		if !at.Before(from) && !at.After(to) {
			return true
		}
	}
	return false
}

// lateSendGap is a send interval that risks starving the server's jitter queue.
const lateSendGap = 40 * time.Millisecond

func (m *sendMeter) ReadFrame(dst []int16) error {
	now := time.Now().UnixNano()
	prev := m.last.Swap(now)
	if prev != 0 && m.measuring.Load() {
		gap := now - prev
		if gap > m.maxGap.Load() {
			m.maxGap.Store(gap) // one writer: the call's send loop
		}
		if gap >= int64(lateSendGap) {
			m.late.Add(1)
		}
		if gap >= int64(suspectSendGap) {
			m.mu.Lock()
			if len(m.gapsAt) < 100000 {
				m.gapsAt = append(m.gapsAt, time.Unix(0, now))
			}
			m.mu.Unlock()
		}
	}
	m.sent.Add(1)
	return m.src.ReadFrame(dst)
}

// schedProbe measures how late a 20 ms ticker fires in this process: a proxy for how late the
// clients' send loops (same kind of ticker, same process) run.
type schedProbe struct {
	done      chan struct{}
	ticks     int64
	lateTicks int64         // gaps between ticks of 30 ms or more (a tick at least 10 ms late)
	maxGap    time.Duration // longest gap between two ticks (20 ms when on time)
}

// runSchedProbe probes until ctx ends; read the result after result().
func runSchedProbe(ctx context.Context) *schedProbe {
	p := &schedProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(media.FrameDuration)
		defer t.Stop()
		prev := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := time.Now()
				gap := now.Sub(prev)
				prev = now
				p.ticks++
				p.maxGap = max(p.maxGap, gap)
				if gap >= 30*time.Millisecond {
					p.lateTicks++
				}
			}
		}
	}()
	return p
}

// result waits for the probe to stop and returns it.
func (p *schedProbe) result() *schedProbe {
	<-p.done
	return p
}

// dialPaced places calls at most rate per second; dial(i) places call i.
func dialPaced(ctx context.Context, n, rate int, dial func(i int) error) error {
	t := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer t.Stop()
	for i := range n {
		if err := dial(i); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitAnswered waits until every call is answered, or returns how many were not.
func waitAnswered(calls []*siptest.Call, d time.Duration) int {
	deadline := time.After(d)
	missing := 0
	for _, c := range calls {
		select {
		case <-c.Answered():
		case <-c.Settled():
			if c.FinalStatus() != 200 { // Settled closes just before Answered
				missing++
			}
		case <-deadline:
			missing++
		}
	}
	return missing
}

// cpuModel is the model name of the first CPU.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// msOf formats a duration in milliseconds with one decimal.
func msOf(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }
