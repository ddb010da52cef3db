//go:build linux || darwin

package app

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit of open files to the hard limit: a SIP and HTTP server
// needs one descriptor per connection and two per call (RTP), far more than the usual soft
// limit of 1024. It logs both values. (The Go runtime does the same at start on Linux; this
// makes it explicit, visible in the log, and true where the runtime does not.)
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("reading the open file limit", "err", err)
		return
	}
	before := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("raising the open file limit", "soft", before, "hard", lim.Max, "err", err)
			return
		}
	}
	log.Info("open file limit", "soft", lim.Cur, "hard", lim.Max, "soft_before", before)
}

// fileLimit is the hard limit of open files, which raiseFileLimit makes the soft one; 0 when
// unknown.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Max
}
