package monitor

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func deploy(result pipeline.Result, ago time.Duration) *Run {
	return &Run{Kind: pipeline.KindDeploy, Result: result, Summary: "deploy 1a2b3c4: " + string(result), Finished: now.Add(-ago)}
}

// perfItem is one performance data item of the plugin guidelines:
// 'label'=value[UOM];[warn];[crit];[min];[max].
var perfItem = regexp.MustCompile(`^'[^'=]+'=-?[0-9.]+(s|ms|us|%|B|KB|MB|TB|c)?(;[0-9.:~@-]*){0,4}$`)

func TestCheck(t *testing.T) {
	cert := func(days float64) []Cert {
		return []Cert{{Name: "far", NotAfter: now.Add(90 * 24 * time.Hour)}, {Name: "soon", NotAfter: now.Add(time.Duration(days * 24 * float64(time.Hour)))}}
	}
	for _, tc := range []struct {
		name  string
		state State
		want  Status
		line  string // in the status line
	}{
		{"nothing yet", State{}, OK, "RUNNER OK - infra: no deployment recorded yet"},
		{"deployed", State{LastDeploy: deploy(pipeline.ResultOK, time.Hour), Certs: cert(60)}, OK, "last deployment deploy 1a2b3c4: ok (1h0m0s ago)"},
		{"failed", State{LastDeploy: deploy(pipeline.ResultFailed, time.Minute)}, Critical, "RUNNER CRITICAL - infra: last deployment deploy 1a2b3c4: failed"},
		{"denied", State{LastDeploy: deploy(pipeline.ResultDenied, time.Minute)}, Critical, "denied"},
		{"drift", State{LastDeploy: deploy(pipeline.ResultOK, time.Hour), Drift: &Drift{Resources: 2, Since: now.Add(-30 * time.Minute), Summary: "drift check 1a2b3c4: 2 to change"}}, Warning, "RUNNER WARNING - infra: 2 resources drifted"},
		{"cert warning", State{LastDeploy: deploy(pipeline.ResultOK, time.Hour), Certs: cert(20)}, Warning, "certificate soon expires in 20 days"},
		{"cert critical", State{LastDeploy: deploy(pipeline.ResultOK, time.Hour), Certs: cert(3)}, Critical, "certificate soon expires in 3 days"},
		{"cert expired", State{Certs: cert(-2)}, Critical, "certificate soon expired 2 days"},
		{"cert missing beside two read", State{Certs: append(cert(20), Cert{Name: "gone", Err: errString("live/gone/cert.pem is missing")})}, Critical, "certificate soon expires in 20 days (the soonest of 2)"},
		{"cert missing", State{Certs: []Cert{{Name: "gone", Err: errString("live/gone/cert.pem is missing")}}}, Critical, "certificate gone: live/gone/cert.pem is missing"},
		{"queue warning", State{Queue: Queue{Pending: 1, Oldest: now.Add(-20 * time.Minute)}}, Warning, "1 job queued (0 running), the oldest pushed 20m0s ago"},
		{"queue critical", State{Queue: Queue{Running: 1, Pending: 1, Oldest: now.Add(-2 * time.Hour)}}, Critical, "2 jobs queued"},
		{"renew failed", State{LastPass: &Run{Kind: pipeline.KindRenew, Result: pipeline.ResultFailed, Summary: "renew: failed", Finished: now}}, Warning, "last unattended pass renew: failed"},
		{"heal denied", State{LastPass: &Run{Kind: pipeline.KindHeal, Result: pipeline.ResultDenied, Summary: "self-heal: denied", Finished: now}}, Warning, "last unattended pass self-heal: denied"},
		{"check failed", State{LastDeploy: deploy(pipeline.ResultOK, time.Hour), LastPass: &Run{Kind: pipeline.KindDrift, Result: pipeline.ResultFailed, Summary: "drift check 1a2b3c4: failed in observe, nothing applied", Finished: now}},
			Warning, "RUNNER WARNING - infra: last unattended pass drift check 1a2b3c4: failed in observe"},
		{"worst first", State{LastDeploy: deploy(pipeline.ResultFailed, time.Minute), Drift: &Drift{Resources: 1, Since: now}}, Critical, "RUNNER CRITICAL - infra: last deployment deploy 1a2b3c4: failed (1m0s ago); infra: 1 resource drifted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			st.Name = "infra"
			res := Check([]*State{&st}, DefaultThresholds, now)
			out := res.Output()
			if res.Status != tc.want {
				t.Errorf("status %s, want %s\n%s", res.Status, tc.want, out)
			}
			first, _, _ := strings.Cut(out, "\n")
			if !strings.Contains(first, tc.line) {
				t.Errorf("status line lacks %q:\n%s", tc.line, first)
			}
			text, perf, ok := strings.Cut(first, " | ")
			if !ok || strings.Contains(text, "|") {
				t.Fatalf("want one '|' before the performance data:\n%s", first)
			}
			for _, p := range strings.Fields(perf) {
				if !perfItem.MatchString(p) {
					t.Errorf("performance data %q is not in the guidelines' format", p)
				}
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
