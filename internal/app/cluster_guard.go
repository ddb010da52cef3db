package app

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/parley-voice/parley/internal/cluster"
)

// nodeSources are the addresses of the cluster's nodes, which the SIP guard trusts: internal
// legs come from them, and a node that re-joins all its members to a new home at once must not
// run into the per-source INVITE rate. Empty on a single node.
type nodeSources struct {
	peers atomic.Pointer[func() []cluster.Peer]
	snap  atomic.Pointer[nodeSourceSnap]
}

type nodeSourceSnap struct {
	at    time.Time
	addrs map[netip.Addr]bool
}

// nodeSourcesTTL bounds how stale the guard's view of the nodes may be.
const nodeSourcesTTL = time.Second

// use makes the live nodes of peers the trusted sources.
func (n *nodeSources) use(peers func() []cluster.Peer) { n.peers.Store(&peers) }

// trusted tells whether src is the SIP address of a live node. It runs for every SIP packet:
// the node list is read at most once per nodeSourcesTTL.
func (n *nodeSources) trusted(src netip.Addr) bool {
	peers := n.peers.Load()
	if peers == nil {
		return false
	}
	s := n.snap.Load()
	if s == nil || time.Since(s.at) > nodeSourcesTTL {
		s = &nodeSourceSnap{at: time.Now(), addrs: map[netip.Addr]bool{}}
		for _, p := range (*peers)() {
			host, _, err := net.SplitHostPort(p.SIPAddr)
			if err != nil {
				host = p.SIPAddr
			}
			if a, err := netip.ParseAddr(host); err == nil {
				s.addrs[a.Unmap()] = true
			}
		}
		n.snap.Store(s)
	}
	return s.addrs[src.Unmap()]
}
