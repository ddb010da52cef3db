package app

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/store"
)

// Recording files in a cluster (docs/cluster.md): a file is written into the recordings_dir of
// the node that recorded it, and its row names that node. A node asked for a file it does not
// find on its own disk passes the download on to that node's HTTP listener, streamed, with the
// client's credentials and headers (Range among them). Not over the "http" method: a recording
// is larger than one NATS message.

const (
	// peerDialTimeout bounds connecting to another node's HTTP listener, and
	// peerHeaderTimeout its first answer; the body then streams for as long as it takes.
	peerDialTimeout   = 5 * time.Second
	peerHeaderTimeout = 10 * time.Second
)

// recordingNode is the node a new recording row names as the holder of its file: this node
// wherever its legs' records name it (see ownsCallRecords), else none.
func (s *Server) recordingNode() string {
	if !s.ownsCallRecords() {
		return ""
	}
	id, _ := s.self()
	return id
}

// recordingElsewhere is recordingAPI.elsewhere: for a file this node did not find, a
// *api.RecordingElsewhere that fetches it from the node that holds it, or nil (404) on a single
// node and for a row of this node or of no node.
func (s *Server) recordingElsewhere(row store.Recording) error {
	if s.nodes == nil || row.NodeID == "" || row.NodeID == s.nodes.Self().ID {
		return nil
	}
	return &api.RecordingElsewhere{Serve: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.proxyRecording(w, r, row)
	})}
}

// proxyRecording passes the download r on to the node that holds the file of row. A request
// another node passed on already is never passed on again (404: the file is not here); a
// holder that is not a live node is 404 (its files come back with it), one that does not
// answer is 503.
func (s *Server) proxyRecording(w http.ResponseWriter, r *http.Request, row store.Recording) {
	log := s.log.With("recording_id", row.RecordingID, "holder", row.NodeID)
	if from := r.Header.Get(forwardedHeader); from != "" {
		log.Warn("a recording file passed on from another node is not here", "from", from, "path", row.FilePath)
		writeClusterError(w, http.StatusNotFound, "the recording file is not on node "+s.nodes.Self().ID)
		return
	}
	peer, live := s.nodes.Peer(row.NodeID)
	if !live || peer.HTTPAddr == "" {
		writeClusterError(w, http.StatusNotFound, fmt.Sprintf(
			"the recording file is on node %s, which is not running: it can be downloaded once that node is back", row.NodeID))
		return
	}
	scheme := "http"
	if s.cfg.HTTPSEnabled() {
		scheme = "https"
	}
	self := s.nodes.Self().ID
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The path and query as the client sent them: the holder's REST handler
			// normalises them as this node's did.
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = scheme, peer.HTTPAddr, ""
			pr.Out.Header.Set(forwardedHeader, self)
		},
		Transport: s.peerTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil { // the client went away
				return
			}
			log.Warn("fetching a recording file from its node failed", "addr", peer.HTTPAddr, "err", err)
			writeClusterError(w, http.StatusServiceUnavailable, "the node holding this recording file is unavailable, retry shortly")
		},
	}
	proxy.ServeHTTP(w, r)
}

// newPeerTransport is how this node reaches the other nodes' HTTP listeners: HTTPS when this
// node serves HTTPS (the nodes share their configuration), trusting the system's roots and this
// node's own certificate.
func (s *Server) newPeerTransport() (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // node to node, never through an outgoing proxy
	t.DialContext = (&net.Dialer{Timeout: peerDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = peerHeaderTimeout
	if s.cfg.HTTPSEnabled() {
		if err := trustOwnCertificate(t, s.cfg.HTTPSCertFile); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// openRecordingFile opens a recording file on this node's disk; os.Open but in tests, where
// it plays a node that does not see another node's files.
func (s *Server) openRecordingFile(path string) (*os.File, error) {
	if s.hideRecordingFiles != nil && s.hideRecordingFiles(path) {
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
	}
	return os.Open(path)
}
