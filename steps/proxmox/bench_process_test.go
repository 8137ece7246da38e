package proxmox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// BenchmarkProcess1000 runs the built runner binary the way the hooks and
// the worker do, against the simulator in this process (another one) at
// 20 ms per API call with the 1000 guests of seed1000: the pre-receive
// `runner check` of a new commit (its evaluation not cached), `runner plan`,
// and a no-op push (that check, then `runner apply` as the worker's
// deploy); check-100 is the check of a repo declaring 100 of the guests
// (issue 16 bounds it at 0.10 s, and the check at 1000 at 0.25 s); start
// is `runner version`, what any runner process costs to start and end.
// Each reports peak-RSS-MB, the largest resident set of any
// process of the run — the runner and its evaluation and policy children
// (getrusage of the waited-for tree, whose ru_maxrss is the largest
// process's, not a sum; an upper bound: Linux counts in it the resident
// set of this benchmark binary, ~42 MiB, which the runner's process was
// forked from) — which issue 16 bounds at 100 MB, and cpu-ms/op,
// the CPU time of the runner and its children together.
func BenchmarkProcess1000(b *testing.B) {
	p, p100 := newProcessLab(b, 1000), newProcessLab(b, 100)
	for _, bc := range []struct {
		name string
		run  func(b *testing.B) usage
	}{
		{"check", func(b *testing.B) usage { p.dropEvalCache(b); return p.check(b) }},
		{"check-100", func(b *testing.B) usage { p100.dropEvalCache(b); return p100.check(b) }},
		{"start", func(b *testing.B) usage { return p.run(b, "version") }},
		{"plan", func(b *testing.B) usage { return p.run(b, "plan", "--repo", p.repo.Bare) }},
		{"push", func(b *testing.B) usage {
			p.dropEvalCache(b)
			c, a := p.check(b), p.run(b, "apply", "--repo", p.repo.Bare)
			return usage{peak: max(c.peak, a.peak), cpu: c.cpu + a.cpu}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total usage
			b.ResetTimer()
			for range b.N {
				u := bc.run(b)
				total.peak, total.cpu = max(total.peak, u.peak), total.cpu+u.cpu
			}
			b.ReportMetric(float64(total.peak)/(1<<20), "peak-RSS-MB")
			b.ReportMetric(float64(total.cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// processLab is the simulator with seed1000's guests, an infra repo whose
// main.jsonnet declares n of them, adopted by a first deploy of the runner
// binary, and the runner's config.
type processLab struct {
	bin, config, state string
	repo               *gitrepotest.Repo
	head               string
}

func newProcessLab(b *testing.B, n int) *processLab {
	b.Helper()
	e := newEnv(b, sim.Options{Latency: 20 * time.Millisecond}, nil)
	seed1000(b, e)
	dir := b.TempDir()
	p := &processLab{bin: filepath.Join(dir, "runner"), config: filepath.Join(dir, "runner.json"), state: filepath.Join(dir, "state")}
	// GITOPS_RUNNER_BENCH_BIN runs another build instead (e.g. main's, for
	// benchstat).
	if bin := os.Getenv("GITOPS_RUNNER_BENCH_BIN"); bin != "" {
		p.bin = bin
	} else {
		build := exec.Command("go", "build", "-o", p.bin, "github.com/gitops-runner/gitops-runner/runner")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	p.repo = gitrepotest.New(b)
	p.head = p.repo.Push(fmt.Sprintf("%d guests", n), map[string]string{"main.jsonnet": guestsJsonnet(n, false, "1GiB")})
	cfg, err := json.Marshal(map[string]any{
		"repos":    []map[string]string{{"path": p.repo.Bare}},
		"stateDir": p.state,
		// 1000 guests want 1.25 TiB on 4 nodes of 48–64 GiB.
		"policy":   map[string]any{"overcommit": 10},
		"backends": map[string]any{"proxmox": e.config(nil)},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p.config, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	// The first deploy adopts the guests; the second reads them under the
	// spec applied, as every later no-op does.
	for range 2 {
		p.run(b, "apply", "--repo", p.repo.Bare)
	}
	return p
}

// usage is what a runner process and its children cost: the largest
// resident set of any of them (bytes) and their CPU time together.
type usage struct {
	peak uint64
	cpu  time.Duration
}

// run runs the runner with args and returns the usage of its process
// tree; a failure fails the benchmark.
func (p *processLab) run(b *testing.B, args ...string) usage {
	b.Helper()
	return p.runIn(b, nil, "", args...)
}

// check is the pre-receive hook's `runner check` of the repo's head.
func (p *processLab) check(b *testing.B) usage {
	b.Helper()
	return p.runIn(b, []string{"GIT_DIR=" + p.repo.Bare}, strings.Repeat("0", 40)+" "+p.head+" refs/heads/main\n", "check")
}

func (p *processLab) runIn(b *testing.B, env []string, stdin string, args ...string) usage {
	b.Helper()
	cmd := exec.Command(p.bin, append([]string{"--config", p.config}, args...)...)
	cmd.Env = append(gitrepotest.CleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("runner %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if testing.Verbose() {
		b.Logf("runner %s: %s", args[0], out.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage")
	}
	return usage{peak: uint64(ru.Maxrss) * 1024, //nolint:gosec // not negative; Linux reports KiB
		cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// dropEvalCache makes the next check evaluate, as for a new commit.
func (p *processLab) dropEvalCache(b *testing.B) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	if err := os.RemoveAll(filepath.Join(p.state, "eval-cache")); err != nil {
		b.Fatal(err)
	}
}
