package call

// PumpWakeups is how many times the call's pump has woken up.
func PumpWakeups(c *Call) uint64 { return c.media.wakeups.Load() }

// OnMediaTimeout replaces what the media timeout does (ending the call); set it before the call
// has media.
func OnMediaTimeout(c *Call, f func()) { c.media.onMediaTimeout = f }
