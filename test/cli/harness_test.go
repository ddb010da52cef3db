// Package cli_test runs the operator commands of the built parley binary (`parley conf|call|
// app|endpoint|recording`) against a running `parley serve` with live SIP calls on 127.0.0.1,
// in both output modes. Servers, the customer app and the phones come from test/kit.
package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// suite builds the binary once for the package.
var suite *kit.Kit

func TestMain(m *testing.M) { kit.Main(m, "", func(k *kit.Kit) { suite = k }) }

// server is a running `parley serve` and the binary the CLI runs from.
type server struct {
	*kit.Server
	bin string
}

// startServer starts `parley serve` whose default number application is app. Its RTP range is
// apart from the kit's default ranges, which the kit's own tests use when `make test` runs the
// packages side by side.
func startServer(t *testing.T, app *kit.App) *server {
	t.Helper()
	bin, err := suite.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return &server{Server: suite.Start(t, kit.Options{App: app, RTPPorts: "16000-16399"}), bin: bin}
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs `parley args…` against s with the credentials in the environment.
func (s *server) cli(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = []string{"PARLEY_AUTH_ID=" + kit.AuthID, "PARLEY_AUTH_TOKEN=" + kit.AuthToken}
	if s.Server != nil { // nil for the commands that need no server
		cmd.Env = append(cmd.Env, "PARLEY_URL="+s.HTTP)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("parley %v: %v", args, err)
	}
	return r
}

// ok runs the CLI and fails the test unless it exits 0; it returns stdout.
func (s *server) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.cli(t, args...)
	if r.code != 0 {
		t.Fatalf("parley %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs the CLI with --json and decodes stdout, which must be one JSON object.
func (s *server) okJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	return decode(t, s.ok(t, append(args, "--json")...))
}

// okEmpty runs the CLI with --json for a command whose answer has no body.
func (s *server) okEmpty(t *testing.T, args ...string) {
	t.Helper()
	if out := s.ok(t, append(args, "--json")...); out != "" {
		t.Fatalf("parley %s --json: stdout %q, want nothing (no body)", strings.Join(args, " "), out)
	}
}

// newApp is the customer application of the tests: every inbound call joins the room.
func newApp(t *testing.T) *kit.App {
	app := kit.NewApp(t)
	app.XML("/answer", conference)
	app.OK("/hangup")
	return app
}

// dial places a call from from to Parley and waits until it is answered.
func dial(t *testing.T, s *server, from string) *siptest.Call {
	t.Helper()
	return kit.NewPhone(t, "127.0.0.1").CallAnswered(t, s.Server, "14155550199", siptest.DialOptions{From: from})
}

// waitEnded waits until Parley has ended call.
func waitEnded(t *testing.T, call *siptest.Call) {
	t.Helper()
	kit.WaitEnd(t, call, 10*time.Second)
}

// decode parses one JSON object.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}
