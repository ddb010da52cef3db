package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestFreshStartAnswersWithDemo is `make run` on a fresh clone: no configuration at all.
func TestFreshStartAnswersWithDemo(t *testing.T) {
	p := suite.Start(t, kit.Options{Env: map[string]string{"PARLEY_AUTH_ID": "", "PARLEY_AUTH_TOKEN": ""}})
	if !regexp.MustCompile(`MA_[A-Z0-9]{8}`).MatchString(p.Logs()) {
		t.Error("the generated account was not printed")
	}
	info, err := os.Stat(filepath.Join(p.DataDir, "account"))
	if err != nil {
		t.Fatalf("generated account not stored: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("account file mode %v, want 0600", info.Mode().Perm())
	}

	cl := kit.Dial(t, p, "1000", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "demo application did not answer")
	time.Sleep(4 * time.Second)
	frames := kit.Frames(cl)
	if got := kit.FractionAbove(frames, -40); got < 0.3 {
		t.Errorf("demo: %.0f%% of %d frames above -40 dBFS: no welcome heard", got*100, len(frames))
	}

	// A second start re-reads the same account: its token is not printed again.
	data, err := os.ReadFile(filepath.Join(p.DataDir, "account"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`auth_token=(\S+)`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("no auth_token in the account file: %q", data)
	}
	if !strings.Contains(p.Logs(), m[1]) {
		t.Error("the generated token was not printed on first start")
	}
	p.Restart()
	if strings.Contains(p.Logs(), m[1]) {
		t.Error("the token was printed again on the second start")
	}
	data2, _ := os.ReadFile(filepath.Join(p.DataDir, "account"))
	if string(data2) != string(data) {
		t.Error("the second start changed the stored account")
	}
}
