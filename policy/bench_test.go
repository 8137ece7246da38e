package policy_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
)

// benchInput is a homelab-sized run: 50 resources (25 guests, 10 DNS
// records, 5 certificates, 10 FreeIPA hosts), a plan over all of them with
// a few updates and deletes, previous state and live node memory.
func benchInput() map[string]any {
	var resources, plan, previous []any
	add := func(r map[string]any, action string) {
		resources = append(resources, r)
		previous = append(previous, r)
		plan = append(plan, change(r["kind"].(string), r["name"].(string), action, r["spec"].(map[string]any), r["spec"].(map[string]any), "memory"))
	}
	for i := range 25 {
		action := "noop"
		if i%5 == 0 {
			action = "update"
		}
		add(guest(fmt.Sprintf("ct%02d", i), "pve", 1536, true), action)
	}
	for i := range 10 {
		add(res("route53.record", fmt.Sprintf("www%d", i), map[string]any{"zone": "example.com", "name": fmt.Sprintf("www%d", i),
			"type": "A", "ttl": 300, "values": []any{"203.0.113.7"}}), "noop")
	}
	for i := range 5 {
		add(res("acme.certificate", fmt.Sprintf("c%d", i), map[string]any{"domains": []any{fmt.Sprintf("c%d.example.com", i), "*.home.example.com"}}), "noop")
	}
	for i := range 10 {
		add(res("freeipa.host", fmt.Sprintf("h%d.home.example.com", i), map[string]any{"hasKeytab": true, "deleteEnrolled": false}), "noop")
	}
	for i := range 3 {
		spec := map[string]any{"node": "pve", "memory": 512, "protect": false}
		previous = append(previous, res("proxmox.lxc", fmt.Sprintf("gone%d", i), spec))
		plan = append(plan, change("proxmox.lxc", fmt.Sprintf("gone%d", i), "delete", spec, nil))
	}
	return doc(map[string]any{
		"resources": resources,
		"plan":      plan,
		"previous":  map[string]any{"resources": previous},
		"live":      liveNodes(map[string]int64{"pve": 48 * gib}),
	})
}

var benchOpts = policy.Options{Config: policy.Config{Zones: []string{"example.com"}}}

// BenchmarkCheck is one run's whole policy step: compile, then evaluate.
func BenchmarkCheck(b *testing.B) {
	repo := exampleRepo(b)
	input := benchInput()
	ctx := context.Background()
	for b.Loop() {
		s, err := policy.Compile(ctx, repo, benchOpts)
		if err != nil {
			b.Fatal(err)
		}
		evalAllowed(ctx, b, s, input)
	}
}

func BenchmarkCompile(b *testing.B) {
	repo := exampleRepo(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := policy.Compile(ctx, repo, benchOpts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	benchEval(b, benchOpts)
}

func BenchmarkTest(b *testing.B) {
	repo := exampleRepo(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := policy.Test(ctx, repo, policy.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalOnRule is BenchmarkEval with an OnRule hook that does what
// a sandbox child does with it: writes a line per rule to a pipe.
func BenchmarkEvalOnRule(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	go func() { _, _ = io.Copy(io.Discard, r) }()
	opts := benchOpts
	opts.OnRule = func(file string, line int) { fmt.Fprintf(w, "step %q\n", fmt.Sprintf("%s:%d", file, line)) }
	benchEval(b, opts)
}

// benchEval compiles the example repo's policies with opts once, then
// times evaluating benchInput.
func benchEval(b *testing.B, opts policy.Options) {
	b.Helper()
	ctx := context.Background()
	s, err := policy.Compile(ctx, exampleRepo(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	input := benchInput()
	for b.Loop() {
		evalAllowed(ctx, b, s, input)
	}
}

// evalAllowed evaluates input and fails unless it is allowed.
func evalAllowed(ctx context.Context, b *testing.B, s *policy.Set, input map[string]any) {
	b.Helper()
	res, err := s.Eval(ctx, input)
	if err != nil || res.Denied() {
		b.Fatalf("Eval = %+v, %v", res, err)
	}
}
