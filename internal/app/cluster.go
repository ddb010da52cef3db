package app

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/parley-voice/parley/internal/cluster"
)

// joinCluster makes this process a node of the cluster (nats_url set). It runs in Start once
// the SIP and HTTP listeners are bound, so the registry shows the ports they really got.
func (s *Server) joinCluster(ctx context.Context) error {
	sipAddr, ok := s.cfg.NodeSIPAddr()
	if !ok { // config.Validate refuses this; kept so a Config built by hand fails clearly
		return fmt.Errorf("cluster: no address for the other nodes to reach this node's SIP: set node_sip_addr")
	}
	rooms := newClusterRooms(s)
	node, err := cluster.Join(ctx, cluster.Options{
		URL:               s.cfg.NATSURL,
		NodeID:            s.cfg.NodeID(),
		Replicas:          s.cfg.NATSReplicas,
		HeartbeatInterval: s.cfg.NodeHeartbeat,
		PeerTimeout:       s.cfg.NodePeerTimeout,
		SIPAddr:           withBoundPort(sipAddr, int(s.sip.Addr().Port())),
		HTTPAddr:          s.nodeHTTPAddr(sipAddr),
		Logger:            s.log,
		Handlers:          s.clusterHandlers(rooms),
		PeerDown:          s.peerDown,
		RoomLost:          s.roomLost,
		Expelled:          s.expelled,
	})
	if err != nil {
		return fmt.Errorf("joining the cluster at %s: %w", s.cfg.NATSURL, err)
	}
	s.node, s.nodes = node, node
	s.startClusterRooms(rooms, node)
	self := node.Self()
	fmt.Fprintf(s.stdout, "Parley node %s (boot %s) in a cluster of %d: sip=%s http=%s\n",
		self.ID, self.BootID, len(node.Peers()), self.SIPAddr, self.HTTPAddr)
	return nil
}

// withBoundPort replaces port 0 of addr (listen on any port) with the port the listener got.
func withBoundPort(addr string, bound int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(bound))
}

// nodeHTTPAddr is where operators reach this node's REST API: the bound HTTP address, with the
// node's SIP host when HTTP listens on every address.
func (s *Server) nodeHTTPAddr(nodeSIPAddr string) string {
	addr := s.httpLn.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host, _, _ = net.SplitHostPort(nodeSIPAddr)
	}
	return net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// clusterHandlers are the methods this node serves to the others (see the cluster design:
// "http", "calls.live", "conferences.list", "room.prepare", "room.result"; and
// "console.action").
func (s *Server) clusterHandlers(rooms *clusterRooms) map[string]cluster.Handler {
	h := s.restHandlers()
	for method, fn := range rooms.handlers() {
		h[method] = fn
	}
	for method, fn := range s.consoleHandlers() {
		h[method] = fn
	}
	return h
}

// peerDown runs, on every surviving node, once for each boot of another node that died, left
// or restarted. What it does must be safe when several nodes do it for the same boot.
func (s *Server) peerDown(p cluster.Peer) {
	s.log.Warn("cluster: a node is gone", "peer", p.ID, "peer_boot_id", p.BootID)
	s.onPeerDown(p)
}

// roomLost runs when another node took a room this node was the home of (it thought this node
// dead).
func (s *Server) roomLost(key string) {
	s.rooms.roomLost(key)
}

// expelled runs when the other nodes took this node for dead (it was cut off from NATS for
// longer than the peer timeout) and ran their PeerDown for it: its calls' records were closed
// by them and its rooms re-homed. It stays up for the calls it still carries, but it is no
// longer part of the cluster until it restarts.
func (s *Server) expelled() {
	s.log.Error("cluster: this node was taken for dead by the others and is out of the cluster: restart it to rejoin")
}
