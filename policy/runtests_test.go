package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
)

func TestTestRunsRegoTests(t *testing.T) {
	t.Parallel()
	repo := []policy.File{
		rego("policy/guests.rego", `package main

deny contains msg if {
	some r in input.resources
	r.spec.memory > 16384
	msg := sprintf("%s is too big", [r.id])
}
`),
		rego("policy/guests_test.rego", `package main_test

import data.main

test_big_denied if {
	count(main.deny) == 1 with input as {"resources": [{"id": "proxmox.lxc/x", "spec": {"memory": 32768}}]}
}

test_small_denied_wrongly if {
	print("checking the small guest")
	count(main.deny) == 1 with input as {"resources": [{"id": "proxmox.lxc/x", "spec": {"memory": 1024}}]}
}

test_runtime_error if {
	x := to_number("1") / 0
	x == 1
}

todo_test_later if false

test_builtin_config if {
	data.runner.config.overcommit == 1.5
	data.runner.config.zones == ["example.com"]
}

test_builtin_capacity_visible if {
	msgs := data.runner.builtin.capacity.deny with input as {
		"resources": [{"id": "proxmox.vm/a", "kind": "proxmox.vm", "spec": {"node": "pve", "memory": 8192}}],
		"live": {"proxmox": {"nodes": {"pve": {"memory": 4294967296}}}},
	}
	count(msgs) == 1
}

test_config_mocked if {
	msgs := data.runner.builtin.managed_zones.deny with input as {
		"resources": [{"id": "route53.record/x", "kind": "route53.record", "spec": {"zone": "example.org", "name": "x"}}],
	} with data.runner.config as {"zones": ["example.com"]}
	count(msgs) == 1
}
`),
	}
	got, err := policy.Test(context.Background(), repo, policy.Options{Config: policy.Config{Overcommit: 1.5, Zones: []string{"example.com"}}})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	want := []struct {
		name   string
		line   int
		status policy.TestStatus
	}{
		{"data.main_test.test_big_denied", 5, policy.TestPass},
		{"data.main_test.test_small_denied_wrongly", 9, policy.TestFail},
		{"data.main_test.test_runtime_error", 14, policy.TestFail},
		{"data.main_test.todo_test_later", 19, policy.TestSkip},
		{"data.main_test.test_builtin_config", 21, policy.TestPass},
		{"data.main_test.test_builtin_capacity_visible", 26, policy.TestPass},
		{"data.main_test.test_config_mocked", 34, policy.TestPass},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results: %v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.File != "policy/guests_test.rego" || g.Line != w.line || g.Status != w.status {
			t.Errorf("result %d = %s, want %s at line %d: %s", i, g, w.name, w.line, w.status)
		}
	}
	if !strings.Contains(got[1].Output, "checking the small guest") {
		t.Errorf("print output = %q", got[1].Output)
	}
	wantFail := "policy/guests_test.rego:9: data.main_test.test_small_denied_wrongly: FAIL" +
		" (failed at policy/guests_test.rego:11: count(main.deny) == 1 with input as {\"resources\": [{\"id\": \"proxmox.lxc/x\", \"spec\": {\"memory\": 1024}}]})"
	if s := got[1].String(); s != wantFail {
		t.Errorf("String() = %q\nwant       %q", s, wantFail)
	}
	if got[0].FailedAt != nil {
		t.Errorf("passing test has FailedAt %+v", got[0].FailedAt)
	}
}

func TestTestErrorAndTimeout(t *testing.T) {
	t.Parallel()
	repo := []policy.File{rego("policy/x_test.rego", `package x_test

f(_) := 1
f(_) := 2

test_conflict if f(1) == 1

test_slow if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`)}
	got, err := policy.Test(context.Background(), repo, policy.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("results = %v", got)
	}
	if got[0].Status != policy.TestError || !strings.Contains(got[0].Message, "eval_conflict_error") || got[0].Line != 6 {
		t.Errorf("conflict result = %s", got[0])
	}
	if got[1].Status != policy.TestError || !strings.Contains(got[1].Message, "time limit of 50ms") || got[1].Line != 8 {
		t.Errorf("slow result = %s", got[1])
	}
}

func TestTestCompileError(t *testing.T) {
	t.Parallel()
	repo := []policy.File{rego("policy/x_test.rego", "package x_test\n\ntest_bad if {\n\ty == 1\n}\n")}
	_, err := policy.Test(context.Background(), repo, policy.Options{})
	var ce *policy.CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "policy/x_test.rego:4:2") {
		t.Errorf("error = %v, want a *CompileError at policy/x_test.rego:4:2", err)
	}
}

func TestExamplePoliciesPassTheirTests(t *testing.T) {
	t.Parallel()
	repo := exampleRepo(t)
	got, err := policy.Test(context.Background(), repo, policy.Options{})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if len(got) < 9 {
		t.Errorf("only %d example tests ran", len(got))
	}
	for _, r := range got {
		if r.Status != policy.TestPass {
			t.Errorf("%s\n%s", r, r.Output)
		}
	}
}

func TestExamplePoliciesEval(t *testing.T) {
	t.Parallel()
	input := doc(map[string]any{
		"resources": list(
			guest("nextcloud", "pve", 4096, true),
			guest("scratch", "pve", 1024, false),
			res("route53.record", "nas", map[string]any{"zone": "example.com", "name": "nas", "type": "A", "ttl": 60, "values": []any{"192.168.1.20"}}),
		),
		"live": liveNodes(map[string]int64{"pve": 48 * gib}),
	})
	got := eval(t, exampleRepo(t), policy.Options{Config: policy.Config{Zones: []string{"example.com"}}}, input)
	wantDeny := []string{"policy/dns.rego:13: route53.record/nas: A record value 192.168.1.20 is a private address (192.168.0.0/16); it belongs in dnsmasq, not in public DNS"}
	wantWarn := []string{
		"policy/dns.rego:23: route53.record/nas: TTL 60 is below 300 seconds",
		"policy/guests.rego:29: proxmox.lxc/scratch has protect: false; removing it from the repo deletes it and its disks",
	}
	check := func(kind string, fs []policy.Finding, want []string) {
		if len(fs) != len(want) {
			t.Errorf("%s = %v, want %q", kind, fs, want)
			return
		}
		for i := range fs {
			if fs[i].String() != want[i] {
				t.Errorf("%s[%d] = %q, want %q", kind, i, fs[i].String(), want[i])
			}
		}
	}
	check("deny", got.Deny, wantDeny)
	check("warn", got.Warn, wantWarn)
}
