package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/flow"
)

// get fetches url from a node with the cluster account's credentials and extra headers.
func get(t *testing.T, url string, extra http.Header) restAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(clusterAcct, "cluster-token")
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return restAnswer{resp.StatusCode, resp.Header, body}
}

// A recording file lives in the recordings_dir of the node that made it, and any node serves
// it: node-b, which does not see node-a's disk, passes the download on to node-a's HTTP
// listener (a file larger than one NATS message, Range requests included), and the RecordUrl
// node-b gives for a room homed on node-a works. A download passed on already is never passed
// on again; a holder that is gone is 404, one that does not answer 503; a file node-b finds on
// its own disk (shared storage) is served by node-b itself.
func TestClusterRecordingOnAnyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	bus := newFakeBus()
	var bSharesDisk atomic.Bool // node-b sees node-a's files, as on shared storage
	servers := startClusterServers(t, ctx, "t_app_cluster_recordings", web.URL, "", func(id string, s *Server) clusterNode {
		n := bus.join(id, id+"-boot")
		for method, h := range s.restHandlers() {
			n.Handle(method, h)
		}
		if id == "node-b" { // one machine in the test: node-b is kept out of the others' directories
			s.hideRecordingFiles = func(path string) bool {
				return !bSharesDisk.Load() && !strings.HasPrefix(path, s.cfg.RecordingsDir+string(filepath.Separator))
			}
		}
		return n
	})
	a, b := servers[0], servers[1]
	for _, s := range servers {
		bus.setHTTPAddr(s.nodes.Self().ID, s.HTTPAddr().String())
	}

	// A <Record> file on node-a, larger than a NATS message (1 MB).
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	id := uuid.NewString()
	path := filepath.Join(a.cfg.RecordingsDir, id+".wav")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	if err := a.saveCallRecording(ctx, flow.RecordingMeta{ID: id, AccountID: clusterAcct, CallUUID: uuid.NewString(),
		From: "14155550100", To: "14155550199", Format: "wav", Path: path, Start: start, End: start.Add(time.Minute),
		Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if row, err := b.store.GetRecording(ctx, clusterAcct, id); err != nil || row.NodeID != "node-a" {
		t.Fatalf("recording row %+v, %v; want node-a's", row, err)
	}
	download := func(s *Server) string {
		return flow.RecordingURL(s.routes.baseURL, clusterAcct, id, "wav")
	}

	forwards := bus.count(methodHTTP)
	for _, s := range servers {
		got := get(t, download(s), nil)
		if got.status != http.StatusOK || !bytes.Equal(got.body, data) || got.header.Get("Content-Type") != "audio/wav" ||
			got.header.Get("Content-Length") != fmt.Sprint(len(data)) {
			t.Errorf("download through %s: %d %v, %d bytes (equal: %v)", s.nodes.Self().ID, got.status, got.header,
				len(got.body), bytes.Equal(got.body, data))
		}
	}
	got := get(t, download(b), http.Header{"Range": {"bytes=2000000-2000099"}})
	if got.status != http.StatusPartialContent || !bytes.Equal(got.body, data[2000000:2000100]) ||
		got.header.Get("Content-Range") != fmt.Sprintf("bytes 2000000-2000099/%d", len(data)) {
		t.Errorf("range through node-b: %d %v %d bytes", got.status, got.header, len(got.body))
	}
	if bus.count(methodHTTP) != forwards {
		t.Errorf("a recording file went over the bus")
	}
	// The client's credentials are node-a's to check as well: a wrong password stops at node-b.
	req, _ := http.NewRequest(http.MethodGet, download(b), nil)
	req.SetBasicAuth(clusterAcct, "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong credentials through node-b: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A download another node passed on is never passed on again.
	if got := get(t, download(b), http.Header{forwardedHeader: {"node-c"}}); got.status != http.StatusNotFound ||
		!strings.Contains(string(got.body), "not on node node-b") {
		t.Errorf("forwarded download of a file node-b lacks: %d %s", got.status, got.body)
	}

	// A conference recording made on the room's home, node-a: the RecordUrl a member's node,
	// node-b, builds from its own public_base_url works.
	confID := uuid.NewString()
	confPath := filepath.Join(a.cfg.RecordingsDir, confID+".wav")
	if err := os.WriteFile(confPath, data[:4096], 0o600); err != nil {
		t.Fatal(err)
	}
	a.conferenceRecordingDone(conference.Event{Kind: conference.EventRecordingDone, AccountID: clusterAcct,
		ConferenceName: "Room One", ConferenceUUID: uuid.NewString(), Recording: &conference.RecordingInfo{
			ID: confID, Format: "wav", Path: confPath, ByAttribute: true, Start: start, End: start.Add(time.Second), Duration: time.Second}})
	recordURL := flow.RecordingURL(b.routes.baseURL, clusterAcct, confID, "wav")
	if got := get(t, recordURL, nil); got.status != http.StatusOK || !bytes.Equal(got.body, data[:4096]) {
		t.Errorf("RecordUrl of node-b for node-a's room recording: %d %q", got.status, got.body)
	}

	// node-a is gone: its files are not to be had, and node-b says why.
	bus.leave("node-a")
	if got := get(t, download(b), nil); got.status != http.StatusNotFound || !strings.Contains(string(got.body), "node-a") {
		t.Errorf("download of a dead node's file: %d %s", got.status, got.body)
	}
	// On shared storage node-b finds the file itself, holder or no holder.
	bSharesDisk.Store(true)
	if got := get(t, download(b), nil); got.status != http.StatusOK || !bytes.Equal(got.body, data) {
		t.Errorf("download of a shared file through node-b: %d, %d bytes", got.status, len(got.body))
	}
	bSharesDisk.Store(false)

	// node-a live but not answering: 503, retry.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	bus.join("node-a", "node-a-boot2")
	bus.setHTTPAddr("node-a", closed)
	if got := get(t, download(b), nil); got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "1" {
		t.Errorf("download from an unreachable node: %d %v %s", got.status, got.header, got.body)
	}
}

// A single node on its own SQLite file names itself in its recording rows, as in its call
// records; on a PostgreSQL it may share with other unclustered processes it names none. A
// single node never passes a download on.
func TestSingleNodeRecordingNode(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ databaseURL, want string }{{"", "solo"}, {"postgres://db.invalid/parley", ""}} {
		st := openMemoryStore(t)
		s := newReaperServer(t, st, nil)
		s.cfg.NodeIDOverride, s.cfg.DatabaseURL = "solo", tt.databaseURL
		id := uuid.NewString()
		if err := s.saveCallRecording(ctx, flow.RecordingMeta{ID: id, AccountID: "MA_T", Format: "mp3", Path: "/nowhere/" + id + ".mp3"}); err != nil {
			t.Fatal(err)
		}
		row, err := st.GetRecording(ctx, "MA_T", id)
		if err != nil || row.NodeID != tt.want {
			t.Errorf("database %q: row %+v, %v; want node %q", tt.databaseURL, row, err, tt.want)
		}
		row.NodeID = "elsewhere"
		if err := s.recordingElsewhere(row); err != nil {
			t.Errorf("a single node passes a download on: %v", err)
		}
		if _, _, _, err := s.recordingAPI().Open(ctx, "MA_T", id, "mp3"); !errors.Is(err, api.ErrRecordingNotFound) {
			t.Errorf("missing file on a single node: %v", err)
		}
	}
}
