package route53

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// The reference homelab's public names, pushed as an infra repo, applied by
// the pipeline, served by the simulator's DNS; a second run changes nothing;
// a dropped name is deleted, and a foreign record is refused, then adopted.
func TestPipelineDeploysHomelabDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	addr := e.listenDNS()
	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 16, Backoff: 1, MaxBackoff: 1}, e.b)
	in := p.In
	homelab := pipelinetest.Homelab(t, "homelab.libsonnet")
	in.Push("homelab dns", map[string]string{
		"homelab.libsonnet": homelab,
		"dns.libsonnet":     pipelinetest.Homelab(t, "dns.libsonnet"),
		"main.jsonnet": `local r = import 'runner.libsonnet';
r.output((import 'dns.libsonnet')(import 'homelab.libsonnet'))
`,
	})

	rep := p.Run()
	// cloud, blog, www, apps, *.apps, forum, grafana, sso, git + netdata
	if rep.Result != pipeline.ResultOK || rep.Changed != 10 {
		t.Fatalf("first run: %s %v", rep.Summary, rep.Errors)
	}
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 1 {
		t.Errorf("first run: %d change batches, want 1", n)
	}
	for _, q := range []string{"blog.mydomain.com.", "netdata.mydomain.com.", "myapp.apps.mydomain.com."} {
		m := new(dns.Msg)
		m.SetQuestion(q, dns.TypeA)
		resp, _, err := (&dns.Client{}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "203.0.113.10" {
			t.Errorf("dig %s: %v", q, resp.Answer)
		}
	}
	// And with the real dig, as an operator would check it.
	digAnswers(t, addr, "blog.mydomain.com", "203.0.113.10")

	e.sim.ResetCounters()
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("second run: %s %v", rep.Summary, rep.Errors)
	}
	c := e.sim.Counters()
	if c.ByOp[sim.OpChangeResourceRecordSets] != 0 || c.Total > 3 {
		t.Errorf("second run made calls %v, want one lookup and one listing", c.ByOp)
	}

	// netdata leaves the repo: deleted. A foreign record at "status" blocks
	// a new resource until it is adopted.
	e.seed("mydomain.com", sim.RecordSet{Name: "status.mydomain.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}})
	in.Push("drop netdata, add status", map[string]string{"homelab.libsonnet": strings.Replace(homelab,
		"proxyNames: ['netdata']", "proxyNames: ['status']", 1)})
	rep = p.Run()
	if rep.Result == pipeline.ResultOK || !strings.Contains(rep.Errors.Error(), "already exists") {
		t.Fatalf("foreign record: %s %v", rep.Summary, rep.Errors)
	}
	if _, ok := e.records("mydomain.com")["netdata.mydomain.com A"]; !ok {
		t.Error("a refused run deleted netdata")
	}
	in.Push("adopt status", map[string]string{"main.jsonnet": `local r = import 'runner.libsonnet';
local dns = (import 'route53.libsonnet').zone('mydomain.com');
r.output((import 'dns.libsonnet')((import 'homelab.libsonnet') + {proxyNames: []}) + [dns.a('status', '203.0.113.10', {adopt: true})])
`})
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["delete"] != 1 || rep.Counts["update"] != 1 {
		t.Fatalf("adopt run: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	recs := e.records("mydomain.com")
	if _, ok := recs["netdata.mydomain.com A"]; ok {
		t.Error("netdata not deleted")
	}
	if r := recs["status.mydomain.com A"]; r.Values[0] != "203.0.113.10" || r.TTL != 300 {
		t.Errorf("status after adopt = %+v", r)
	}
}

// digAnswers runs the real dig against the simulator's DNS. dig comes from
// Debian's bind9-dnsutils (.ci/run installs it): missing fails the test in
// CI, and skips it elsewhere.
func digAnswers(t *testing.T, addr, name, want string) {
	t.Helper()
	dig := testenv.Program(t, "dig", "bind9-dnsutils")
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(dig, "@"+host, "-p", port, "+short", "+tcp", name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("dig +short %s = %q, want %q", name, got, want)
	}
	out, err = exec.Command(dig, "@"+host, "-p", port, "+short", name, "A").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("dig over UDP: %q, %v", out, err)
	}
}
