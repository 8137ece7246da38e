package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
)

const gib = 1 << 30

// doc builds an input document; the fields given replace the empty defaults
// `runner check` uses (empty plan, no live state).
func doc(fields map[string]any) map[string]any {
	d := map[string]any{
		"version":   1,
		"resources": []any{},
		"plan":      []any{},
		"push":      map[string]any{"user": "alice", "ref": "refs/heads/main", "message": "test"},
		"previous":  map[string]any{"resources": []any{}},
		"live":      map[string]any{},
	}
	for k, v := range fields {
		d[k] = v
	}
	return d
}

func res(kind, name string, spec map[string]any) map[string]any {
	return map[string]any{"id": kind + "/" + name, "kind": kind, "name": name, "spec": spec, "dependsOn": []any{}}
}

func guest(name, node string, memMiB int, protect bool) map[string]any {
	return res("proxmox.lxc", name, map[string]any{"node": node, "memory": memMiB, "protect": protect})
}

func change(kind, name, action string, before, after map[string]any, fields ...string) map[string]any {
	fs := []any{}
	for _, f := range fields {
		fs = append(fs, map[string]any{"path": f, "before": nil, "after": nil})
	}
	c := map[string]any{"id": kind + "/" + name, "kind": kind, "name": name, "action": action, "fields": fs,
		"before": nil, "after": nil}
	if before != nil {
		c["before"] = before
	}
	if after != nil {
		c["after"] = after
	}
	return c
}

func liveNodes(nodes map[string]int64) map[string]any {
	ns := map[string]any{}
	for n, mem := range nodes {
		ns[n] = map[string]any{"cpus": 16, "memory": mem}
	}
	return map[string]any{"proxmox": map[string]any{"nodes": ns}}
}

func list(xs ...map[string]any) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func rego(path, src string) policy.File { return policy.File{Path: path, Source: []byte(src)} }

// eval compiles and evaluates, failing the test on any error.
func eval(t *testing.T, repo []policy.File, opts policy.Options, input any) policy.Result {
	t.Helper()
	s, err := policy.Compile(context.Background(), repo, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	r, err := s.Eval(context.Background(), input)
	if err != nil {
		t.Fatalf("Eval: %v", err)
	}
	return r
}

func messages(fs []policy.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Message)
	}
	return out
}

// exampleRepo reads examples/homelab (the reference infra repo) for its policy files.
func exampleRepo(t testing.TB) []policy.File {
	t.Helper()
	root := filepath.Join("..", "examples", "homelab")
	var files []policy.File
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !policy.IsPolicyFile(rel) {
			return nil
		}
		b, err := os.ReadFile(p) //nolint:gosec // test data path
		if err != nil {
			return err
		}
		files = append(files, policy.File{Path: rel, Source: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example policies found")
	}
	return files
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
