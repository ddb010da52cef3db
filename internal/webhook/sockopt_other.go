//go:build !unix

package webhook

import "syscall"

// SendBuffer is a no-op where Parley has no portable way to set SO_SNDBUF: the kernel's default
// buffer is kept.
func SendBuffer(bytes int) SocketOption {
	return func(syscall.RawConn) error { return nil }
}
