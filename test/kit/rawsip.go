package kit

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RawUA sends hand-made SIP requests over UDP from one address, for hostile tests: the
// requests an attacker would send, without a SIP stack's politeness.
type RawUA struct {
	t      testing.TB
	Conn   *net.UDPConn
	Server *net.UDPAddr
	host   string
	n      int
}

// NewRawUA binds a UDP socket on ip (127.0.0.0/8) aimed at s; the test's cleanup closes it.
func NewRawUA(t testing.TB, ip string, s *Server) *RawUA {
	t.Helper()
	srv, err := net.ResolveUDPAddr("udp4", s.SIP)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawUA{t: t, Conn: c, Server: srv, host: s.SIP}
}

// Register sends a REGISTER for user with the given Authorization value ("" for none) and
// returns the final response, "" when none came within wait.
func (u *RawUA) Register(user, auth string, wait time.Duration) string {
	u.n++
	local := u.Conn.LocalAddr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%x\r\n", u.host, local, rand.Uint64())
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: reg-%s-%s\r\nCSeq: %d REGISTER\r\n", user, u.host, rand.Uint32(), user, u.host, user, local, u.n)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nExpires: 60\r\nMax-Forwards: 70\r\nUser-Agent: hostile-test\r\n", user, local)
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := u.Conn.WriteToUDP([]byte(b.String()), u.Server); err != nil {
		u.t.Fatal(err)
	}
	return u.final(wait)
}

func (u *RawUA) final(wait time.Duration) string {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(wait)
	for {
		u.Conn.SetReadDeadline(deadline)
		n, _, err := u.Conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		if s := string(buf[:n]); !strings.HasPrefix(s, "SIP/2.0 1") {
			return s
		}
	}
}

// Flood sends rate INVITEs per second (in 10 ms batches) to user at the server for d, each a
// new transaction with an SDP offer, and returns how many it sent. It does not read.
func (u *RawUA) Flood(user string, rate int, d time.Duration) int {
	local := u.Conn.LocalAddr().String()
	ip := u.Conn.LocalAddr().(*net.UDPAddr).IP.String()
	sdp := "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		for k := 0; k < rate/100; k++ {
			msg := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-fl%d-%x\r\n"+
				"From: <sip:flood@%s>;tag=f%d\r\nTo: <sip:%s@%s>\r\nCall-ID: flood-%d-%x@x\r\nCSeq: 1 INVITE\r\n"+
				"Contact: <sip:flood@%s>\r\nMax-Forwards: 70\r\nUser-Agent: pbx\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
				user, u.host, local, sent, rand.Uint32(), ip, sent, user, u.host, sent, rand.Uint32(), local, len(sdp), sdp)
			_, _ = u.Conn.WriteToUDP([]byte(msg), u.Server)
			sent++
		}
	}
	return sent
}

// CountIncoming counts the datagrams c receives until stop is closed.
func CountIncoming(c *net.UDPConn, stop <-chan struct{}) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, _, err := c.ReadFrom(buf); err == nil {
				n.Add(1)
			}
		}
	}()
	return &n
}

var challengeParam = regexp.MustCompile(`(realm|nonce)="([^"]*)"`)

// DigestFor answers the digest challenge in the response res for user and password (MD5,
// qop=auth, nonce-count nc).
func DigestFor(res, method, uri, user, password string, nc int) string {
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(res, -1) {
		params[m[1]] = m[2]
	}
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ncs := fmt.Sprintf("%08x", nc)
	cnonce := fmt.Sprintf("%x", rand.Uint64())
	resp := h(h(user+":"+params["realm"]+":"+password) + ":" + params["nonce"] + ":" + ncs + ":" + cnonce + ":auth:" + h(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"`,
		user, params["realm"], params["nonce"], uri, resp, ncs, cnonce)
}

// Status is the status code of a response ("none" for "").
func Status(res string) string {
	if len(res) < 11 {
		return "none"
	}
	return res[8:11]
}
