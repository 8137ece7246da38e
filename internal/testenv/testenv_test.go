package testenv_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// stopTB records how a test was stopped instead of stopping it.
type stopTB struct {
	testing.TB
	how, msg string
}

func (s *stopTB) Helper()           {}
func (s *stopTB) Fatal(args ...any) { s.how, s.msg = "fatal", fmt.Sprint(args...) }
func (s *stopTB) Skip(args ...any)  { s.how, s.msg = "skip", fmt.Sprint(args...) }

func TestMissingFailsInCIAndSkipsElsewhere(t *testing.T) {
	for _, tc := range []struct {
		ci, how, says string
	}{
		{"true", "fatal", "CI=true"},
		{"", "skip", "CI is not true"},
		{"1", "skip", "CI is not true"},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			s := &stopTB{TB: t}
			testenv.Missing(s, "%s not installed", "dig")
			if s.how != tc.how || !strings.HasPrefix(s.msg, "dig not installed") || !strings.Contains(s.msg, tc.says) {
				t.Errorf("CI=%q: %s %q, want %s with the message and %q", tc.ci, s.how, s.msg, tc.how, tc.says)
			}
		})
	}
}

func TestProgram(t *testing.T) {
	t.Setenv("CI", "true")
	s := &stopTB{TB: t}
	if p := testenv.Program(s, "sh", "dash"); p == "" || s.how != "" {
		t.Errorf("Program(sh) = %q, stopped: %s %q; want its path", p, s.how, s.msg)
	}
	if p := testenv.Program(s, "no-such-program-testenv", "nothing"); p != "" || s.how != "fatal" ||
		!strings.Contains(s.msg, "apt-get install -y nothing") {
		t.Errorf("Program(missing) = %q, stopped: %s %q; want \"\", fatal naming the package", p, s.how, s.msg)
	}
}

func TestRoot(t *testing.T) {
	t.Setenv("CI", "true")
	s := &stopTB{TB: t}
	testenv.Root(s, "to chown")
	if root := os.Geteuid() == 0; root != (s.how == "") {
		t.Errorf("root %v: stopped %s %q", root, s.how, s.msg)
	}
	if s.how != "" && s.msg != "needs root: to chown (CI=true: not skipping)" {
		t.Errorf("message %q", s.msg)
	}
}
