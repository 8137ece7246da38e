package lib_test

import (
	"encoding/json"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
)

// main1000 declares 1000 containers with the lib's helpers, names built
// with name (a Jsonnet expression of i).
func main1000(name string) string {
	return `local proxmox = import 'proxmox.libsonnet';
local runner = import 'runner.libsonnet';
runner.output([
  proxmox.lxc(` + name + `, { node: 'pve', vmid: 1000 + i, cores: 2, memory: '1GiB',
    ostemplate: proxmox.templates.debian12, rootfs: { storage: 'local-lvm', size: '8GiB' },
    networks: [proxmox.network('vmbr0')] }, { adopt: true, dependsOn: ['route53.record/r' + i] })
  for i in std.range(0, 999)
])
`
}

// BenchmarkEval1000 is the evaluation (and JSON decoding) of 1000
// resources built with the lib: names with + and std.toString, or with
// the % operator (std.format, written in Jsonnet in go-jsonnet's standard
// library).
func BenchmarkEval1000(b *testing.B) {
	for _, tc := range []struct{ name, expr string }{
		{"concat", `'g' + std.toString(1000 + i)`},
		{"percent", `'g%d' % (1000 + i)`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := main1000(tc.expr)
			b.ReportAllocs()
			for b.Loop() {
				var out struct{ Resources []json.RawMessage }
				pipelinetest.EvalLib(b, src, &out)
				if len(out.Resources) != 1000 {
					b.Fatalf("%d resources", len(out.Resources))
				}
			}
		})
	}
}
