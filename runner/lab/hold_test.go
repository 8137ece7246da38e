package lab

import (
	"strings"
	"testing"
)

// A second lab on a directory a lab runs on is refused (it would start
// simulators on new ports and rewrite the first lab's configuration); once
// the first stops, the directory is free again.
func TestHoldDir(t *testing.T) {
	dir := t.TempDir()
	first, err := holdDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holdDir(dir); err == nil || !strings.Contains(err.Error(), "another runner lab (pid ") {
		t.Fatalf("second lab on %s: %v, want a refusal naming the first's pid", dir, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := holdDir(dir)
	if err != nil {
		t.Fatalf("after the first lab stopped: %v", err)
	}
	_ = again.Close()
}
