package proxmox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// seed1000 adds 3 nodes to the homelab and 1000 guests the runner owns
// (¾ containers, ¼ VMs) spread over the 4 nodes, in sync with their specs;
// it returns their targets.
func seed1000(b testing.TB, e *env) []steps.Target {
	b.Helper()
	nodes := []string{"pve", "pve2", "pve3", "pve4"}
	for _, n := range nodes[1:] {
		if err := e.sim.AddNode(n, 16, 64<<30); err != nil {
			b.Fatal(err)
		}
		if err := e.sim.AddStorage(n, "local-lvm", "lvmthin", []string{"images", "rootdir"}, 4<<40); err != nil {
			b.Fatal(err)
		}
	}
	var ts []steps.Target
	for i := range 1000 {
		vmid, node := 1000+i, nodes[i%4]
		mac := fmt.Sprintf("BC:24:11:00:%02X:%02X", vmid>>8&0xff, vmid&0xff)
		var g sim.GuestSpec
		var kind, spec string
		if i%4 == 3 {
			kind = proxmox.KindVM
			g = sim.GuestSpec{Node: node, VMID: vmid, Type: "qemu", Running: true, Config: map[string]string{
				"name": fmt.Sprintf("g%d", vmid), "memory": "2048", "cores": "2", "tags": proxmox.OwnerTag,
				"scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=32G", vmid), "net0": "virtio=" + mac + ",bridge=vmbr0"}}
			spec = fmt.Sprintf(`{"node":%q,"vmid":%d,"cores":2,"memory":"2GiB","clone":{"template":9000},
				"disks":[{"slot":"scsi0","size":"32GiB"}],"networks":[{"bridge":"vmbr0"}]}`, node, vmid)
		} else {
			kind = proxmox.KindLXC
			g = sim.GuestSpec{Node: node, VMID: vmid, Type: "lxc", Running: true, Config: map[string]string{
				"hostname": fmt.Sprintf("g%d", vmid), "memory": "1024", "swap": "512", "cores": "2", "unprivileged": "1",
				"tags": proxmox.OwnerTag, "rootfs": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=8G", vmid),
				"net0": "name=eth0,bridge=vmbr0,hwaddr=" + mac + ",ip=dhcp,type=veth"}}
			spec = fmt.Sprintf(`{"node":%q,"vmid":%d,"cores":2,"memory":"1GiB","ostemplate":%q,
				"rootfs":{"storage":"local-lvm","size":"8GiB"},"networks":[{"bridge":"vmbr0","ip":"dhcp"}]}`, node, vmid, sim.HomelabLXCTemplate)
		}
		if err := e.sim.AddGuest(g); err != nil {
			b.Fatal(err)
		}
		s := steptest.Decode(b, e.b, kind, spec)
		ts = append(ts, steps.Target{ID: id(kind, fmt.Sprintf("g%d", vmid)), Want: s, Last: s})
	}
	return ts
}

// BenchmarkObservePlan1000 is a no-op run's observe + plan over 1000
// guests on 4 nodes with 20 ms per API call, at the default parallelism.
func BenchmarkObservePlan1000(b *testing.B) {
	e := newEnv(b, sim.Options{Latency: 20 * time.Millisecond}, nil)
	ts := seed1000(b, e)
	e.sim.ResetCounters()
	b.ResetTimer()
	for range b.N {
		cs, err := e.tryPlan(ts...)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			if c.Action != steps.NoOp {
				b.Fatalf("%s: %s %+v", c.ID, c.Action, c.Fields)
			}
		}
	}
	b.StopTimer()
	c := e.sim.Counters()
	b.ReportMetric(float64(c.Total)/float64(b.N), "calls/op")
	b.ReportMetric(float64(c.Writes)/float64(b.N), "writes/op")
}

// BenchmarkCreate50LXC creates 50 containers from empty (plan, then apply
// with 8 changes at once) with 20 ms per API call and 100 ms per task.
func BenchmarkCreate50LXC(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnv(b, sim.Options{Latency: 20 * time.Millisecond, TaskDuration: 100 * time.Millisecond}, nil)
		var ts []steps.Target
		for i := range 50 {
			s := steptest.Decode(b, e.b, proxmox.KindLXC, fmt.Sprintf(`{"node":"pve","vmid":%d,"memory":512,"ostemplate":%q,
				"rootfs":{"storage":"local-zfs","size":"4GiB"},"networks":[{"bridge":"vmbr0","ip":"10.42.1.%d/24","gateway":"10.42.1.1"}]}`,
				300+i, sim.HomelabLXCTemplate, 10+i))
			ts = append(ts, steps.Target{ID: id(proxmox.KindLXC, fmt.Sprintf("ct%d", i)), Want: s})
		}
		b.StartTimer()
		cs, err := e.tryPlan(ts...)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		errs := make([]error, len(cs))
		for i, c := range cs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, errs[i] = e.b.Apply(context.Background(), c, nil)
			}()
		}
		wg.Wait()
		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		c := e.sim.Counters()
		b.ReportMetric(float64(c.Total), "calls/op")
		b.ReportMetric(float64(c.Writes), "writes/op")
		b.StartTimer()
	}
}
