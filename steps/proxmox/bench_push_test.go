package proxmox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// The benchmarks of this file are the rows of issue 16's table: the whole
// pipeline over the simulator at 20 ms per API call with 1000 guests on 4
// nodes, the built-in policies and the evaluation cache on, as a push
// reaches the runner (pre-receive check, then the worker's run).

// guestsJsonnet declares the n guests seed1000 made (¾ containers, ¼ VMs
// on 4 nodes). With percent, names are built with Jsonnet's % operator
// (std.format), else with + and std.toString. memory1000 is the memory of
// the first guest (g1000, a container).
func guestsJsonnet(n int, percent bool, memory1000 string) string {
	name := `'g' + std.toString(vmid)`
	if percent {
		name = `'g%d' % vmid`
	}
	return `local proxmox = import 'proxmox.libsonnet';
local runner = import 'runner.libsonnet';
local nodes = ['pve', 'pve2', 'pve3', 'pve4'];
local guest(i) =
  local vmid = 1000 + i;
  local name = ` + name + `;
  local node = nodes[i % 4];
  if i % 4 == 3 then
    proxmox.vm(name, { node: node, vmid: vmid, cores: 2, memory: '2GiB', clone: { template: 9000 },
      disks: [{ slot: 'scsi0', size: '32GiB' }], networks: [{ bridge: 'vmbr0' }] }, { adopt: true })
  else
    proxmox.lxc(name, { node: node, vmid: vmid, cores: 2, memory: if i == 0 then '` + memory1000 + `' else '1GiB',
      ostemplate: '` + sim.HomelabLXCTemplate + `',
      rootfs: { storage: 'local-lvm', size: '8GiB' }, networks: [{ bridge: 'vmbr0', ip: 'dhcp' }] }, { adopt: true });
runner.output([guest(i) for i in std.range(0, ` + strconv.Itoa(n-1) + `)])
`
}

// benchLab is the simulator at 20 ms per call with the 1000 guests of
// seed1000 and a pipeline over it whose first deploy adopted them all.
type benchLab struct {
	e     *env
	lab   *pipelinetest.Lab
	cache string
	// observed is the runner's ObserveCache.
	observed string
}

func newBenchLab(b testing.TB, n int, percent bool) *benchLab {
	return newLab(b, n, percent, 20*time.Millisecond)
}

