package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/examples"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps/acme"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/route53"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// BenchmarkEngineNoOp1000 measures the engine's own overhead for a no-op run
// over 1000 resources: targets, observe, plan (diff + order), policy input,
// execute and the next inventory, through the in-memory test backend.
func BenchmarkEngineNoOp1000(b *testing.B) {
	bk := steptest.New()
	reg, err := steps.NewRegistry(bk)
	if err != nil {
		b.Fatal(err)
	}
	var desired []steps.Resource
	inv := &pipeline.Inventory{Schema: pipeline.InventorySchema}
	for i := range 1000 {
		id := steps.ID{Kind: "test.thing", Name: fmt.Sprint("r", i)}
		spec := steptest.Spec{Value: "v"}
		r := steps.Resource{ID: id, Spec: spec}
		if i > 0 {
			r.DependsOn = []steps.ID{{Kind: "test.thing", Name: fmt.Sprint("r", i/2)}}
		}
		desired = append(desired, r)
		bk.Put(id, spec)
		raw, _ := json.Marshal(spec)
		inv.Resources = append(inv.Resources, steps.Record{ID: id, Spec: raw, DependsOn: r.DependsOn})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ts, ds := pipeline.Targets(reg, desired, inv)
		if len(ds) > 0 {
			b.Fatal(ds)
		}
		live, err := pipeline.Observe(ctx, reg, ts)
		if err != nil {
			b.Fatal(err)
		}
		plan, ds := pipeline.MakePlan(reg, desired, inv, ts, live)
		if len(ds) > 0 {
			b.Fatal(ds)
		}
		_ = pipeline.BuildPolicyInput(desired, plan, inv.Resources, nil, pipeline.Push{}, nil)
		outs := steps.Execute(ctx, reg, plan, steps.ExecOptions{})
		if plan.Changed() != 0 {
			b.Fatalf("%d changes in a no-op run", plan.Changed())
		}
		if _, err := pipeline.NextInventory(inv, desired, plan, outs, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

// homelabFiles is examples/homelab as a commit's files.
func homelabFiles(tb testing.TB) map[string]string {
	tb.Helper()
	files := map[string]string{}
	err := fs.WalkDir(examples.Homelab, "homelab", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.Homelab, p)
		files[strings.TrimPrefix(p, "homelab/")] = string(data)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// loadOnly is a runner over a repo with one commit of files on main, with
// every backend unconfigured: enough to Load it.
func loadOnly(tb testing.TB, files map[string]string) *pipeline.Runner {
	tb.Helper()
	in := newInfra(tb)
	in.Push("files", files)
	repo, err := gitstore.Open(in.Bare)
	if err != nil {
		tb.Fatal(err)
	}
	var bs []steps.Backend
	for _, mk := range []func() (steps.Backend, error){
		func() (steps.Backend, error) { return proxmox.NewClusters(nil, nil) },
		func() (steps.Backend, error) { return route53.New(nil, nil) },
		func() (steps.Backend, error) { return acme.New(nil, nil, nil) },
		func() (steps.Backend, error) { return freeipa.New(nil, nil) },
		func() (steps.Backend, error) { return dnsmasq.New(nil, nil) },
	} {
		b, err := mk()
		if err != nil {
			tb.Fatal(err)
		}
		bs = append(bs, b)
	}
	reg, err := steps.NewRegistry(bs...)
	if err != nil {
		tb.Fatal(err)
	}
	return &pipeline.Runner{Repo: repo, Registry: reg}
}

// BenchmarkEvalHomelab measures steps 1–2 for examples/homelab: read the
// commit with go-git, evaluate main.jsonnet, decode every resource.
// Target: < 200 ms.
func BenchmarkEvalHomelab(b *testing.B) {
	r := loadOnly(b, homelabFiles(b))
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		l, err := r.Load(ctx, "main", pipeline.Vars{})
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Resources) < 30 {
			b.Fatalf("%d resources", len(l.Resources))
		}
	}
}

// BenchmarkLoad1000 is steps 1–2 of a new commit declaring 1000 Proxmox
// containers with the lib: evaluated in this process, and in an evaluation
// child as the runner evaluates (Runner.Isolate). The difference is what
// the child costs: a process start and a cold heap. (The child here is this
// test binary, which links fewer packages than the runner and so starts
// faster: the runner's child costs more.)
func BenchmarkLoad1000(b *testing.B) {
	src := `local proxmox = import 'proxmox.libsonnet';
local runner = import 'runner.libsonnet';
runner.output([proxmox.lxc('g' + std.toString(1000 + i), {
  node: 'pve', vmid: 1000 + i, cores: 2, memory: '1GiB', ostemplate: proxmox.templates.debian12,
  rootfs: { storage: 'local-lvm', size: '8GiB' }, networks: [proxmox.network('vmbr0')],
}, { adopt: true }) for i in std.range(0, 999)])
`
	ctx := context.Background()
	for _, isolate := range []bool{false, true} {
		b.Run(map[bool]string{false: "in-process", true: "isolated"}[isolate], func(b *testing.B) {
			r := loadOnly(b, map[string]string{"main.jsonnet": src})
			r.Isolate = isolate
			for b.Loop() {
				l, err := r.Load(ctx, "main", pipeline.Vars{})
				if err != nil {
					b.Fatal(err)
				}
				if len(l.Resources) != 1000 {
					b.Fatalf("%d resources", len(l.Resources))
				}
			}
		})
	}
}
