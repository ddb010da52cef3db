package e2e

import (
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"
)

// sniffUDPFrom captures, on the loopback interface, the payloads of IPv4 UDP datagrams sent
// from port during d. It needs CAP_NET_RAW; without it the test is skipped.
func sniffUDPFrom(t *testing.T, port uint16, d time.Duration) [][]byte {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	proto := int(htons(syscall.ETH_P_ALL))
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, proto)
	if err != nil {
		t.Skipf("cannot capture packets (needs CAP_NET_RAW): %v", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
		t.Skipf("cannot bind the capture to lo: %v", err)
	}
	tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	var out [][]byte
	buf := make([]byte, 65536)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, from, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil || n < 14+20+8 {
			continue
		}
		// Every packet on lo is seen twice (outgoing and incoming): keep the incoming copy.
		if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue
		}
		frame := buf[:n]
		if binary.BigEndian.Uint16(frame[12:]) != 0x0800 { // IPv4 behind lo's empty Ethernet header
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != syscall.IPPROTO_UDP || len(ip) < ihl+8 {
			continue
		}
		udp := ip[ihl:]
		if binary.BigEndian.Uint16(udp[0:]) != port {
			continue
		}
		out = append(out, append([]byte(nil), udp[8:]...))
	}
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
