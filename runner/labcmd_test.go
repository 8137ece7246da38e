package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunnerCommand: the lab's "Next:" lines name a command that works
// from the clone, also after `go run ./runner lab`, whose binary the go
// command deletes (issue 17, item 8).
func TestRunnerCommand(t *testing.T) {
	mod := t.TempDir()
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module github.com/gitops-runner/gitops-runner\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(mod, "runner-lab")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "runner")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	noPath := func(string) (string, error) { return "", errors.New("not found") }
	onPath := func(string) (string, error) { return bin, nil }
	goRun := "/tmp/go-build1234567/b001/exe/runner"
	for _, tc := range []struct {
		name, exe, wd string
		look          func(string) (string, error)
		want          string
	}{
		{"go run in the module", goRun, mod, noPath, "go -C " + mod + " run ./runner"},
		{"go run below the module", goRun, sub, noPath, "go -C " + mod + " run ./runner"},
		{"installed on PATH", bin, mod, onPath, "runner"},
		{"built, not on PATH", bin, mod, noPath, bin},
		{"a path with a space", "/opt/my tools/runner", mod, noPath, "'/opt/my tools/runner'"},
	} {
		if got := runnerCommand(tc.exe, tc.wd, tc.look); got != tc.want {
			t.Errorf("%s: runnerCommand(%s) = %q, want %q", tc.name, tc.exe, got, tc.want)
		}
	}
}

// TestLabRestartAddsNoStatus: `runner lab --once` deploys; run again on
// the same directory with nothing changed, it adds no status commit (it
// used to record "deploy …: ok, 0 changed" on every restart).
func TestLabRestartAddsNoStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	statuses := func() string {
		out, err := exec.Command("git", "-C", filepath.Join(dir, "infra.git"), "rev-list", "--count", "status").CombinedOutput()
		if err != nil {
			t.Fatalf("git rev-list: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	lab := func() string {
		var out bytes.Buffer
		if code := run([]string{"lab", "--dir", dir, "--once"}, strings.NewReader(""), &out, &out, nil); code != 0 {
			t.Fatalf("runner lab --once: exit %d\n%s", code, out.String())
		}
		return out.String()
	}
	lab()
	first := statuses()
	if out := lab(); !strings.Contains(out, "nothing to deploy, no status commit added") {
		t.Errorf("restart of an unchanged lab does not say so:\n%s", out)
	}
	if got := statuses(); got != first {
		t.Errorf("restart of an unchanged lab: %s status commits, was %s", got, first)
	}
}
