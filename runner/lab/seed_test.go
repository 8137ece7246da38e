package lab

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The lab seeds its repo with lab.libsonnet added to the data table; a
// repo seeded by an older lab (one Proxmox host, no lab.libsonnet) is
// refused with what to do, not deployed against two clusters.
func TestSeedAndOldRepo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Start(ctx, Options{Dir: dir, Runner: "/bin/true", Backends: map[string]bool{}, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	main, err := gitOut(ctx, l.Repo, nil, "cat-file", "blob", "main:main.jsonnet")
	if err != nil || !strings.Contains(main, mainImportLab) {
		t.Errorf("main.jsonnet of the seeded repo does not add lab.libsonnet (%v):\n%s", err, main)
	}
	lab, err := gitOut(ctx, l.Repo, nil, "cat-file", "blob", "main:lab.libsonnet")
	if err != nil || !strings.Contains(lab, "{ dnsmasq: false }") {
		t.Errorf("lab.libsonnet of a lab without dnsmasq (%v):\n%s", err, lab)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	old := t.TempDir()
	work := filepath.Join(old, "work")
	if err := os.MkdirAll(work, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "main.jsonnet"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", filepath.Join(old, "infra.git")},
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "old lab"},
		{"-C", work, "push", "-q", filepath.Join(old, "infra.git"), "main"},
	} {
		if err := git(ctx, old, args...); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := Start(ctx, Options{Dir: old, Runner: "/bin/true", Backends: map[string]bool{}, Out: io.Discard}); err == nil {
		_ = l.Close()
		t.Fatal("a repo of an older lab was not refused")
	} else if !strings.Contains(err.Error(), "seeded by an older runner lab") || !strings.Contains(err.Error(), "another --dir") {
		t.Errorf("refusal: %v", err)
	}
}
