// Package testenv is how a test says it needs something from the machine (a
// program, root) that it does not have. In CI (CI=true: .ci/run installs
// every package and runs the tests as root) a missing requirement fails the
// test, so CI never goes green by skipping; elsewhere it skips, so a
// developer without the package can still run the rest of the module's
// tests.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI: the environment variable CI is
// "true".
func CI() bool { return os.Getenv("CI") == "true" }

// Missing stops the test because something it needs is missing: tb.Fatal
// in CI, tb.Skip elsewhere. The message (fmt.Sprintf(format, args...))
// says what is missing and how to install it; Missing adds which of the
// two it did and why.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatal(msg + " (CI=true: not skipping)")
		return
	}
	tb.Skip(msg + " (skipped because CI is not true)")
}

// Program returns the path of an installed program (exec.LookPath), or
// stops the test with Missing, naming the Debian package that provides it.
func Program(tb testing.TB, name, debianPackage string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s not installed: apt-get install -y %s", name, debianPackage)
		return ""
	}
	return p
}

// Root stops the test with Missing unless it runs as root (effective uid
// 0); why says what the test needs root for.
func Root(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "needs root: %s", why)
	}
}
