package freeipa_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

const identityMain = `local r = import 'runner.libsonnet';
local h = import 'homelab.libsonnet';
local identity = import 'identity.libsonnet';
r.output(identity(h))
`

// TestPipelineHomelab runs the homelab's identity resources through the
// real pipeline (git, Jsonnet, lib/, inventory) against the simulator
// seeded as the reference homelab's FreeIPA: the first run creates the
// hosts, the second writes nothing, and removing an enrolled host fails.
func TestPipelineHomelab(t *testing.T) {
	t.Parallel()
	l := newHomelabLab(t)
	// grafana was enrolled by an Ansible playbook before the runner.
	l.seed(l.sim.AddHost("grafana.hetzner.int.mydomain", true))
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, l.b)
	homelab := pipelinetest.Homelab(t, "homelab.libsonnet")
	p.In.Push("identity", map[string]string{"main.jsonnet": identityMain, "homelab.libsonnet": homelab,
		"identity.libsonnet": pipelinetest.Homelab(t, "identity.libsonnet")})

	l.sim.ResetCounters()
	rep := p.Run()
	// 13 guests (the IPA replica is not declared; grafana is adopted), 3
	// host groups, 7 HTTP services, 1 sudo rule.
	if rep.Result != pipeline.ResultOK || rep.Counts["create"] != 23 || rep.Counts["update"] != 1 {
		t.Fatalf("first run: %s %v %v %+v", rep.Summary, rep.Counts, rep.Errors, rep.Applied)
	}
	first := l.sim.Counters()
	if first.ByOp["host_add"] != 12 || first.ByOp["service_add"] != 7 || first.ByOp["sudorule_add"] != 1 {
		t.Errorf("first run calls: %v", first.ByOp)
	}
	e := l.show("host", "nextcloud.hetzner.int.mydomain")
	if !strings.Contains(strings.Join(strs(e["memberof_hostgroup"]), ","), "webservers") || e["has_password"] != true {
		t.Errorf("nextcloud: %v", e)
	}
	otpPath := filepath.Join(l.secretDir, "twitterbot.hetzner.int.mydomain.otp")
	otp, err := os.ReadFile(otpPath)
	if err != nil || len(strings.TrimSpace(string(otp))) < 8 {
		t.Fatalf("otp: %q %v", otp, err)
	}
	logged := false
	for _, s := range rep.Applied {
		text := strings.Join(s.Log, "\n")
		if strings.Contains(text, strings.TrimSpace(string(otp))) {
			t.Errorf("step log shows a password: %v", s.Log)
		}
		logged = logged || (s.ID == "freeipa.host/twitterbot.hetzner.int.mydomain" && strings.Contains(text, otpPath))
	}
	if !logged {
		t.Errorf("no step log names %s", otpPath)
	}

	// Second run: nothing to do, no write call, few reads.
	l.sim.ResetCounters()
	rep = p.Run()
	st := l.sim.Counters()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 || st.Writes != 0 {
		t.Fatalf("second run: %s, %d writes %v", rep.Summary, st.Writes, st.ByOp)
	}
	if st.Total > 7 {
		t.Errorf("second run: %d calls %v", st.Total, st.ByOp)
	}

	// nextcloud enrols, then leaves the repo: the built-in policy denies
	// the plan; without policies, Apply refuses.
	if err := l.sim.Enroll("nextcloud.hetzner.int.mydomain"); err != nil {
		t.Fatal(err)
	}
	p.In.Push("drop nextcloud", map[string]string{"homelab.libsonnet": strings.Replace(homelab,
		"{ name: 'nextcloud',", "// { name: 'nextcloud',", 1)})
	p.Runner.Policy = policy.Checker{}
	rep = p.Run()
	if rep.Result != pipeline.ResultDenied || len(rep.Policy.Deny) != 1 ||
		!strings.Contains(rep.Policy.Deny[0].Message, "freeipa.host/nextcloud.hetzner.int.mydomain would be deleted, but the host is enrolled") {
		t.Fatalf("policy: %s %+v", rep.Summary, rep.Policy)
	}
	p.Runner.Policy = nil
	rep = p.Run()
	if rep.Result != pipeline.ResultFailed || l.show("host", "nextcloud.hetzner.int.mydomain") == nil {
		t.Fatalf("dropping an enrolled host: %s %v", rep.Summary, rep.Errors)
	}
	// The non-enrolled services and memberships of nextcloud went: its
	// HTTP service was deleted (it was owned), the host stays.
	if l.show("service", "HTTP/nextcloud.hetzner.int.mydomain") != nil {
		t.Error("the HTTP service of nextcloud was not deleted")
	}
}

// TestPipelineReportsEveryBadField: the decode step lists every bad field
// of a FreeIPA resource in one run (mixed-case names used to take one push
// per field), each as a diagnostic naming the resource and the spec field,
// and nothing is applied.
func TestPipelineReportsEveryBadField(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, l.b)
	p.In.Push("bad names", map[string]string{"main.jsonnet": `local r = import 'runner.libsonnet';
local ipa = import 'freeipa.libsonnet';
r.output([
  ipa.host('Web1.example.test', { force: true, hostGroups: ['Web'] }),
  ipa.user('Bob', 'Bob', ''),
])
`})
	l.sim.ResetCounters()
	rep := p.Run()
	var got []string
	for _, d := range rep.Errors {
		got = append(got, d.Resource+" "+d.Field)
	}
	want := []string{
		"freeipa.host/Web1.example.test (resources[0]) spec.fqdn",
		"freeipa.host/Web1.example.test (resources[0]) spec.hostGroups[0]",
		"freeipa.user/Bob (resources[1]) spec.uid",
		"freeipa.user/Bob (resources[1]) spec.lastName",
	}
	if rep.Result != pipeline.ResultFailed || rep.Stage != pipeline.StageDecode || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("run: %s stage %s, diagnostics:\n%s\nwant:\n%s", rep.Result, rep.Stage, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := l.sim.Counters(); n.Total != 0 {
		t.Errorf("a run that failed to decode called FreeIPA: %v", n.ByOp)
	}
}
