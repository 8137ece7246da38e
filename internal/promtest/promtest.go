// Package promtest checks Prometheus text exposition in tests with the
// real `promtool check metrics` (Debian package prometheus).
package promtest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// Check fails the test when `promtool check metrics` refuses text (a
// scrape of /metrics); without promtool it stops the test as
// testenv.Missing does (fails when CI=true).
func Check(tb testing.TB, text string) {
	tb.Helper()
	p := testenv.Program(tb, "promtool", "prometheus")
	cmd := exec.Command(p, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
