package route53

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// A zone taken out of backends.route53.zones together with its records in
// the repo: the inventory's records of it still decode (DecodeLast), their
// deletes are blocked with what to do — the runner may no longer change
// that zone — and the rest of the run applies.
func TestZoneLeftTheConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com", "other.org"}, map[string]any{"zones": []string{"mydomain.com", "other.org"}})
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, e.b)
	repo := func(ttl string, other bool) map[string]string {
		main := `local r = import 'runner.libsonnet';
local my = (import 'route53.libsonnet').zone('mydomain.com');
local other = (import 'route53.libsonnet').zone('other.org');
r.output([my.a('www', ['203.0.113.10'], { ttl: ` + ttl + ` })` + map[bool]string{true: `, other.a('www', ['203.0.113.11'])`}[other] + `])
`
		return map[string]string{"main.jsonnet": main}
	}
	p.In.Push("both zones", repo("300", true))
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 2 {
		t.Fatalf("first run: %s %v", rep.Summary, rep.Errors)
	}

	e.b.zones = []string{"mydomain.com"} // the config no longer allows other.org
	p.In.Push("other.org left the runner", repo("600", false))
	rep := p.Run()
	if rep.Result != pipeline.ResultFailed || !strings.Contains(rep.Summary, "1 changed, 0 failed, 1 skipped") {
		t.Fatalf("second run: %s %v, want one change applied and one skipped", rep.Summary, rep.Errors)
	}
	found := false
	for _, a := range rep.Applied {
		if strings.Contains(a.ID, "other.org") {
			found = true
			if a.Status != steps.StatusSkipped || !strings.Contains(a.Blocked, "zone other.org is no longer in backends.route53.zones (mydomain.com)") {
				t.Errorf("%s: %s, blocked %q: want skipped, naming the zone", a.ID, a.Status, a.Blocked)
			}
		}
	}
	if !found {
		t.Errorf("no change of the other.org record in the report: %+v", rep.Applied)
	}
	recs := e.records("other.org")
	if _, ok := recs["www.other.org A"]; !ok {
		t.Errorf("the record of a zone the runner may no longer change was deleted: %v", recs)
	}
	if got := e.records("mydomain.com")["www.mydomain.com A"]; got.TTL != 600 {
		t.Errorf("the rest of the run was not applied: www.mydomain.com %+v", got)
	}
}
