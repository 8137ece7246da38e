package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
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

// TestLabWithoutDnsmasq: where dnsmasq is not installed the lab says how
// to get it, leaves the sites' internal DNS out of its config and repo, and
// still deploys. Started again once dnsmasq is there, it commits the new
// lab.libsonnet on main and the deploy gives every site its records.
func TestLabWithoutDnsmasq(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	find := findDnsmasq
	defer func() { findDnsmasq = find }()
	findDnsmasq = func() (string, error) { return "", exec.ErrNotFound }
	labOnce := func() string {
		t.Helper()
		var out bytes.Buffer
		if code := run([]string{"lab", "--dir", dir, "--once"}, strings.NewReader(""), &out, &out, nil); code != 0 {
			t.Fatalf("runner lab --once: exit %d\n%s", code, out.String())
		}
		return out.String()
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", filepath.Join(dir, "infra.git")}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := labOnce()
	if !strings.Contains(out, "apt-get install dnsmasq-base") || strings.Contains(out, "every site answers for every site") {
		t.Errorf("without dnsmasq, the lab does not say how to get it (or lists sites):\n%s", out)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "runner.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), `"dnsmasq"`) || !strings.Contains(string(cfg), `"flat1"`) {
		t.Errorf("config without dnsmasq: want no dnsmasq section, the flat1 cluster:\n%s", cfg)
	}
	inv := git("show", "status:inventory.json")
	if !strings.HasPrefix(git("log", "-1", "--format=%s", "status"), "deploy ") || strings.Contains(inv, "dnsmasq.") ||
		!strings.Contains(inv, "proxmox.lxc/jellyfin") {
		t.Errorf("without dnsmasq: status %q, inventory:\n%s", git("log", "-1", "--format=%s", "status"), inv)
	}

	findDnsmasq = find
	if _, err := find(); err != nil {
		testenv.Missing(t, "dnsmasq not installed: apt-get install -y dnsmasq-base")
	}
	main := strings.TrimSpace(git("rev-parse", "main"))
	out = labOnce()
	if !strings.Contains(out, "every site answers for every site: dig @127.0.0.1 -p ") {
		t.Errorf("with dnsmasq, the lab lists no sites:\n%s", out)
	}
	if subj := git("log", "-1", "--format=%s", "main"); strings.TrimSpace(git("rev-parse", "main^")) != main || !strings.Contains(subj, "lab.libsonnet") {
		t.Errorf("main: %q on top of %s, want the lab's commit of lab.libsonnet on %s", subj, git("rev-parse", "main^"), main)
	}
	if inv := git("show", "status:inventory.json"); !strings.Contains(inv, "dnsmasq.host/jellyfin.flat1.int.mydomain") || !strings.Contains(inv, "dnsmasq.forward/hetzner-to-flat1") {
		t.Errorf("with dnsmasq, the deploy did not add the sites' records:\n%s", inv)
	}
	hosts, err := os.ReadFile(filepath.Join(dir, "dnsmasq", "flat1", "runner.hosts"))
	if err != nil || !strings.Contains(string(hosts), "192.168.1.22 jellyfin.flat1.int.mydomain") {
		t.Errorf("flat1's hosts file: %v\n%s", err, hosts)
	}

	// dnsmasq gone again: the lab refuses to start (its repo and inventory
	// hold the sites' records), and changes nothing.
	findDnsmasq = func() (string, error) { return "", exec.ErrNotFound }
	main, status := git("rev-parse", "main"), git("rev-parse", "status")
	var again bytes.Buffer
	if code := run([]string{"lab", "--dir", dir, "--once"}, strings.NewReader(""), &again, &again, nil); code == 0 ||
		!strings.Contains(again.String(), "dnsmasq is not installed now: install it (Debian: apt-get install dnsmasq-base), or start a new lab with another --dir") {
		t.Errorf("lab without dnsmasq after a lab with sites: exit %d, want a refusal saying what to do\n%s", code, again.String())
	}
	if git("rev-parse", "main") != main || git("rev-parse", "status") != status {
		t.Error("the refused lab start changed main or the status branch")
	}
}
