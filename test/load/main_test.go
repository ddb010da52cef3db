//go:build load

package load

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// suite is the kit of this test process, set by TestMain before any test runs and not changed
// after (TestMain cannot hand a value to the tests any other way).
var suite *kit.Kit

func TestMain(m *testing.M) {
	kit.Main(m, os.Getenv("PARLEY_LOAD_BIN"), func(k *kit.Kit) { suite = k })
}

// env returns the environment variable key, or def when it is unset or empty.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// workDir is PARLEY_LOAD_DIR/name (made if needed), or a temporary directory.
func workDir(t *testing.T, name string) string {
	t.Helper()
	work := os.Getenv("PARLEY_LOAD_DIR")
	if work == "" {
		return t.TempDir()
	}
	work, err := filepath.Abs(filepath.Join(work, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	return work
}

// startServer starts parley for a benchmark as in production (info logs, the binary's own
// webhook timeout) with its default application on app, its log in work/parley.log and a fresh
// data directory work/data. rtpPorts is its RTP range unless PARLEY_LOAD_RTP_PORTS names one;
// extra settings go on top.
func startServer(t *testing.T, app *kit.App, work, rtpPorts string, extra map[string]string) *kit.Server {
	t.Helper()
	dataDir := filepath.Join(work, "data")
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	envs := map[string]string{
		"PARLEY_LOG_LEVEL":       env("PARLEY_LOAD_LOG_LEVEL", "info"),
		"PARLEY_SHUTDOWN_GRACE":  "2s",
		"PARLEY_WEBHOOK_TIMEOUT": "",
	}
	for k, v := range extra {
		envs[k] = v
	}
	return suite.Start(t, kit.Options{
		NoAPIValidation: true,
		App:             app,
		Env:             envs,
		DataDir:         dataDir,
		RTPPorts:        env("PARLEY_LOAD_RTP_PORTS", rtpPorts),
		LogFile:         filepath.Join(work, "parley.log"),
		StopGrace:       10 * time.Second,
	})
}
