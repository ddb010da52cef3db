package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Idle connections by the ten thousand are held by helper processes, this test binary run
// again as TestIdleConnHolder: a process may not hold more descriptors than its open file
// limit (20,000 where the suite runs, and not raisable there), so 20,000 connections plus the
// test's own need more than one process.

// holdSpec tells a holder process what to open.
type holdSpec struct {
	Addr      string // host:port to connect to
	From, To  int    // connection numbers [From, To); number i comes from source i/PerSource
	PerSource int
	Net       byte   // sources are 127.Net.x.y
	First     string // written on every odd-numbered connection when not empty
}

const holdEnv = "PARLEY_E2E_HOLD"

// connHolders are the running holder processes.
type connHolders struct {
	procs []*exec.Cmd
	in    []io.WriteCloser
	out   []*bufio.Scanner
}

// holdIdleConns opens total connections to addr from loopback sources 127.net.x.y, perSource
// from each, spread over procs holder processes that open them concurrently, and returns once
// all are open.
func holdIdleConns(t *testing.T, addr string, total, perSource, procs int, net4 byte, first string) *connHolders {
	t.Helper()
	h := &connHolders{}
	t.Cleanup(h.close)
	for i := range procs {
		spec, _ := json.Marshal(holdSpec{Addr: addr, From: i * total / procs, To: (i + 1) * total / procs,
			PerSource: perSource, Net: net4, First: first})
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnHolder$", "-test.count=1")
		cmd.Env = append(os.Environ(), holdEnv+"="+string(spec))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting a connection holder: %v", err)
		}
		h.procs, h.in, h.out = append(h.procs, cmd), append(h.in, in), append(h.out, bufio.NewScanner(out))
	}
	for i := range h.procs {
		if line := h.answer(t, i, 30*time.Second); line != "held" {
			t.Fatalf("connection holder %d: %s", i, line)
		}
	}
	return h
}

// answer is holder i's next line, within wait.
func (h *connHolders) answer(t *testing.T, i int, wait time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for h.out[i].Scan() {
			if line, ok := strings.CutPrefix(h.out[i].Text(), "holder: "); ok {
				got <- line
				return
			}
		}
		got <- "exited"
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(wait):
		t.Fatalf("connection holder %d silent for %v", i, wait)
		return ""
	}
}

// open counts the held connections the server has not closed.
func (h *connHolders) open(t *testing.T) int {
	t.Helper()
	for _, in := range h.in {
		fmt.Fprintln(in, "probe")
	}
	sum := 0
	for i := range h.procs {
		line := h.answer(t, i, 10*time.Second)
		n, err := strconv.Atoi(strings.TrimPrefix(line, "open "))
		if err != nil {
			t.Fatalf("connection holder %d: %s", i, line)
		}
		sum += n
	}
	return sum
}

// close makes the holders close their connections and exit.
func (h *connHolders) close() {
	for _, in := range h.in {
		in.Close()
	}
	for _, cmd := range h.procs {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	h.procs, h.in, h.out = nil, nil, nil
}

// TestIdleConnHolder is the holder process, not a test of its own: it opens the connections
// of $PARLEY_E2E_HOLD, says "holder: held", answers each "probe" line on stdin with "holder:
// open N" and closes them all when stdin ends.
func TestIdleConnHolder(t *testing.T) {
	raw := os.Getenv(holdEnv)
	if raw == "" {
		t.Skip("a helper process of TestHostileIdleTCP and TestHostileIdleHTTP")
	}
	var spec holdSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Printf("holder: bad spec: %v\n", err)
		return
	}
	conns := make([]net.Conn, spec.To-spec.From)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var firstErr atomic.Pointer[error]
	var failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k := i / spec.PerSource
				ip := netip.AddrFrom4([4]byte{127, spec.Net, byte(k / 250), byte(k%250 + 1)})
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), Timeout: 10 * time.Second}
				c, err := d.Dial("tcp", spec.Addr)
				if err != nil {
					err = fmt.Errorf("connection %d from %v: %w", i, ip, err)
					firstErr.CompareAndSwap(nil, &err)
					failed.Add(1)
					continue
				}
				if spec.First != "" && i%2 == 1 {
					_, _ = c.Write([]byte(spec.First)) // the server may have closed it already
				}
				conns[i-spec.From] = c
			}
		}()
	}
	for i := spec.From; i < spec.To; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Printf("holder: %d of %d connections failed, first: %v\n", n, spec.To-spec.From, *firstErr.Load())
		return
	}
	fmt.Println("holder: held")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "probe" {
			continue
		}
		var open atomic.Int64
		var pg sync.WaitGroup
		for _, c := range conns {
			pg.Add(1)
			go func() {
				defer pg.Done()
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				_, err := c.Read(make([]byte, 1))
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open.Add(1)
				}
			}()
		}
		pg.Wait()
		fmt.Printf("holder: open %d\n", open.Load())
	}
}
