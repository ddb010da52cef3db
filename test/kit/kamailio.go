package kit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/svctest"
)

// ErrNoKamailio: the Debian package kamailio is not installed.
var ErrNoKamailio = errors.New("kamailio is not installed (Debian package kamailio; `make test` installs it)")

// Kamailio is a kamailio process (Debian package kamailio) that dispatches new calls to
// servers, as docs/cluster.md puts it in front of the nodes of a cluster.
type Kamailio struct {
	SIP  string // host:port (UDP and TCP) on 127.0.0.1
	proc *svctest.Process
}

var (
	listenDirective = regexp.MustCompile(`(?m)^listen=(udp|tcp):\S+$`)
	dispatcherList  = regexp.MustCompile(`"[^"]*dispatcher\.list"`)
)

// StartKamailio runs kamailio with the configuration cfg, in which it replaces every
// listen=udp:…/listen=tcp:… line by a port of 127.0.0.1 chosen here and the path of
// dispatcher.list by a file of its own that lists nodes (set 1) in order. It waits until
// kamailio answers OPTIONS; the test's cleanup kills it. Without the kamailio package the test
// is skipped with the reason, except under CI (CI=true), where it fails.
func StartKamailio(t testing.TB, cfg string, nodes []*Server) *Kamailio {
	t.Helper()
	bin, err := svctest.Program("kamailio", ErrNoKamailio)
	if err != nil {
		svctest.Missing(t, err, ErrNoKamailio)
	}
	dir := t.TempDir()
	var list strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&list, "1 sip:%s\n", n.SIP)
	}
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freeSIPPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !listenDirective.MatchString(cfg) || !dispatcherList.MatchString(cfg) {
		t.Fatalf("kamailio configuration without listen= lines or a dispatcher.list:\n%s", cfg)
	}
	cfg = listenDirective.ReplaceAllString(cfg, "listen=$1:"+addr)
	cfg = dispatcherList.ReplaceAllString(cfg, strconv.Quote(listPath))
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// -DD: stay in the foreground; -E: log to stderr; small memory pools; runtime files in dir.
	// kamailio forks its workers: they share a process group that the cleanup kills whole.
	proc, err := svctest.StartProcess(exec.Command(bin, "-f", cfgPath, "-DD", "-E", "-m", "32", "-M", "4", "-Y", dir,
		"-P", filepath.Join(dir, "kamailio.pid"), "-w", dir), true)
	if err != nil {
		t.Fatalf("starting kamailio: %v", err)
	}
	k := &Kamailio{SIP: addr, proc: proc}
	t.Cleanup(func() {
		proc.Kill()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", proc.Log())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := proc.WaitReady(ctx, 100*time.Millisecond, k.answersOptions); err != nil {
		t.Fatalf("kamailio does not answer OPTIONS at %s: %v", addr, err)
	}
	return k
}

// URI is a SIP URI at kamailio for user.
func (k *Kamailio) URI(user string) string { return "sip:" + user + "@" + k.SIP }

// Log is what kamailio wrote so far.
func (k *Kamailio) Log() string { return k.proc.Log() }

// answersOptions sends one OPTIONS to kamailio itself and waits 300 ms for a 200.
func (k *Kamailio) answersOptions() bool {
	c, err := net.Dial("udp", k.SIP)
	if err != nil {
		return false
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:" + k.SIP + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-kit" + strconv.FormatInt(time.Now().UnixNano(), 36) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:kit@" + local + ">;tag=kit\r\n" +
		"To: <sip:" + k.SIP + ">\r\n" +
		"Call-ID: kit-probe-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}
