package app

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With every slot held by connections that send nothing, a client that sends its request is
// still served: the connection that waited longest gives up its slot.
func TestConnLimitListenerEvictsIdleForNewRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := newConnLimitListener(ln, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}), ConnState: limited.connState}
	go func() { _ = srv.Serve(limited) }()
	defer srv.Close()

	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
		time.Sleep(50 * time.Millisecond) // accepted in this order
	}
	c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("request with all slots idle: %q %v", line, err)
	}
	// The two oldest idle connections were closed to make room; the newest is still open.
	for i, want := range []bool{true, true, false} {
		_ = idle[i].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := idle[i].Read(make([]byte, 1))
		closed := err != nil && !isTimeout(err)
		if closed != want {
			t.Errorf("idle connection %d closed = %v, want %v (%v)", i, closed, want, err)
		}
	}
	limited.mu.Lock()
	open := limited.open
	limited.mu.Unlock()
	if open > 2 {
		t.Errorf("%d connections hold slots, over the cap of 2", open)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// A connection with a request in progress keeps its slot: with the cap full of busy
// connections, the next one waits until a slot is free.
func TestConnLimitListenerKeepsBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := newConnLimitListener(ln, 1)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = w.Write([]byte("ok"))
	}), ConnState: limited.connState}
	go func() { _ = srv.Serve(limited) }()
	defer srv.Close()

	slow := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	time.Sleep(100 * time.Millisecond)
	hc := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := hc.Get("http://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("a second connection was served while the only slot was busy")
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the busy request: %v", err)
	}
	hc.Timeout = 2 * time.Second
	resp, err := hc.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("after the busy request ended: %v", err)
	}
	resp.Body.Close()
}
