package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// checkInput1000 is the push-time check's input at 1000 guests: specs as
// the pipeline keeps them (their JSON), the same guests as the previous
// run's (indented, as read from the inventory), no plan, the live node memory the last run recorded.
func checkInput1000() *pipeline.PolicyInput {
	in := pipeline.BuildPolicyInput(nil, nil, nil, nil, pipeline.Push{User: "alice", Ref: "refs/heads/main",
		Commit: strings.Repeat("a", 40), Message: "more guests"}, map[string]any{
		"proxmox": map[string]any{"nodes": map[string]any{"pve": map[string]any{"cpus": 64, "memory": int64(4096) << 30}}}})
	for i := range 1000 {
		name := fmt.Sprintf("ct%04d", i)
		spec := fmt.Sprintf(`{"node":"pve","vmid":%d,"pool":"lab","tags":["bench","web"],"description":"guest %s of the benchmark",`+
			`"cores":2,"memory":2048,"networks":[{"name":"eth0","bridge":"vmbr0","ip":"10.1.%d.%d/16","gateway":"10.1.0.1"}],`+
			`"onboot":true,"state":"running","protect":false,"ostemplate":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",`+
			`"hostname":"%s.home.example.com","unprivileged":true,"features":{"nesting":true},`+
			`"rootfs":{"storage":"local-lvm","size":8589934592},"swap":536870912}`, 1000+i, name, i/250, i%250+1, name)
		r := pipeline.PolicyResource{ID: "proxmox.lxc/" + name, Kind: "proxmox.lxc", Name: name, Spec: json.RawMessage(spec)}
		in.Resources = append(in.Resources, r)
		// inventory.json is indented, and so are the specs read back from it.
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(spec), "      ", "  "); err != nil {
			panic(err)
		}
		r.Spec = json.RawMessage(indented.Bytes())
		in.Previous.Resources = append(in.Previous.Resources, r)
	}
	return in
}

// BenchmarkChild1000 is the policy child's work on the push-time check at
// 1000 guests, in this process (no process start, no pipe): the request's
// encoding in the parent, its decoding in the child, compiling the example
// repo's policies and the built-ins, converting the input and evaluating.
func BenchmarkChild1000(b *testing.B) {
	ctx := context.Background()
	files, in := exampleRepo(b), checkInput1000()
	for b.Loop() {
		out, err := policy.ChildPath(ctx, files, benchOpts, in)
		if err != nil || !strings.Contains(string(out), `"result"`) || strings.Contains(string(out), `"deny"`) {
			b.Fatalf("ChildPath = %s, %v", out, err)
		}
	}
}

// BenchmarkChild1000Input is the part of BenchmarkChild1000 after the
// compile, which the push-time check waits for when the child compiled
// during the evaluation: encoding the input, reading it in the child,
// evaluating, answering.
func BenchmarkChild1000Input(b *testing.B) {
	ctx := context.Background()
	set, err := policy.Compile(ctx, exampleRepo(b), benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	in := checkInput1000()
	for b.Loop() {
		out, err := policy.ChildInputPath(ctx, set, in)
		if err != nil || !strings.Contains(string(out), `"result"`) || strings.Contains(string(out), `"deny"`) {
			b.Fatalf("ChildInputPath = %s, %v", out, err)
		}
	}
}
