package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// policyRequest is what the parent sends the "policy" child.
type policyRequest struct {
	Files []policy.File
	Input map[string]any
}

func init() {
	sandbox.Register("policy", func(ctx context.Context, req []byte, progress func(string)) ([]byte, error) {
		var r policyRequest
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, err
		}
		opts := policy.Options{Disabled: policy.Builtins(), Timeout: time.Hour, OnRule: func(file string, line int) {
			progress(fmt.Sprintf("%s:%d", file, line))
		}}
		s, err := policy.Compile(ctx, r.Files, opts)
		if err != nil {
			return nil, err
		}
		res, err := s.Eval(ctx, r.Input)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	})
}

func runPolicy(t *testing.T, lim sandbox.Limits, files ...policy.File) (*sandbox.Result, error) {
	t.Helper()
	req, err := json.Marshal(policyRequest{Files: files, Input: map[string]any{"version": policy.InputVersion}})
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.Run(context.Background(), "policy", req, lim)
}

func regoFile(path, src string) policy.File { return policy.File{Path: path, Source: []byte(src)} }

var okPolicy = regoFile("policy/fast.rego", `package fast

deny contains "fast" if true
`)

func TestPolicyInChild(t *testing.T) {
	res, err := runPolicy(t, testLimits, okPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var r policy.Result
	if err := json.Unmarshal(res.Output, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Deny) != 1 || r.Deny[0].String() != "policy/fast.rego:3: fast" {
		t.Errorf("deny = %v, want policy/fast.rego:3: fast", r.Deny)
	}
}

// TestPolicyStuckInBuiltin is the policy: OPA does not check its
// deadline inside strings.render_template, so only killing the process
// stops it (it runs for ~30 s otherwise).
func TestPolicyStuckInBuiltin(t *testing.T) {
	slow := regoFile("policy/slow.rego", `package slow
deny contains msg if {
  s := strings.render_template("{{range .a}}{{range $.a}}{{range $.a}}{{range $.a}}{{end}}{{end}}{{end}}{{end}}", {"a": numbers.range(1, 190)})
  msg := sprintf("rendered %d", [count(s)])
}
`)
	lim := testLimits
	lim.Timeout = 2 * time.Second
	start := time.Now()
	_, err := runPolicy(t, lim, okPolicy, slow)
	wantReturnedBy(t, start, lim.Timeout)
	asLimit(t, err, sandbox.LimitTime)
	wantError(t, err, "policy evaluation killed after 2s (limits.policyTimeout); the last step started was policy/slow.rego:2")
}

// TestPolicyMemoryBomb builds a huge value inside OPA: the child dies at
// its memory limit, and the parent names it.
func TestPolicyMemoryBomb(t *testing.T) {
	bomb := regoFile("policy/bomb.rego", `package bomb

deny contains msg if {
	xs := [x | some i in numbers.range(1, 100000000); x := sprintf("item %d", [i])]
	msg := sprintf("built %d", [count(xs)])
}
`)
	lim := testLimits
	lim.Memory = 96 << 20
	lim.Timeout = 2 * time.Minute
	_, err := runPolicy(t, lim, bomb)
	le := asLimit(t, err, sandbox.LimitMemory)
	wantError(t, err, "policy evaluation killed at the memory limit of 96 MiB (limits.policyMemory); the last step started was policy/bomb.rego:3")
	wantPeakRSS(t, le.Usage, lim.Memory, idleRSS(t)+8<<20)
}
