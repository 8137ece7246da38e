package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestBadInput pushes each kind of bad commit and checks the run fails with a
// clear message naming where, records a status commit that says why, and
// applies nothing.
func TestBadInput(t *testing.T) {
	lib := "local r = import 'runner.libsonnet';\n"
	cases := []struct {
		name  string
		files map[string]string
		rev   string
		stage pipeline.Stage
		want  []string // substrings of the errors
	}{
		{"broken jsonnet", map[string]string{"main.jsonnet": lib + "r.output([\n  r.resource('test.thing', 'a', {value: 1 +}),\n])"},
			"", "load", []string{"main.jsonnet:3:44", "Unexpected"}},
		{"not resources", map[string]string{"main.jsonnet": "{things: []}"},
			"", "decode", []string{"no `resources` list", `unknown top-level field "things"`}},
		{"resources in another case", map[string]string{"main.jsonnet": "{Resources: [{kind: 'test.thing', name: 'a', spec: {value: '1'}}]}"},
			"", "decode", []string{"no `resources` list", `unknown top-level field "Resources"`}},
		{"resources and more", map[string]string{"main.jsonnet": "{resources: [{kind: 'test.thing', name: 'a', spec: {value: '1'}}], extra: 1}"},
			"", "decode", []string{`unknown top-level field "extra"`}},
		{"a list, not an object", map[string]string{"main.jsonnet": "[]"},
			"", "decode", []string{"not an object", "runner.output"}},
		{"duplicate IDs", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1'}), r.resource('test.thing', 'a', {value: '2'})])"},
			"", "decode", []string{"duplicate resource ID test.thing/a (also resources[0])"}},
		{"unknown kind", map[string]string{"main.jsonnet": lib + "r.output([r.resource('proxmox.lxd', 'a', {})])"},
			"", "decode", []string{`proxmox.lxd/a (resources[0]): field kind: unknown kind "proxmox.lxd"`, "known kinds: test.other, test.thing"}},
		{"unknown field", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1', vaule: '2'})])"},
			"", "decode", []string{"test.thing/a (resources[0]): field spec.vaule: unknown field"}},
		{"wrong type", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1', size: 'big'})])"},
			"", "decode", []string{"field spec.size: got a JSON string, want a whole number"}},
		{"every problem of a spec at once", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1', vaule: '2', size: 'big'})])"},
			"", "decode", []string{"field spec.vaule: unknown field (did you mean \"value\"?)", "field spec.size: got a JSON string, want a whole number"}},
		{"bad value", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1', size: -3})])"},
			"", "decode", []string{"field spec.size: must be positive, got -3"}},
		{"unknown resource field", map[string]string{"main.jsonnet": "{resources: [{kind: 'test.thing', name: 'a', spec: {value: '1'}, dependOn: []}]}"},
			"", "decode", []string{"resources[0]: field dependOn: unknown field"}},
		{"missing dependency", map[string]string{"main.jsonnet": lib + "r.output([r.resource('test.thing', 'a', {value: '1'}, {dependsOn: ['test.thing/nope']})])"},
			"", "decode", []string{"test.thing/a: dependsOn names test.thing/nope, which is not declared"}},
		{"cycle", map[string]string{"main.jsonnet": lib + `r.output([
  r.resource('test.thing', 'a', {value: '1'}, {dependsOn: ['test.thing/b']}),
  r.resource('test.thing', 'b', {value: '1'}, {dependsOn: ['test.thing/c']}),
  r.resource('test.thing', 'c', {value: '1'}, {dependsOn: ['test.thing/a']}),
])`}, "", "decode", []string{"cycle: test.thing/a → test.thing/b → test.thing/c → test.thing/a"}},
		{"import escaping the commit", map[string]string{"main.jsonnet": "local x = import '../../etc/passwd';\nx"},
			"", "load", []string{"main.jsonnet:1:", "escapes the commit"}},
		{"absolute import", map[string]string{"main.jsonnet": "\n\nlocal x = import '/etc/passwd';\nx"},
			"", "load", []string{"main.jsonnet:3:", "absolute paths are not allowed"}},
		{"missing import", map[string]string{"main.jsonnet": "local x = import 'nope.libsonnet';\nx"},
			"", "load", []string{"main.jsonnet:1:", "runner's lib has no such file", "runner.libsonnet"}},
		{"endless recursion", map[string]string{"main.jsonnet": "local f(x) = f(x + 1) + 1;\n{resources: [f(0)]}"},
			"", "load", []string{"max stack frames exceeded", "endless recursion?"}},
		{"huge output", map[string]string{"main.jsonnet": "local s = std.join('', ['x' for i in std.range(1, 1024)]);\n{resources: [], junk:: 0, big: [s for i in std.range(1, 2000)]}"},
			"", "load", []string{"more than the limit"}},
		{"no main.jsonnet", map[string]string{"other.jsonnet": "{}"},
			"", "load", []string{"main.jsonnet: not found in commit"}},
		{"commit that does not exist", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})},
			"0123456789abcdef0123456789abcdef01234567", "load", []string{"not found"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := newInfra(t)
			b := steptest.New()
			r := in.runner(b)
			r.Limits = pipeline.Limits{MaxOutput: 1 << 20, Timeout: 20 * time.Second}
			in.Push(tc.name, tc.files)
			rep, err := r.Run(context.Background(), pipeline.Request{Rev: tc.rev})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Result != pipeline.ResultFailed || rep.Stage != tc.stage {
				t.Fatalf("result %s in %q, want failed in %q: %s", rep.Result, rep.Stage, tc.stage, rep.Errors)
			}
			msg := rep.Errors.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("errors lack %q:\n%s", w, msg)
				}
			}
			if obs, applied := b.Calls(); obs != 0 || len(applied) != 0 {
				t.Errorf("bad input reached the backend: %d observe calls, applied %v", obs, applied)
			}
			if tc.rev != "" {
				return // an unknown commit has nothing to record a status for
			}
			md := in.Git(in.Bare, "show", "status:STATUS.md")
			if !strings.Contains(md, "nothing applied") || !strings.Contains(md, "## Errors") {
				t.Errorf("STATUS.md does not say why:\n%s", md)
			}
		})
	}
}

