package sim_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// seedLarge adds 3 more nodes and 1000 guests spread over the 4 nodes.
func seedLarge(tb testing.TB, s *sim.Server) {
	tb.Helper()
	for i := 2; i <= 4; i++ {
		name := fmt.Sprintf("pve%d", i)
		if err := s.AddNode(name, 16, 64<<30); err != nil {
			tb.Fatal(err)
		}
		if err := s.AddStorage(name, "local-lvm", "lvmthin", []string{"images", "rootdir"}, 4<<40); err != nil {
			tb.Fatal(err)
		}
	}
	nodes := []string{"pve", "pve2", "pve3", "pve4"}
	for i := range 1000 {
		vmid := 1000 + i
		spec := sim.GuestSpec{Node: nodes[i%4], VMID: vmid, Type: "lxc", Running: i%2 == 0, Config: map[string]string{
			"hostname": fmt.Sprintf("ct%d", vmid), "memory": "1024", "cores": "2",
			"rootfs": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=8G", vmid),
			"net0":   fmt.Sprintf("name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:%02X:%02X,ip=dhcp,type=veth", vmid>>8&0xff, vmid&0xff),
		}}
		if i%3 == 0 {
			spec.Type = "qemu"
			spec.Config = map[string]string{"name": fmt.Sprintf("vm%d", vmid), "memory": "2048", "cores": "2",
				"scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=32G", vmid)}
		}
		if err := s.AddGuest(spec); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkObserve1000 measures what the backend's observe step does for
// 1000 guests on 4 nodes: one /cluster/resources call, then every guest's
// config with 16 calls in flight.
func BenchmarkObserve1000(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) { benchObserve(b, latency) })
	}
}

func benchObserve(b *testing.B, latency time.Duration) {
	e := newEnv(b, sim.Options{Latency: latency})
	seedLarge(b, e.sim)
	ctx := context.Background()
	cl, err := e.client.Cluster(ctx)
	if err != nil {
		b.Fatal(err)
	}
	e.sim.ResetCounters()
	b.ResetTimer()
	for range b.N {
		rs, err := cl.Resources(ctx, "vm")
		if err != nil {
			b.Fatal(err)
		}
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		errs := make(chan error, len(rs))
		for _, r := range rs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				var cfg map[string]any
				if err := e.client.Get(ctx, fmt.Sprintf("/nodes/%s/%s/%d/config", r.Node, r.Type, r.VMID), &cfg); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c := e.sim.Counters()
	b.ReportMetric(float64(c.Total)/float64(b.N), "calls/op")
}

func TestObserve1000CallCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	seedLarge(t, e.sim)
	rs := e.countedGuests(t)
	perNode := map[string]int{}
	for _, r := range rs {
		perNode[r.Node]++
	}
	if len(rs) != 1001 || perNode["pve2"] != 250 || perNode["pve"] != 251 {
		t.Errorf("resources: %d guests, per node %v", len(rs), perNode)
	}
	if c := e.sim.Counters(); c.Total != 1 || c.Reads != 1 || c.Writes != 0 {
		t.Errorf("counters = %+v, want 1 read", c)
	}
}