// newLab is a benchLab with latency per API call.
func newLab(b testing.TB, n int, percent bool, latency time.Duration) *benchLab {
	b.Helper()
	e := newEnv(b, sim.Options{Latency: latency}, nil)
	seed1000(b, e)
	lab := pipelinetest.New(b, steps.ExecOptions{Concurrency: 8, Backoff: 1, MaxBackoff: 1}, e.b)
	// 1000 guests want 1.25 TiB on 4 nodes of 48–64 GiB: overcommit for
	// the capacity policy, which still runs.
	lab.Runner.Policy = policy.Checker{Options: policy.Options{Config: policy.Config{Overcommit: 10}}}
	l := &benchLab{e: e, lab: lab, cache: filepath.Join(b.TempDir(), "eval"), observed: filepath.Join(b.TempDir(), "observed")}
	lab.Runner.EvalCache = l.cache
	lab.Runner.ObserveCache = l.observed
	lab.In.Push("1000 guests", map[string]string{"main.jsonnet": guestsJsonnet(n, percent, "1GiB")})
	rep := lab.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["adopt"] != n {
		b.Fatalf("first deploy: %s %v %v %+v", rep.Summary, rep.Counts, rep.Errors, rep.Policy.Deny)
	}
	// The first deploy read the guests before it adopted them: a kept read
	// stands for a guest only once it was made under the spec last
	// applied, as the next run's is.
	if rep := l.checkAndRun(b); rep.Result != pipeline.ResultOK || rep.Counts["noop"] != n {
		b.Fatalf("second deploy: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	return l
}

// push is what a push of the last commit costs: the pre-receive check
// (which evaluates and keeps the evaluation), then the worker's deploy up
// to the status commit. The cache starts empty, as for a new commit.
func (l *benchLab) push(b *testing.B) *pipeline.Report {
	b.Helper()
	b.StopTimer()
	if err := os.RemoveAll(l.cache); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return l.checkAndRun(b)
}

// checkAndRun is the pre-receive check of the last commit, then the
// worker's deploy.
func (l *benchLab) checkAndRun(tb testing.TB) *pipeline.Report {
	tb.Helper()
	ctx := context.Background()
	res, err := l.lab.Runner.Check(ctx, "main", pipeline.Push{})
	if err != nil || res.Rejected() {
		tb.Fatalf("check: %v %+v", err, res)
	}
	rep, err := l.lab.Runner.Run(ctx, pipeline.Request{})
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// cpuClock is the CPU time this process has used (user and system):
// unlike the wall clock, hardly changed by other work on the machine.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (a cpuClock reading),
// in ms: all of this process's, garbage collection included, and with the
// simulator's (in this process) where the op calls it.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuClock()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func reportCalls(b *testing.B, s *sim.Server) {
	c := s.Counters()
	b.ReportMetric(float64(c.Total)/float64(b.N), "calls/op")
	b.ReportMetric(float64(c.Writes)/float64(b.N), "writes/op")
}

// reportPeakRSS reports the process's peak resident set (getrusage
// ru_maxrss, KiB on Linux). It is the benchmark binary's, simulator
// included: an upper bound of a runner process's.
func reportPeakRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

// BenchmarkPush1000 is `git push` → status commit of a no-op push (table
// row 1), main.jsonnet with + or with %.
func BenchmarkPush1000(b *testing.B) {
	for _, percent := range []bool{false, true} {
		b.Run("percent="+map[bool]string{false: "no", true: "yes"}[percent], func(b *testing.B) {
			l := newBenchLab(b, 1000, percent)
			l.e.sim.ResetCounters()
			b.ResetTimer()
			cpu := cpuClock()
			for range b.N {
				rep := l.push(b)
				if rep.Result != pipeline.ResultOK || rep.Counts["noop"] != 1000 {
					b.Fatalf("no-op push: %s", rep.Summary)
				}
			}
			b.StopTimer()
			reportCPU(b, cpu)
			reportCalls(b, l.e.sim)
			reportPeakRSS(b)
		})
	}
}

// BenchmarkPlan1000 is `runner plan` of a no-op at N=1000 (table row 2):
// evaluate, observe and plan, no status commit.
func BenchmarkPlan1000(b *testing.B) {
	l := newBenchLab(b, 1000, false)
	l.e.sim.ResetCounters()
	ctx := context.Background()
	b.ResetTimer()
	cpu := cpuClock()
	for range b.N {
		rep, err := l.lab.Runner.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan})
		if err != nil || rep.Result != pipeline.ResultPlanned || rep.Counts["noop"] != 1000 {
			b.Fatalf("plan: %v %s %v", err, rep.Summary, rep.Counts)
		}
	}
	b.StopTimer()
	reportCPU(b, cpu)
	reportCalls(b, l.e.sim)
}

// BenchmarkCheck is the pre-receive `runner check` of a new commit (its
// evaluation not cached yet) at 100 and 1000 resources (table row 3).
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, percent := range []bool{false, true} {
			b.Run(fmt.Sprintf("n=%d/percent=%s", n, map[bool]string{false: "no", true: "yes"}[percent]), func(b *testing.B) {
				l := newBenchLab(b, n, percent)
				ctx := context.Background()
				b.ResetTimer()
				cpu := cpuClock()
				for range b.N {
					if err := os.RemoveAll(l.cache); err != nil {
						b.Fatal(err)
					}
					res, err := l.lab.Runner.Check(ctx, "main", pipeline.Push{})
					if err != nil || res.Rejected() || res.Resources != n {
						b.Fatalf("check: %v %+v", err, res)
					}
				}
				reportCPU(b, cpu)
			})
		}
	}
}

// BenchmarkOneField1000 is a push that changes one field of one guest
// among 1000 (table row 4): g1000's memory goes between 1 and 2 GiB, one
// commit per iteration (pushed outside the timer).
func BenchmarkOneField1000(b *testing.B) {
	l := newBenchLab(b, 1000, false)
	l.e.sim.ResetCounters()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		mem := []string{"2GiB", "1GiB"}[i%2]
		l.lab.In.Push("g1000 memory "+mem, map[string]string{"main.jsonnet": guestsJsonnet(1000, false, mem)})
		b.StartTimer()
		rep := l.push(b)
		if rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 {
			b.Fatalf("one-field push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
		}
	}
	b.StopTimer()
	reportCalls(b, l.e.sim)
	reportPeakRSS(b)
}
