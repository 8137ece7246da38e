package freeipa_test

import (
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestSudoRuleOptions: options are observed (ipasudoopt), diffed as a
// case-sensitive set and applied with sudorule_add_option /
// sudorule_remove_option; a converged rule makes no write, and an absent
// options field leaves the live options alone.
func TestSudoRuleOptions(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	p := &steptest.Progress{}
	var inv inventory
	for i, tc := range []struct {
		spec      string
		want      []string
		wantCalls map[string]int
	}{
		{`{"name":"ops","allHosts":true,"allCommands":true,"options":["!authenticate"]}`, []string{"!authenticate"},
			map[string]int{"sudorule_add": 1, "sudorule_add_option": 1}},
		{`{"name":"ops","allHosts":true,"allCommands":true,"options":["env_keep+=SSH_AUTH_SOCK","!Authenticate"]}`,
			[]string{"!Authenticate", "env_keep+=SSH_AUTH_SOCK"}, map[string]int{"sudorule_remove_option": 1, "sudorule_add_option": 1}},
		{`{"name":"ops","allHosts":true,"allCommands":true}`, []string{"!Authenticate", "env_keep+=SSH_AUTH_SOCK"}, map[string]int{}},
		{`{"name":"ops","allHosts":true,"allCommands":true,"options":[]}`, nil, map[string]int{"sudorule_remove_option": 1}},
	} {
		want := []res{{freeipa.KindSudoRule, "ops", tc.spec}}
		l.sim.ResetCounters()
		_, next, err := l.converge(want, inv, p)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		inv = next
		writes := map[string]int{}
		for op, n := range l.sim.Counters().ByOp {
			if op != "sudorule_find" && op != "sudorule_show" {
				writes[op] = n
			}
		}
		if !reflect.DeepEqual(writes, tc.wantCalls) {
			t.Errorf("step %d: calls %v, want %v", i, writes, tc.wantCalls)
		}
		got := strs(l.show("sudorule", "ops")["ipasudoopt"])
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("step %d: ipasudoopt = %q, want %q", i, got, tc.want)
		}
		l.sim.ResetCounters()
		cs, _, err := l.converge(want, inv, p)
		if err != nil || cs[0].Action != steps.NoOp || l.sim.Counters().Writes != 0 {
			t.Fatalf("step %d again: %s %v %v", i, actions(cs), cs[0].Fields, err)
		}
	}
}