// TestEvalTimeout stops an evaluation that runs too long. It runs in an
// evaluation child, as in the runner: in this process other tests' memory
// would count against the limits.
func TestEvalTimeout(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	r.Isolate = true
	r.Limits = pipeline.Limits{Timeout: 500 * time.Millisecond}
	// Exponential time, constant memory.
	in.Push("slow", map[string]string{"main.jsonnet": "local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1);\n{resources: [], x: f(18)}"})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	// The child stops itself at the limit, or is killed there.
	if e := rep.Errors.Error(); !strings.Contains(e, "took longer than 500ms") && !strings.Contains(e, "killed after 500ms (limits.evalTimeout)") {
		t.Fatalf("errors = %v", rep.Errors)
	}
}

// TestCheckEvalTimeout: the push-time check's evaluation child, started
// ahead of its request, keeps its time limit (counted from the request)
// and its message; a sound commit then checks in such a child too.
func TestCheckEvalTimeout(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	r.Isolate = true
	r.Limits = pipeline.Limits{Timeout: 500 * time.Millisecond}
	slow := in.Push("slow", map[string]string{"main.jsonnet": "local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1);\n{resources: [], x: f(18)}"})
	res, err := r.Check(context.Background(), slow, pipeline.Push{})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Errors.Error(); !res.Rejected() || !strings.Contains(e, "took longer than 500ms") && !strings.Contains(e, "killed after 500ms (limits.evalTimeout)") {
		t.Fatalf("errors = %v", res.Errors)
	}
	sound := in.Push("sound", map[string]string{"main.jsonnet": `{resources: [{kind: 'test.thing', name: 'a', spec: {value: 'v'}}]}`})
	res, err = r.Check(context.Background(), sound, pipeline.Push{})
	if err != nil || res.Rejected() || res.Resources != 1 {
		t.Fatalf("check: %v %+v", err, res)
	}
}

// TestHugeString stops an evaluation whose memory grows past the limit (a
// doubling string heading for 1 GiB), in an evaluation child as in the
// runner.
func TestHugeString(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	r.Isolate = true
	r.Limits = pipeline.Limits{MaxMemory: 64 << 20, Timeout: time.Minute}
	in.Push("huge", map[string]string{"main.jsonnet": "local f(s, n) = if n == 0 then s else f(s + s, n - 1);\n{resources: [], big: f('x', 30)}"})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Errors.Error(); rep.Stage != pipeline.StageLoad ||
		!strings.Contains(e, "used more than 64 MiB of memory") && !strings.Contains(e, "killed at the memory limit of 64 MiB (limits.maxMemoryMiB)") {
		t.Fatalf("stage %q, errors = %v", rep.Stage, rep.Errors)
	}
}

// TestHugeValueInAnErrorIsCut: a value echoed from the commit (an 8 MiB
// name) is cut in messages, so it cannot flood the pusher, logs or reports.
func TestHugeValueInAnErrorIsCut(t *testing.T) {
	reg, err := steps.NewRegistry(steptest.New())
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("x", 8<<20) + "!"
	out := `{"resources": [{"kind": "test.thing", "name": "` + name + `", "spec": {"value": "v"}}]}`
	_, ds := pipeline.Decode(reg, "main.jsonnet", []byte(out))
	if len(ds) != 1 || !strings.Contains(ds.Error(), "is not a valid name") {
		t.Fatalf("diagnostics: %.200s", ds.Error())
	}
	if n := len(ds.Error()); n > 4000 {
		t.Errorf("the message is %d bytes long", n)
	}
}
