package freeipa_test

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/importtest"
	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// A FreeIPA kept by hand (hosts, host groups with members, a service,
// users, groups with nested groups, sudo rules with options, a disabled
// rule) is imported: FreeIPA's own objects are left alone, the written
// repo adopts the rest with no write call, and a second import writes the
// same bytes.
func TestImportPlansClean(t *testing.T) {
	t.Parallel()
	l := newHomelabLab(t)
	for _, h := range importtest.FreeIPAHosts {
		l.seed(l.sim.AddHost(h, true))
	}
	for _, c := range importtest.FreeIPACalls() {
		l.call(c.Method, c.Args, c.Opts)
	}

	// 3 hosts, 1 host group, 1 service, 2 users, 2 groups, 2 rules; left
	// alone: 2 servers, their 4 services, ipaservers, admin, admins,
	// ipausers, "with space".
	read := importtest.Reader(t, importer.Source{Backend: l.b, Name: "freeipa"}, func() int { return l.sim.Counters().Writes }, 11, 11)
	files := read()
	pipelinetest.FileHas(t, files, "identity.libsonnet",
		`ipa.hostgroup('webservers', { description: 'Web servers', hosts: ['web1.hetzner.int.mydomain'], adopt: true }),`,
		`ipa.host('db1.hetzner.int.mydomain', { description: 'PostgreSQL', locality: 'Hetzner', adopt: true }),`,
		`ipa.service('HTTP', 'web1.hetzner.int.mydomain', { adopt: true }),`,
		`ipa.user('alice', 'Alice', 'Liddell', { email: ['alice@mydomain.com'], loginShell: '/bin/zsh', adopt: true }),`,
		// bob has what user_add filled in from config_show: not written.
		`ipa.user('bob', 'Bob', 'Builder', { adopt: true }),`,
		`ipa.group('ops', { groups: ['devs'], adopt: true }),`,
		`options: ['!authenticate']`,
		`ipa.sudorule('old-rule', { allHosts: true, enabled: false, adopt: true }),`,
	)
	pipelinetest.FileHas(t, files, "IMPORT.md", "FreeIPA user admin | FreeIPA's own administrator", "FreeIPA group admins", "with space")

	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, l.b)
	p.In.Push("import FreeIPA", files)
	l.sim.ResetCounters()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("first deployment of the import: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if st := l.sim.Counters(); st.Writes != 0 {
		t.Errorf("adopting the import made %d write calls: %v", st.Writes, st.ByOp)
	}
	pipelinetest.SameFiles(t, files, read())
}

// What an entry holds beyond the spec is listed, attribute by attribute,
// not dropped: a sudo rule's deny command, order and run-as category, a
// user's hand-picked uid number, home directory, telephone number and SSH
// key (counted, not shown), a host's MAC address. What FreeIPA writes
// itself (principals, object classes, a DNA-assigned uid number, the
// default home directory) is not. A non-POSIX group is written as one.
func TestImportListsUnmodelledAttributes(t *testing.T) {
	t.Parallel()
	l := newHomelabLab(t)
	web := importtest.FreeIPAHosts[0]
	l.seed(l.sim.AddHost(web, true))
	const sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@laptop"
	for _, c := range []struct {
		method string
		args   []any
		opts   map[string]any
	}{
		{"host_mod", []any{web}, map[string]any{"macaddress": "BC:24:11:00:01:04", "usercertificate": "MIIBhostCERTbody"}},
		{"user_add", []any{"carol"}, map[string]any{"givenname": "Carol", "sn": "Shaw", "uidnumber": 5000, "gidnumber": 5000,
			"homedirectory": "/srv/home/carol", "telephonenumber": "+49 30 1234567", "ipasshpubkey": sshKey}},
		{"user_add", []any{"dave"}, map[string]any{"givenname": "Dave", "sn": "Null"}},
		{"group_add", []any{"mail-only"}, map[string]any{"nonposix": true}},
		{"sudocmd_add", []any{"/usr/bin/su"}, nil},
		{"sudorule_add", []any{"no-su"}, map[string]any{"hostcategory": "all", "cmdcategory": "all", "sudoorder": 10,
			"setattr": []string{"ipasudorunasusercategory=all"}}},
		{"sudorule_add_deny_command", []any{"no-su"}, map[string]any{"sudocmd": []string{"/usr/bin/su"}}},
	} {
		l.call(c.method, c.args, c.opts)
	}
	_, files := pipelinetest.Import(t, importer.Source{Backend: l.b, Name: "freeipa"})
	pipelinetest.FileHas(t, files, "IMPORT.md",
		"| FreeIPA host "+web+": attributes | attributes the runner does not manage: macaddress=BC:24:11:00:01:04, usercertificate=(1, not shown) |",
		"| FreeIPA user carol: attributes | attributes the runner does not manage: gidnumber=5000, homedirectory=/srv/home/carol, ipasshpubkey=(1, not shown), telephonenumber=+49 30 1234567, uidnumber=5000 |",
		"| FreeIPA sudorule no-su: attributes | attributes the runner does not manage: ipasudorunasusercategory=all, memberdenycmd_sudocmd=/usr/bin/su, sudoorder=10 |",
	)
	pipelinetest.FileHas(t, files, "identity.libsonnet", `ipa.group('mail-only', { nonPosix: true, adopt: true }),`)
	for _, not := range []string{"FreeIPA user dave: attributes", "FreeIPA group mail-only: attributes", "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "MIIBhostCERTbody"} {
		if strings.Contains(files["IMPORT.md"], not) {
			t.Errorf("IMPORT.md holds %q:\n%s", not, files["IMPORT.md"])
		}
	}
}
