package kit

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNoKamailio: the Debian package kamailio is not installed.
var ErrNoKamailio = errors.New("kamailio is not installed (Debian package kamailio; `make test` installs it)")

// Kamailio is a kamailio process (Debian package kamailio) that dispatches new calls to
// servers, as docs/cluster.md puts it in front of the nodes of a cluster.
type Kamailio struct {
	SIP    string // host:port (UDP and TCP) on 127.0.0.1
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedLog
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
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/kamailio"); serr != nil {
			missing(t, ErrNoKamailio, ErrNoKamailio)
		}
		bin = "/usr/sbin/kamailio"
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
	k := &Kamailio{SIP: addr, exited: make(chan struct{}), log: &lockedLog{}}
	// -DD: stay in the foreground; -E: log to stderr; small memory pools; runtime files in dir.
	k.cmd = exec.Command(bin, "-f", cfgPath, "-DD", "-E", "-m", "32", "-M", "4", "-Y", dir,
		"-P", filepath.Join(dir, "kamailio.pid"), "-w", dir)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	// kamailio forks its workers: they share a process group that the cleanup kills whole,
	// and Wait does not wait for the output of a worker that outlived the kill.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	k.cmd.WaitDelay = time.Second
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("starting kamailio: %v", err)
	}
	go func() { _ = k.cmd.Wait(); close(k.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
		if t.Failed() {
			t.Logf("kamailio log:\n%s", k.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !k.answersOptions() {
		select {
		case <-k.exited:
			t.Fatalf("kamailio exited:\n%s", k.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio does not answer OPTIONS at %s:\n%s", addr, k.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return k
}

// URI is a SIP URI at kamailio for user.
func (k *Kamailio) URI(user string) string { return "sip:" + user + "@" + k.SIP }

// Log is what kamailio wrote so far.
func (k *Kamailio) Log() string { return k.log.String() }

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

// lockedLog collects a process's output, written by the exec package's copier and read by the
// test.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
