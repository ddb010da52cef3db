//go:build !(linux || darwin)

package app

import "log/slog"

// raiseFileLimit does nothing where RLIMIT_NOFILE does not exist.
func raiseFileLimit(*slog.Logger) {}

// fileLimit is unknown here.
func fileLimit() uint64 { return 0 }
