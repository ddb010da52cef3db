//go:build unix

package webhook

import (
	"fmt"
	"syscall"
)

// SendBuffer sets a socket's kernel send buffer (SO_SNDBUF) to bytes; Linux doubles the value
// for its own bookkeeping and stops growing the buffer by itself. A small buffer keeps a slow
// peer visible to the writer's own queue instead of hiding megabytes in the kernel.
func SendBuffer(bytes int) SocketOption {
	return func(c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, bytes)
		}); err != nil {
			return fmt.Errorf("setting the socket send buffer: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("setting the socket send buffer: %w", serr)
		}
		return nil
	}
}
