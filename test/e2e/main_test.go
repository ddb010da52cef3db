// Package e2e holds black-box tests of the built parley binary: real SIP and RTP on 127.0.0.1,
// a test web application, and audio checks on what a Go SIP client received. The rig is
// test/kit.
package e2e

import (
	"strings"
	"testing"

	"github.com/parley-voice/parley/test/kit"
)

// suite is the kit of this test process, set by TestMain before any test runs and not changed
// after (TestMain cannot hand a value to the tests any other way).
var suite *kit.Kit

func TestMain(m *testing.M) { kit.Main(m, "", func(k *kit.Kit) { suite = k }) }

func has(s, sub string) bool { return strings.Contains(s, sub) }
