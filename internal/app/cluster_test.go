package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/parley-voice/parley/internal/config"
)

// syncBuffer is a log destination read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Two servers with nats_url join one cluster at Start: each is in the other's registry with
// the addresses its listeners really got, their logs and metrics say which node they are, and
// a server that shuts down leaves the registry.
func TestServersJoinACluster(t *testing.T) {
	nats := natsSrv.Require(t)
	srvPG := pg.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbURL, err := srvPG.CreateDatabase(ctx, "t_app_cluster")
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]*Server, 2)
	logs := make([]*syncBuffer, 2)
	for i := range servers {
		env := map[string]string{
			"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0",
			"PARLEY_RTP_PORTS": fmt.Sprintf("%d-%d", 19600+100*i, 19699+100*i),
			"PARLEY_DATA_DIR":  t.TempDir(), "PARLEY_DATABASE_URL": dbURL,
			"PARLEY_AUTH_ID": "MA_CLUSTER1", "PARLEY_AUTH_TOKEN": "cluster-test-token",
			"PARLEY_NATS_URL": nats.URL(), "PARLEY_NODE_ID": fmt.Sprintf("app-node-%d", i),
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &syncBuffer{}
		s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs[i], nil)), Stdout: io.Discard})
		if err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		servers[i] = s
	}
	for i, s := range servers {
		if s.node == nil {
			t.Fatalf("server %d has no node", i)
		}
		self := s.node.Self()
		if want := s.sip.Addr().String(); self.SIPAddr != want {
			t.Errorf("server %d registers SIP %s, want the bound %s", i, self.SIPAddr, want)
		}
		if want := s.HTTPAddr().String(); self.HTTPAddr != want {
			t.Errorf("server %d registers HTTP %s, want the bound %s", i, self.HTTPAddr, want)
		}
	}
	// The second joined after the first: it lists both at once; the first learns of it.
	if got := peerIDs(servers[1]); got != "[app-node-0 app-node-1]" {
		t.Fatalf("peers of the second = %s", got)
	}
	for end := time.Now().Add(2 * time.Second); peerIDs(servers[0]) != "[app-node-0 app-node-1]"; {
		if time.Now().After(end) {
			t.Fatalf("peers of the first = %s", peerIDs(servers[0]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	p, ok := servers[0].node.Peer("app-node-1")
	if !ok || p.SIPAddr != servers[1].sip.Addr().String() {
		t.Fatalf("the first sees the second as %+v %v", p, ok)
	}

	// Every line of the root logger names the node.
	for i, l := range logs {
		lines := strings.Split(strings.TrimSpace(l.String()), "\n")
		if len(lines) == 0 || lines[0] == "" {
			t.Fatalf("server %d logged nothing", i)
		}
		for _, line := range lines {
			if !strings.Contains(line, fmt.Sprintf("node_id=app-node-%d", i)) {
				t.Errorf("server %d: a line without its node_id: %s", i, line)
			}
		}
	}

	// Every metric carries the node_id label.
	fams := scrape(t, servers[1])
	if len(fams) == 0 {
		t.Fatal("no metrics")
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == "node_id" && l.GetValue() == "app-node-1")
			}
			if !found {
				t.Errorf("%s %v has no node_id=app-node-1", name, m.GetLabel())
			}
		}
	}
	if _, ok := fams["parley_calls_live"]; !ok {
		t.Error("parley_calls_live is missing")
	}

	// Shutdown leaves the cluster: the other sees it gone at once.
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	if err := servers[1].Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(2 * time.Second); peerIDs(servers[0]) != "[app-node-0]"; {
		if time.Now().After(end) {
			t.Fatalf("after the second's shutdown, the first lists %s", peerIDs(servers[0]))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A single node has no cluster: no node, no node_id on its metrics.
func TestSingleNodeHasNoCluster(t *testing.T) {
	srv := startHTTPTest(t, nil)
	if srv.node != nil {
		t.Fatal("a single node joined a cluster")
	}
	for name, f := range scrape(t, srv) {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "node_id" {
					t.Fatalf("%s has a node_id label on a single node", name)
				}
			}
		}
	}
}

func peerIDs(s *Server) string {
	var ids []string
	for _, p := range s.node.Peers() {
		ids = append(ids, p.ID)
	}
	return fmt.Sprint(ids)
}

func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}
