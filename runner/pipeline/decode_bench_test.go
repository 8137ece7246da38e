package pipeline_test

import (
	"io/fs"
	"testing"

	"github.com/google/go-jsonnet"

	"github.com/gitops-runner/gitops-runner/lib"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
)

// guests1000 is the evaluated output of 1000 guests on 4 nodes, ¾
// containers and ¼ VMs (the guests of issue 16's push benchmarks,
// steps/proxmox/bench_push_test.go), as Evaluate returns it: go-jsonnet's
// manifest, indented, keys sorted.
func guests1000(tb testing.TB) []byte {
	tb.Helper()
	const main = `local proxmox = import 'proxmox.libsonnet';
local runner = import 'runner.libsonnet';
local nodes = ['pve', 'pve2', 'pve3', 'pve4'];
local guest(i) =
  local vmid = 1000 + i;
  local name = 'g' + std.toString(vmid);
  local node = nodes[i % 4];
  if i % 4 == 3 then
    proxmox.vm(name, { node: node, vmid: vmid, cores: 2, memory: '2GiB', clone: { template: 9000 },
      disks: [{ slot: 'scsi0', size: '32GiB' }], networks: [{ bridge: 'vmbr0' }] }, { adopt: true })
  else
    proxmox.lxc(name, { node: node, vmid: vmid, cores: 2, memory: '1GiB',
      ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
      rootfs: { storage: 'local-lvm', size: '8GiB' }, networks: [{ bridge: 'vmbr0', ip: 'dhcp' }] }, { adopt: true });
runner.output([guest(i) for i in std.range(0, 999)])
`
	data := map[string]jsonnet.Contents{"main.jsonnet": jsonnet.MakeContents(main)}
	names, err := fs.Glob(lib.FS, "*.libsonnet")
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(lib.FS, n)
		if err != nil {
			tb.Fatal(err)
		}
		data[n] = jsonnet.MakeContentsRaw(b)
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.MemoryImporter{Data: data})
	out, err := vm.EvaluateFile("main.jsonnet")
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(out)
}

// BenchmarkDecode1000 measures Decode of 1000 sound guests: from the
// evaluated JSON to typed, validated resources, as runner check does in
// the parent after the evaluation child returns.
func BenchmarkDecode1000(b *testing.B) {
	out := guests1000(b)
	c, err := proxmox.NewClusters(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := steps.NewRegistry(c)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		rs, ds := pipeline.Decode(reg, "main.jsonnet", out)
		if len(ds) > 0 || len(rs) != 1000 {
			b.Fatalf("%d resources, %v", len(rs), ds)
		}
	}
	b.ReportMetric(float64(len(out)), "outputBytes")
}
