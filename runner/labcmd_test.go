package main

import (
	"errors"
	"os"
	"path/filepath"
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
