package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
)

// allBuiltinsOff keeps repo-rule tests independent of the built-ins.
var allBuiltinsOff = policy.Options{Disabled: policy.Builtins()}

func TestRepoRules(t *testing.T) {
	t.Parallel()
	input := doc(map[string]any{"resources": list(guest("nextcloud", "pve", 4096, true), guest("big", "pve", 32768, false))})
	tests := []struct {
		name     string
		repo     []policy.File
		wantDeny []policy.Finding
		wantWarn []policy.Finding
	}{
		{
			name: "package main",
			repo: []policy.File{rego("policy/guests.rego", `package main

deny contains msg if {
	some r in input.resources
	r.spec.memory > 16384
	msg := sprintf("%s is too big", [r.id])
}

warn contains msg if {
	some r in input.resources
	not r.spec.protect
	msg := sprintf("%s is not protected", [r.id])
}
`)},
			wantDeny: []policy.Finding{{Message: "proxmox.lxc/big is too big", File: "policy/guests.rego", Line: 3, Rule: "data.main.deny"}},
			wantWarn: []policy.Finding{{Message: "proxmox.lxc/big is not protected", File: "policy/guests.rego", Line: 9, Rule: "data.main.warn"}},
		},
		{
			name: "other package, nested directory, prefixed rule names",
			repo: []policy.File{rego("policy/infra/sizes.rego", `package infra.sizes

deny_memory contains msg if {
	some r in input.resources
	r.spec.memory > 16384
	msg := sprintf("%s is too big", [r.id])
}

warn_count contains "two guests" if count(input.resources) == 2

helper contains "not a finding" if true
`)},
			wantDeny: []policy.Finding{{Message: "proxmox.lxc/big is too big", File: "policy/infra/sizes.rego", Line: 3, Rule: "data.infra.sizes.deny_memory"}},
			wantWarn: []policy.Finding{{Message: "two guests", File: "policy/infra/sizes.rego", Line: 9, Rule: "data.infra.sizes.warn_count"}},
		},
		{
			name: "each definition of a rule gets its own line, across files",
			repo: []policy.File{
				rego("policy/a.rego", "package main\n\ndeny contains \"from a\" if true\n"),
				rego("policy/b.rego", "package main\n\n\n\ndeny contains \"from b\" if true\n\ndeny contains \"from a\" if true\n"),
			},
			// "from a" is produced by a.rego:3 and b.rego:7: deny is a set,
			// so it is reported once, at the first place.
			wantDeny: []policy.Finding{
				{Message: "from a", File: "policy/a.rego", Line: 3, Rule: "data.main.deny"},
				{Message: "from b", File: "policy/b.rego", Line: 5, Rule: "data.main.deny"},
			},
		},
		{
			name: "object messages, conftest style",
			repo: []policy.File{rego("policy/obj.rego", `package main

deny contains {"msg": "structured", "resource": "proxmox.lxc/big"} if true
`)},
			wantDeny: []policy.Finding{{Message: "structured", File: "policy/obj.rego", Line: 3, Rule: "data.main.deny",
				Details: map[string]any{"resource": "proxmox.lxc/big"}}},
		},
		{
			name: "complete rule with else",
			repo: []policy.File{rego("policy/else.rego", `package main

deny := {"too many"} if {
	count(input.resources) > 5
} else := {"two"} if {
	count(input.resources) == 2
}
`)},
			wantDeny: []policy.Finding{{Message: "two", File: "policy/else.rego", Line: 3, Rule: "data.main.deny"}},
		},
		{
			name: "test files and non-Rego files are not policies",
			repo: []policy.File{
				rego("policy/x_test.rego", "package main\n\ndeny contains \"from a test file\" if true\n"),
				rego("policy/README.md", "# not rego"),
			},
		},
		{
			name: "no rule fires",
			repo: []policy.File{rego("policy/quiet.rego", "package main\n\ndeny contains \"never\" if false\n")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := eval(t, tc.repo, allBuiltinsOff, input)
			if tc.wantDeny == nil {
				tc.wantDeny = []policy.Finding{}
			}
			if tc.wantWarn == nil {
				tc.wantWarn = []policy.Finding{}
			}
			if !reflect.DeepEqual(got.Deny, tc.wantDeny) {
				t.Errorf("Deny = %#v\nwant %#v", got.Deny, tc.wantDeny)
			}
			if !reflect.DeepEqual(got.Warn, tc.wantWarn) {
				t.Errorf("Warn = %#v\nwant %#v", got.Warn, tc.wantWarn)
			}
			if got.Denied() != (len(tc.wantDeny) > 0) {
				t.Errorf("Denied() = %v", got.Denied())
			}
		})
	}
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	s, err := policy.Compile(context.Background(), exampleRepo(t), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	input := doc(map[string]any{"resources": list(guest("big", "pve", 32768, true))})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			res, err := s.Eval(context.Background(), input)
			if err == nil && len(res.Deny) != 1 {
				err = fmt.Errorf("deny = %v, want 1 finding", res.Deny)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestBadMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"number", "package main\n\ndeny contains 3 if true\n", []string{"policy/m.rego:3: data.main.deny", "must be a string", "number 3"}},
		{"object without msg", "package main\n\n\nwarn contains {\"text\": \"x\"} if true\n", []string{"policy/m.rego:4: data.main.warn", `string "msg" field`}},
		{"v0-style head builds an object", "package main\n\ndeny[msg] if msg := \"x\"\n", []string{"policy/m.rego:3: data.main.deny", "must be a set of messages", "got object", "deny[msg] if"}},
		{"boolean rule", "package main\n\ndeny if true\n", []string{"policy/m.rego:3", "must be a set of messages", "got boolean"}},
		{"runtime error", "package main\n\nf(_) := 1\nf(_) := 2\n\ndeny contains msg if {\n\tmsg := sprintf(\"%d\", [f(1)])\n}\n", []string{"policy/m.rego:6: data.main.deny", "eval_conflict_error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := policy.Compile(context.Background(), []policy.File{rego("policy/m.rego", tc.src)}, allBuiltinsOff)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = s.Eval(context.Background(), doc(nil))
			var ee *policy.EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("Eval error = %v, want an *EvalError", err)
			}
			if !containsAll(err.Error(), tc.want...) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEvalErrorsDoNotHideOtherFindings(t *testing.T) {
	t.Parallel()
	repo := []policy.File{
		rego("policy/bad.rego", "package bad\n\ndeny contains 3 if true\n"),
		rego("policy/good.rego", "package main\n\ndeny contains \"good\" if true\n"),
	}
	s, err := policy.Compile(context.Background(), repo, allBuiltinsOff)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Eval(context.Background(), doc(nil))
	if err == nil || !strings.Contains(err.Error(), "policy/bad.rego:3") {
		t.Errorf("error = %v, want one naming policy/bad.rego:3", err)
	}
	if got := messages(res.Deny); !reflect.DeepEqual(got, []string{"good"}) {
		t.Errorf("Deny = %q, want [good]", got)
	}
}

func TestInputVersion(t *testing.T) {
	t.Parallel()
	s, err := policy.Compile(context.Background(), nil, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []any{
		map[string]any{"resources": []any{}},
		map[string]any{"version": 2},
		[]any{1},
	} {
		if _, err := s.Eval(context.Background(), in); err == nil || !strings.Contains(err.Error(), "policy input") {
			t.Errorf("Eval(%v) error = %v, want a policy input error", in, err)
		}
	}
	// The typed Input works as well as a map.
	if _, err := s.Eval(context.Background(), policy.Input{Version: policy.InputVersion}); err != nil {
		t.Errorf("Eval(Input{}) = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	// 10^10 iterations: runs for hours unless stopped.
	repo := []policy.File{rego("policy/slow.rego", `package main

deny contains "never" if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`)}
	s, err := policy.Compile(context.Background(), repo, policy.Options{Disabled: policy.Builtins(), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Eval(context.Background(), doc(nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
	if !containsAll(err.Error(), "policy/slow.rego:3", "data.main.deny", "time limit of 50ms") {
		t.Errorf("error %q does not name the rule and the limit", err)
	}

	// A caller's cancellation is reported as such, not as the time limit.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Eval(ctx, doc(nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Eval error = %v, want context.Canceled", err)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts policy.Options
		want string
	}{
		{"unknown built-in", policy.Options{Disabled: []string{"capacityy"}}, `unknown built-in policy "capacityy"`},
		{"negative overcommit", policy.Options{Config: policy.Config{Overcommit: -1}}, "overcommit must be a positive ratio"},
		{"bad node memory", policy.Options{Config: policy.Config{Nodes: map[string]policy.Node{"pve": {}}}}, "node pve: memory"},
		{"bad zone", policy.Options{Config: policy.Config{Zones: []string{"."}}}, "zone"},
		{"negative timeout", policy.Options{Timeout: -time.Second}, "negative timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := policy.Compile(context.Background(), nil, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile error = %v, want %q", err, tc.want)
			}
			if _, err := policy.Test(context.Background(), nil, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Test error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestIsPolicyFile(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"policy/guests.rego":      true,
		"policy/a/b_test.rego":    true,
		"policy/README.md":        false,
		"lib/policy/x.rego":       false,
		"main.jsonnet":            false,
		"policyx/guests.rego":     false,
		"policy/builtin/cap.rego": true,
	} {
		if got := policy.IsPolicyFile(p); got != want {
			t.Errorf("IsPolicyFile(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	repo := []policy.File{rego("policy/j.rego", "package main\n\ndeny contains {\"msg\": \"m\", \"severity\": \"high\"} if true\n")}
	got, err := json.Marshal(eval(t, repo, allBuiltinsOff, doc(nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deny":[{"message":"m","file":"policy/j.rego","line":3,"rule":"data.main.deny","details":{"severity":"high"}}],"warn":[]}`
	if string(got) != want {
		t.Errorf("JSON = %s\nwant   %s", got, want)
	}
}
