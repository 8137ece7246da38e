package pipeline

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// BenchmarkRecord1000 measures the status write path of a run over 1000
// resources (issue 16: under 50 ms): STATUS.md, status.json and
// inventory.json rendered and committed on the status branch, and the
// note on the source commit.
func BenchmarkRecord1000(b *testing.B) {
	in := gitrepotest.New(b)
	src := in.Push("1000 guests", map[string]string{"main.jsonnet": "{resources: []}"})
	repo, err := gitstore.Open(in.Bare)
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{Repo: repo}
	r.defaults()
	inv := &Inventory{Schema: InventorySchema, Commit: src}
	rep := r.newReport(Request{Kind: KindDeploy})
	r.setSource(rep, src)
	for i := range 1000 {
		id := steps.ID{Kind: "proxmox.lxc", Name: fmt.Sprintf("g%d", 1000+i)}
		spec, _ := json.Marshal(map[string]any{"node": "pve", "vmid": 1000 + i, "cores": 2, "memory": "1GiB",
			"ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
			"rootfs":     map[string]any{"storage": "local-lvm", "size": "8GiB"}, "networks": []any{map[string]any{"bridge": "vmbr0", "ip": "dhcp"}}})
		inv.Resources = append(inv.Resources, steps.Record{ID: id, Spec: spec, State: json.RawMessage(fmt.Sprintf(`{"vmid":%d,"node":"pve"}`, 1000+i)), Commit: src})
		rep.Plan = append(rep.Plan, PlanEntry{ID: id.String(), Action: steps.NoOp})
	}
	rep.Counts["noop"] = 1000
	rep.Result = ResultOK
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Each run records new files, as a push does: its own run ID and
		// times in the report, its commit in the inventory.
		i++
		rep.RunID = fmt.Sprintf("run-%d", i)
		rep.Started = rep.Started.Add(time.Second)
		inv.Commit = fmt.Sprintf("%040x", i)
		r.finish(rep)
		if err := r.record(rep, inv, r.Log); err != nil {
			b.Fatal(err)
		}
	}
}
