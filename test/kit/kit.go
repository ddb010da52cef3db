// Package kit is the test rig shared by the suites that drive the built parley binary
// (test/e2e, test/load and those to come): it builds the binary once per test process, starts
// servers with options (alone, or as the nodes of a cluster on PostgreSQL and nats-server, with
// Kamailio in front if asked), runs a customer web application that serves documents and records
// callbacks, places calls with the Go SIP phone of internal/sip/siptest, and checks what a call
// heard with the analysis of internal/media.
//
// It is test-only support: production code must not import it. Everything it starts listens on
// 127.0.0.1 and ends with the test that started it.
package kit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-voice/parley/internal/api/openapitest"
)

// The account every server starts with unless its options say otherwise.
const (
	AuthID    = "MA_E2ETEST1"
	AuthToken = "e2e-secret-token-0123456789"
)

// CallerNumber is the From of test calls that do not name one.
const CallerNumber = "+14155550100"

// Kit builds the binary, hands out RTP port ranges and runs the PostgreSQL server of the
// clusters (StartCluster) for one test process. Create it in TestMain with New and Close it
// after m.Run; it is safe for concurrent use.
type Kit struct {
	dir      string // temporary directory holding the built binary
	prebuilt string

	build   sync.Once
	bin     string
	buildEr error

	rtpRanges atomic.Int32 // ranges handed out so far

	// apiDoc loads the OpenAPI validator once: every REST answer a suite reads through
	// Server.Request is checked against the document the binary serves.
	apiDoc func() (*openapitest.Validator, error)

	pgState               // the PostgreSQL server of the clusters (cluster.go)
	clusters atomic.Int32 // clusters started so far: each gets a database of its own
}

// New returns a Kit. prebuilt names a parley binary to run instead of building one; when it is
// empty the binary is built on the first Start (not before, so that tests which start no server
// pay nothing).
func New(prebuilt string) (*Kit, error) {
	dir, err := os.MkdirTemp("", "parley-kit-")
	if err != nil {
		return nil, fmt.Errorf("kit: %w", err)
	}
	return &Kit{dir: dir, prebuilt: prebuilt, apiDoc: sync.OnceValues(openapitest.New)}, nil
}

// Main is the body of a suite's TestMain: it makes a Kit (see New), hands it to use before any
// test runs, runs the tests, removes what the Kit built and exits with the tests' status.
func Main(m *testing.M, prebuilt string, use func(*Kit)) {
	k, err := New(prebuilt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	use(k)
	code := m.Run()
	_ = k.Close()
	os.Exit(code)
}

// Close stops the PostgreSQL server of the clusters, if any, and removes what the Kit built.
func (k *Kit) Close() error { return errors.Join(k.stopPostgres(), os.RemoveAll(k.dir)) }

// Binary returns the path of the parley binary, building it the first time.
func (k *Kit) Binary() (string, error) {
	k.build.Do(func() {
		if k.prebuilt != "" {
			k.bin = k.prebuilt
			return
		}
		bin := filepath.Join(k.dir, "parley")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/parley-voice/parley/cmd/parley")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			k.buildEr = fmt.Errorf("building parley: %w\n%s", err, out)
			return
		}
		k.bin = bin
	})
	return k.bin, k.buildEr
}

// rtpRange returns the next RTP port range of this process. Ranges stay below the kernel's
// ephemeral ports (32768+), which the test clients use.
func (k *Kit) rtpRange() string {
	base := 20000 + int(k.rtpRanges.Add(1)%30)*400
	return fmt.Sprintf("%d-%d", base, base+399)
}
