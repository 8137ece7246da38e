package proxmox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// twoClusters is two simulated Proxmox clusters, hetzner and flat1, each
// the seeded homelab with its node "pve", behind one backend configured in
// the clusters form.
type twoClusters struct {
	sims map[string]*sim.Server
	b    *proxmox.Clusters
	// sections are the clusters' config sections by name.
	sections map[string]json.RawMessage
}

func newTwoClusters(t *testing.T) *twoClusters {
	t.Helper()
	tc := &twoClusters{sims: map[string]*sim.Server{}}
	sections := map[string]json.RawMessage{}
	for _, name := range []string{"hetzner", "flat1"} {
		e := newEnv(t, sim.Options{}, nil)
		tc.sims[name], sections[name] = e.sim, e.config(nil)
	}
	tc.sections = sections
	raw, err := json.Marshal(map[string]any{"clusters": sections})
	if err != nil {
		t.Fatal(err)
	}
	tc.b, err = proxmox.NewClusters(raw, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func (tc *twoClusters) reset() {
	for _, s := range tc.sims {
		s.ResetCounters()
	}
}

// clusterGuest is a container of the reference homelab's node "pve" on
// cluster c ("" leaves cluster out), as Jsonnet.
func clusterGuest(name, c string, vmid int) string {
	cl := ""
	if c != "" {
		cl = "cluster: '" + c + "', "
	}
	return `proxmox.lxc('` + name + `', { ` + cl + `node: 'pve', vmid: ` + itoa(vmid) + `, memory: '1GiB',
    ostemplate: proxmox.templates.debian12, rootfs: { storage: 'local-lvm', size: '8GiB' } })`
}

// viaLib is clusterGuest built with the lib's proxmox.cluster(c) helper.
func viaLib(name, c string, vmid int) string {
	return strings.Replace(clusterGuest(name, "", vmid), "proxmox.lxc(", "proxmox.cluster('"+c+"').lxc(", 1)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// guestsRepo is an infra repo declaring the given guests.
func guestsRepo(guests ...string) map[string]string {
	return map[string]string{"main.jsonnet": `local runner = import 'runner.libsonnet';
local proxmox = import 'proxmox.libsonnet';
runner.output([
  ` + strings.Join(guests, ",\n  ") + `
])
`}
}

// clusterLab is a pipeline with the built-in policies over b.
func clusterLab(t *testing.T, b steps.Backend) *pipelinetest.Lab {
	t.Helper()
	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 4, Backoff: 1, MaxBackoff: 1}, b)
	p.Runner.Policy = policy.Checker{}
	return p
}

// Guests with the same VMIDs on two clusters are two guests each: a push
// creates all four, each cluster observed once and written only for its
// own guests; a second push reads each cluster once and writes nothing.
func TestClustersPushSameVMIDsOnBoth(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	p := clusterLab(t, tc.b)
	p.In.Push("four guests", guestsRepo(
		clusterGuest("web-h", "hetzner", 101), clusterGuest("db-h", "hetzner", 102),
		viaLib("web-f", "flat1", 101), viaLib("db-f", "flat1", 102)))
	tc.reset()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["create"] != 4 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	for name, want := range map[string][2]string{"hetzner": {"web-h", "db-h"}, "flat1": {"web-f", "db-f"}} {
		s := tc.sims[name]
		for i, vmid := range []int{101, 102} {
			conf, _, ok := s.GuestConfig(vmid)
			if !ok || conf["hostname"] != want[i] {
				t.Errorf("cluster %s CT %d: hostname %q (exists %v), want %s", name, vmid, conf["hostname"], ok, want[i])
			}
		}
		c := s.Counters()
		if c.ByOp["GET /cluster/resources"] != 1 || c.ByOp["GET /nodes"] != 1 || c.ByOp["POST /nodes/{node}/lxc"] != 2 {
			t.Errorf("cluster %s: want 1 /cluster/resources, 1 /nodes, 2 creates: %v", name, c.ByOp)
		}
	}

	p.In.Push("again", guestsRepo(
		clusterGuest("web-h", "hetzner", 101), clusterGuest("db-h", "hetzner", 102),
		clusterGuest("web-f", "flat1", 101), clusterGuest("db-f", "flat1", 102)))
	tc.reset()
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["noop"] != 4 {
		t.Fatalf("second push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	for name, s := range tc.sims {
		c := s.Counters()
		if c.Writes != 0 || c.Total != 4 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 2 {
			t.Errorf("cluster %s on a no-op push: %d calls, %d writes, want 4 reads (resources, nodes, 2 pending): %v", name, c.Total, c.Writes, c.ByOp)
		}
	}
}

// A guest whose cluster changes is refused at plan time with the field
// named, nothing written on either cluster; declaring it anew under a new
// name on the other cluster (and removing the old one) does the move.
func TestClustersMoveRefused(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	p := clusterLab(t, tc.b)
	p.In.Push("web on hetzner", guestsRepo(clusterGuest("web", "hetzner", 101)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 1 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	var inv struct {
		Resources []struct {
			State struct{ Cluster, Node string }
		}
	}
	if err := json.Unmarshal([]byte(p.Status("inventory.json")), &inv); err != nil || len(inv.Resources) != 1 || inv.Resources[0].State.Cluster != "hetzner" {
		t.Errorf("inventory %+v (%v): want web's state record to name cluster hetzner", inv, err)
	}
	moved := p.In.Push("web to flat1", guestsRepo(clusterGuest("web", "flat1", 101)))
	// The push-time check refuses it already (built-in guest-cluster),
	// without asking Proxmox.
	tc.reset()
	res, err := p.Runner.Check(t.Context(), moved, pipeline.Push{User: "alice"})
	if err != nil || !res.Rejected() || len(res.Policy.Deny) != 1 || res.Policy.Deny[0].File != "builtin/guest-cluster.rego" ||
		!strings.Contains(res.Policy.Deny[0].Message, "proxmox.lxc/web: cluster changed from hetzner to flat1") {
		t.Fatalf("check of the move: %v %+v, want denied by guest-cluster", err, res)
	}
	for name, s := range tc.sims {
		if n := s.Counters().Total; n != 0 {
			t.Errorf("check: cluster %s got %d calls", name, n)
		}
	}
	tc.reset()
	rep := p.Run()
	if rep.Result != pipeline.ResultFailed || len(rep.Errors) == 0 {
		t.Fatalf("move: %s %v, want failed", rep.Summary, rep.Counts)
	}
	d := rep.Errors[0]
	if d.Resource != "proxmox.lxc/web" || !strings.Contains(d.Field+": "+d.Summary, "cluster: changed from hetzner to flat1") {
		t.Errorf("move: diagnostic %+v, want proxmox.lxc/web field cluster, from hetzner to flat1", d)
	}
	for name, s := range tc.sims {
		if c := s.Counters(); c.Writes != 0 {
			t.Errorf("cluster %s: %d writes on a refused move: %v", name, c.Writes, c.ByOp)
		}
	}
	if _, _, ok := tc.sims["hetzner"].GuestConfig(101); !ok {
		t.Error("CT 101 on hetzner is gone after the refused move")
	}

	// The move on purpose: a new resource on flat1, the old one removed
	// (unprotected, so the built-in policy lets it go).
	p.In.Push("unprotect", guestsRepo(strings.Replace(clusterGuest("web", "hetzner", 101), "memory:", "protect: false, memory:", 1)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK {
		t.Fatalf("unprotect: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	p.In.Push("web2 on flat1", guestsRepo(clusterGuest("web2", "flat1", 101)))
	tc.reset()
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["create"] != 1 || rep.Counts["delete"] != 1 {
		t.Fatalf("move on purpose: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if _, _, ok := tc.sims["hetzner"].GuestConfig(101); ok {
		t.Error("CT 101 still on hetzner after its resource was removed")
	}
	if conf, _, ok := tc.sims["flat1"].GuestConfig(101); !ok || conf["hostname"] != "web2" {
		t.Errorf("CT 101 on flat1: %q (exists %v), want web2", conf["hostname"], ok)
	}
	if h, f := tc.sims["hetzner"].Counters(), tc.sims["flat1"].Counters(); h.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 1 || h.ByOp["POST /nodes/{node}/lxc"] != 0 ||
		f.ByOp["POST /nodes/{node}/lxc"] != 1 || f.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 0 {
		t.Errorf("move on purpose: hetzner %v, flat1 %v: want the delete on hetzner and the create on flat1", h.ByOp, f.ByOp)
	}
}

// Bad cluster fields are push-time errors naming file, resource and field;
// nothing is read or written.
func TestClustersDecodeErrors(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	p := clusterLab(t, tc.b)
	for _, c := range []struct{ name, guest, want string }{
		{"missing", clusterGuest("web", "", 101), "is required: backends.proxmox has 2 clusters (flat1, hetzner)"},
		{"unknown", clusterGuest("web", "flat2", 101), `"flat2" is not a configured cluster`},
		{"not a name", clusterGuest("web", "flat 2", 101), "is not a cluster name"},
	} {
		p.In.Push(c.name, guestsRepo(c.guest))
		tc.reset()
		rep := p.Run()
		if rep.Result != pipeline.ResultFailed || len(rep.Errors) != 1 {
			t.Fatalf("%s: %s %v, want one error", c.name, rep.Summary, rep.Errors)
		}
		d := rep.Errors[0]
		if d.File != "main.jsonnet" || !strings.HasPrefix(d.Resource, "proxmox.lxc/web ") || d.Field != "spec.cluster" || !strings.Contains(d.Summary, c.want) {
			t.Errorf("%s: diagnostic %+v, want main.jsonnet proxmox.lxc/web field cluster %q", c.name, d, c.want)
		}
		for name, s := range tc.sims {
			if n := s.Counters().Total; n != 0 {
				t.Errorf("%s: cluster %s got %d calls for a push that does not decode", c.name, name, n)
			}
		}
	}
}

// One VMID twice in one cluster is still refused; across clusters it is
// two guests (Identities name the cluster).
func TestClustersIdentities(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	spec := func(c string) steps.Spec {
		s, err := tc.b.Decode(proxmox.KindLXC, json.RawMessage(`{"cluster": "`+c+`", "node": "pve", "vmid": 101, "memory": "1GiB",
			"ostemplate": "local:vztmpl/x.tar.zst", "rootfs": {"storage": "local-lvm", "size": "8GiB"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h := tc.b.Identities(steps.Target{ID: id(proxmox.KindLXC, "a"), Want: spec("hetzner")})
	f := tc.b.Identities(steps.Target{ID: id(proxmox.KindLXC, "b"), Want: spec("flat1")})
	if len(h) != 1 || len(f) != 1 || h[0] != "hetzner/vmid:101" || f[0] != "flat1/vmid:101" {
		t.Errorf("identities: hetzner %q, flat1 %q, want hetzner/vmid:101 and flat1/vmid:101", h, f)
	}

	p := clusterLab(t, tc.b)
	p.In.Push("one VMID twice on hetzner", guestsRepo(clusterGuest("a", "hetzner", 101), clusterGuest("b", "hetzner", 101)))
	tc.reset()
	rep := p.Run()
	if rep.Result != pipeline.ResultFailed || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0].Summary, "vmid:101") {
		t.Fatalf("one VMID twice: %s %v, want refused naming hetzner/vmid:101", rep.Summary, rep.Errors)
	}
	for name, s := range tc.sims {
		if c := s.Counters(); c.Writes != 0 {
			t.Errorf("cluster %s: %d writes for a refused plan", name, c.Writes)
		}
	}
}

// The policy input names each cluster's nodes apart: both have a node
// "pve", and the capacity policy judges each by its own guests.
func TestClustersLiveSummaryAndCapacity(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	if _, err := tc.b.Observe(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tc.b.LiveSummary())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Clusters map[string]struct {
			Nodes map[string]struct{ Memory int64 }
		}
		Nodes map[string]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Clusters) != 2 || got.Clusters["hetzner"].Nodes["pve"].Memory != 48<<30 || got.Clusters["flat1"].Nodes["pve"].Memory != 48<<30 || got.Nodes != nil {
		t.Fatalf("live summary %s: want clusters hetzner and flat1, each with node pve of 48 GiB, and no top-level nodes", b)
	}

	// 30 GiB on each cluster's pve fits; mixed (60 GiB on one 48 GiB pve)
	// it would not. 2 × 30 GiB on flat1 does not fit.
	big := func(name, c string, vmid int) string {
		return strings.Replace(clusterGuest(name, c, vmid), "memory: '1GiB'", "memory: '30GiB'", 1)
	}
	p := clusterLab(t, tc.b)
	p.In.Push("30 GiB each", guestsRepo(big("a", "hetzner", 101), big("b", "flat1", 101)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 2 {
		t.Fatalf("30 GiB on each cluster: %s %v %v", rep.Summary, rep.Errors, rep.Policy)
	}
	p.In.Push("60 GiB on flat1", guestsRepo(big("a", "hetzner", 101), big("b", "flat1", 101), big("c", "flat1", 102)))
	rep := p.Run()
	if rep.Result != pipeline.ResultDenied || len(rep.Policy.Deny) != 1 || !strings.Contains(rep.Policy.Deny[0].Message, "cluster flat1 node pve: 2 guests") {
		t.Fatalf("60 GiB on flat1: %s %+v, want denied by capacity for cluster flat1 node pve", rep.Summary, rep.Policy)
	}
}

// The config: the single-host form and clusters together, an empty
// clusters object and a bad cluster section are errors naming the field;
// a single-host guest may not name a cluster.
func TestClustersConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ raw, want string }{
		{`{"url": "https://pve:8006", "clusters": {"a": {}}}`, "give either clusters or the single-host fields at the top level, not both (found url"},
		{`{"clusters": {}}`, "field clusters: is empty"},
		{`{"clusters": {"a": null}}`, "field clusters.a: is empty"},
		{`{"clusters": {"a": {"url": "pve:8006"}}}`, "clusters.a: field url:"},
		{`{"clusters": {"a b": {"url": "https://pve:8006"}}}`, `"a b" is not a cluster name`},
	} {
		_, err := proxmox.NewClusters(json.RawMessage(c.raw), &steps.Redactor{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %s: error %v, want %q", c.raw, err, c.want)
		}
	}
	e := newEnv(t, sim.Options{}, nil)
	single, err := proxmox.NewClusters(e.config(nil), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = single.Decode(proxmox.KindLXC, json.RawMessage(`{"cluster": "hetzner", "node": "pve", "memory": "1GiB",
		"ostemplate": "local:vztmpl/x.tar.zst", "rootfs": {"storage": "local-lvm", "size": "8GiB"}}`))
	var fe *steps.FieldError
	if !errors.As(err, &fe) || fe.Field != "cluster" || !strings.Contains(err.Error(), "single-host form") {
		t.Errorf("single-host form, guest with a cluster: %v, want a field error on cluster", err)
	}
}

// A warning names the config section it is about: the cluster's, when
// there are several (Warnings, and the line Apply logs).
func TestClustersWarningsNameTheCluster(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := proxmox.NewClusters(json.RawMessage(fmt.Sprintf(`{"clusters": {
		"flat1": {"url": "https://pve-flat1:8006", "tokenId": "root@pam!runner", "tokenSecret": {"file": %q}, "insecureSkipVerify": true},
		"hetzner": {"url": "https://pve:8006", "tokenId": "root@pam!runner", "tokenSecret": {"file": %q}, "fingerprint": "%sAB"}}}`,
		secret, secret, strings.Repeat("AB:", 31))), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "backends.proxmox.clusters.flat1: insecureSkipVerify is on") {
		t.Fatalf("warnings %q, want one naming backends.proxmox.clusters.flat1", w)
	}
	spec, err := c.Decode(proxmox.KindLXC, json.RawMessage(`{"cluster": "flat1", "node": "pve", "memory": "1GiB",
		"ostemplate": "local:vztmpl/x.tar.zst", "rootfs": {"storage": "local-lvm", "size": "8GiB"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var p logProgress
	id := steps.ID{Kind: proxmox.KindLXC, Name: "web"}
	_, _ = c.Apply(t.Context(), steps.Change{ID: id, Action: steps.NoOp, Target: steps.Target{ID: id, Want: spec}}, &p)
	if len(p) == 0 || !strings.HasPrefix(p[0], "warning: backends.proxmox.clusters.flat1: insecureSkipVerify is on") {
		t.Fatalf("apply logged %q, want the warning naming backends.proxmox.clusters.flat1 first", p)
	}
}

// logProgress keeps the lines an Apply logs.
type logProgress []string

func (l *logProgress) Printf(format string, args ...any) {
	*l = append(*l, fmt.Sprintf(format, args...))
}

// runner doctor probes each cluster; runner import reads every cluster and
// writes each guest's cluster.
func TestClustersProbeAndImport(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	tc.reset()
	call, _, err := tc.b.Probe(context.Background())
	if err != nil || !strings.Contains(call, "cluster flat1: GET /version") || !strings.Contains(call, "cluster hetzner: GET /version") {
		t.Errorf("probe: %q %v, want both clusters' GET /version", call, err)
	}
	for name, s := range tc.sims {
		// One with the token, one without for the server's Date header
		// (Backend.Probe).
		if n := s.Counters().ByOp["GET /version"]; n != 2 {
			t.Errorf("probe: cluster %s got %d GET /version, want 2", name, n)
		}
	}

	p := clusterLab(t, tc.b)
	p.In.Push("one guest each", guestsRepo(clusterGuest("web-h", "hetzner", 101), clusterGuest("web-f", "flat1", 101)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK {
		t.Fatalf("push: %s %v", rep.Summary, rep.Errors)
	}
	res, files := pipelinetest.Import(t, importer.Source{Name: "proxmox", Backend: tc.b})
	if len(res.Files) == 0 {
		t.Fatal("import wrote no files")
	}
	pipelinetest.FileHas(t, files, "guests.libsonnet", "cluster: 'hetzner'", "cluster: 'flat1'", "'web-h'", "'web-f'")
}

// The single-host form through the router is today's backend: guests name
// no cluster, identities and the policy input keep their shape, and the
// state record names no cluster.
func TestClustersSingleHostFormUnchanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	b, err := proxmox.NewClusters(e.config(nil), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Names() != nil {
		t.Errorf("single-host form: clusters %q, want none", b.Names())
	}
	p := clusterLab(t, b)
	p.In.Push("web", guestsRepo(clusterGuest("web", "", 101)))
	e.sim.ResetCounters()
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 1 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if c := e.sim.Counters(); c.ByOp["GET /cluster/resources"] != 1 || c.ByOp["POST /nodes/{node}/lxc"] != 1 {
		t.Errorf("push: %v, want one /cluster/resources and one create", c.ByOp)
	}
	if inv := p.Status("inventory.json"); strings.Contains(inv, `"cluster"`) || !strings.Contains(inv, `"vmid": 101`) {
		t.Errorf("inventory names a cluster, or not VMID 101:\n%s", inv)
	}
	spec := steptest.Decode(t, e.b, proxmox.KindLXC, lxcSpec)
	if ids := b.Identities(steps.Target{ID: id(proxmox.KindLXC, "web"), Want: spec}); len(ids) != 1 || ids[0] != "vmid:101" {
		t.Errorf("identities %q, want vmid:101", ids)
	}
	sum, _ := json.Marshal(b.LiveSummary())
	if !strings.HasPrefix(string(sum), `{"nodes":{"pve":`) {
		t.Errorf("live summary %s, want {\"nodes\": {\"pve\": …}}", sum)
	}
}

// With one cluster configured by name a guest may leave its cluster out:
// Decode fills it in, and the guest is made there.
func TestClustersOneNamedClusterIsTheDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	raw, _ := json.Marshal(map[string]any{"clusters": map[string]json.RawMessage{"hetzner": e.config(nil)}})
	b, err := proxmox.NewClusters(raw, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Decode(proxmox.KindLXC, json.RawMessage(lxcSpec))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.(*proxmox.LXCSpec).Cluster; c != "hetzner" {
		t.Errorf("decoded cluster %q, want hetzner", c)
	}
	p := clusterLab(t, b)
	p.In.Push("web", guestsRepo(clusterGuest("web", "", 101)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 1 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if conf, _, ok := e.sim.GuestConfig(101); !ok || conf["hostname"] != "web" {
		t.Errorf("CT 101: %q (exists %v), want web", conf["hostname"], ok)
	}
	// The import of the one cluster writes no cluster: the repo it writes
	// decodes to the same specs (the importer checks), cluster filled in.
	_, files := pipelinetest.Import(t, importer.Source{Name: "proxmox", Backend: b})
	pipelinetest.FileHas(t, files, "guests.libsonnet", "proxmox.lxc('web'")
	if strings.Contains(files["guests.libsonnet"], "cluster:") {
		t.Errorf("one cluster: the import wrote a cluster:\n%s", files["guests.libsonnet"])
	}
}

// From the single-host form to two clusters (the reference owner's next
// step): the single host becomes cluster hetzner, and the guest it runs,
// now declared with cluster: 'hetzner', is a no-op with no write — the
// inventory's spec, which names no cluster, is read as applied
// (DecodeLast), and hetzner has the recorded VMID with the recorded name,
// so it is the same guest. Its record then names the cluster. Declared on
// flat1 instead (which has no such guest), it is refused, not made anew
// there. By way of one named cluster, each step is a no-op too.
func TestClustersFromSingleHostForm(t *testing.T) {
	t.Parallel()
	for _, way := range []string{"straight", "by one named cluster"} {
		t.Run(way, func(t *testing.T) {
			t.Parallel()
			hetzner, flat1 := newEnv(t, sim.Options{}, nil), newEnv(t, sim.Options{}, nil)
			router := func(sections map[string]json.RawMessage) steps.Backend {
				raw := hetzner.config(nil)
				if sections != nil {
					raw, _ = json.Marshal(map[string]any{"clusters": sections})
				}
				b, err := proxmox.NewClusters(raw, &steps.Redactor{})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			p := clusterLab(t, router(nil))
			use := func(b steps.Backend) {
				reg, err := steps.NewRegistry(b)
				if err != nil {
					t.Fatal(err)
				}
				p.Runner.Registry = reg
			}
			p.In.Push("web", guestsRepo(clusterGuest("web", "", 101)))
			if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 1 {
				t.Fatalf("single-host push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
			}
			two := router(map[string]json.RawMessage{"hetzner": hetzner.config(nil), "flat1": flat1.config(nil)})

			// Declared on flat1: not the single host's guest.
			use(two)
			p.In.Push("web on flat1", guestsRepo(clusterGuest("web", "flat1", 101)))
			rep := p.Run()
			if rep.Result != pipeline.ResultFailed || len(rep.Errors) != 1 || rep.Errors[0].Resource != "proxmox.lxc/web" ||
				!strings.Contains(rep.Errors[0].Summary, "field cluster: is flat1, but the runner applied the guest under the single-host form of backends.proxmox (its record names no cluster) as VMID 101 named web, and cluster flat1 has no such guest") {
				t.Fatalf("web on flat1: %s %+v, want refused on field cluster", rep.Summary, rep.Errors)
			}
			for name, s := range map[string]*sim.Server{"hetzner": hetzner.sim, "flat1": flat1.sim} {
				if c := s.Counters(); name == "flat1" && c.Writes != 0 {
					t.Errorf("web on flat1: %d writes on %s: %v", c.Writes, name, c.ByOp)
				}
			}

			type config struct {
				name string
				b    steps.Backend
			}
			configs := []config{{"two clusters", two}}
			if way != "straight" {
				configs = append([]config{{"one named cluster", router(map[string]json.RawMessage{"hetzner": hetzner.config(nil)})}}, configs...)
			}
			p.In.Push("web on hetzner", guestsRepo(clusterGuest("web", "hetzner", 101)))
			for _, step := range configs {
				use(step.b)
				hetzner.sim.ResetCounters()
				rep := p.Run()
				if rep.Result != pipeline.ResultOK || rep.Counts["noop"] != 1 {
					t.Fatalf("%s: %s %v %v, want one no-op", step.name, rep.Summary, rep.Counts, rep.Errors)
				}
				if c := hetzner.sim.Counters(); c.Writes != 0 {
					t.Errorf("%s: %d writes: %v", step.name, c.Writes, c.ByOp)
				}
				if inv := p.Status("inventory.json"); !strings.Contains(inv, `"cluster": "hetzner"`) {
					t.Errorf("%s: the inventory's spec names no cluster:\n%s", step.name, inv)
				}
			}
			if c := flat1.sim.Counters(); c.Writes != 0 {
				t.Errorf("flat1 written: %v", c.ByOp)
			}
			// A real change after the move is applied on hetzner.
			p.In.Push("web 2 GiB", guestsRepo(strings.Replace(clusterGuest("web", "hetzner", 101), "'1GiB'", "'2GiB'", 1)))
			hetzner.sim.ResetCounters()
			if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 {
				t.Fatalf("update after the move: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
			}
			if conf, _, _ := hetzner.sim.GuestConfig(101); conf["memory"] != "2048" {
				t.Errorf("CT 101 on hetzner: memory %q, want 2048", conf["memory"])
			}
		})
	}
}

// A guest on a cluster that was removed from the config (and its resource
// from the repo) does not stop the run: its delete is planned blocked,
// saying what to do, the rest is applied, and its record is kept. A
// protected one is still protected (its last spec decoded as applied is
// what the policy judges). With the cluster back in the config, the next
// run deletes it.
func TestClustersRemovedCluster(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	p := clusterLab(t, tc.b)
	unprotected := func(g string) string { return strings.Replace(g, "memory:", "protect: false, memory:", 1) }
	p.In.Push("three guests", guestsRepo(clusterGuest("web", "hetzner", 101),
		unprotected(clusterGuest("db", "flat1", 101)), clusterGuest("files", "flat1", 102)))
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["create"] != 3 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	onlyHetzner := func() steps.Backend {
		raw, _ := json.Marshal(map[string]any{"clusters": map[string]json.RawMessage{"hetzner": tc.sections["hetzner"]}})
		b, err := proxmox.NewClusters(raw, &steps.Redactor{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	use := func(b steps.Backend) {
		reg, err := steps.NewRegistry(b)
		if err != nil {
			t.Fatal(err)
		}
		p.Runner.Registry = reg
	}
	use(onlyHetzner())

	// files is protected: removing it is denied, as on any cluster.
	p.In.Push("flat1 gone", guestsRepo(strings.Replace(clusterGuest("web", "hetzner", 101), "'1GiB'", "'2GiB'", 1)))
	tc.reset()
	rep := p.Run()
	if rep.Result != pipeline.ResultDenied || len(rep.Policy.Deny) != 1 || !strings.Contains(rep.Policy.Deny[0].Message, "proxmox.lxc/files would be deleted, but it is protected") {
		t.Fatalf("flat1 gone with a protected guest: %s %+v %v, want denied for files", rep.Summary, rep.Policy, rep.Errors)
	}

	// With files unprotected first (while flat1 was still configured),
	// removing flat1 and its guests blocks both deletes, and web is
	// updated all the same.
	use(tc.b)
	p.In.Push("unprotect files", guestsRepo(clusterGuest("web", "hetzner", 101),
		unprotected(clusterGuest("db", "flat1", 101)), unprotected(clusterGuest("files", "flat1", 102))))
	if rep := p.Run(); rep.Result != pipeline.ResultOK {
		t.Fatalf("unprotect files: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	use(onlyHetzner())
	p.In.Push("flat1 gone again", guestsRepo(strings.Replace(clusterGuest("web", "hetzner", 101), "'1GiB'", "'2GiB'", 1)))
	tc.reset()
	rep = p.Run()
	if rep.Result != pipeline.ResultFailed || rep.Counts["update"] != 1 || rep.Counts["delete"] != 2 || len(rep.Errors) != 0 {
		t.Fatalf("flat1 gone: %s %v %v, want web updated and two blocked deletes", rep.Summary, rep.Counts, rep.Errors)
	}
	blocked := 0
	for _, e := range rep.Plan {
		if e.Action == steps.Delete {
			blocked++
			if !strings.Contains(e.Blocked, "it runs on cluster flat1, which is no longer in backends.proxmox.clusters (hetzner)") ||
				!strings.Contains(e.Blocked, "put cluster flat1 back into backends.proxmox.clusters") || !strings.Contains(e.Blocked, "remove "+e.ID+" from inventory.json") {
				t.Errorf("%s: blocked %q, want what to do", e.ID, e.Blocked)
			}
		}
	}
	if blocked != 2 {
		t.Errorf("plan %+v: want 2 blocked deletes", rep.Plan)
	}
	if conf, _, _ := tc.sims["hetzner"].GuestConfig(101); conf["memory"] != "2048" {
		t.Errorf("web not updated: memory %q", conf["memory"])
	}
	if c := tc.sims["flat1"].Counters(); c.Total != 0 {
		t.Errorf("flat1, no longer configured, got %d calls", c.Total)
	}
	inv := p.Status("inventory.json")
	for _, name := range []string{"proxmox.lxc/db", "proxmox.lxc/files"} {
		if !strings.Contains(inv, `"id": "`+name+`"`) {
			t.Errorf("the record of %s was dropped:\n%s", name, inv)
		}
	}

	// flat1 back in the config: both deleted there.
	use(tc.b)
	tc.reset()
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts["delete"] != 2 {
		t.Fatalf("flat1 back: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	for _, vmid := range []int{101, 102} {
		if _, _, ok := tc.sims["flat1"].GuestConfig(vmid); ok {
			t.Errorf("CT %d still on flat1", vmid)
		}
	}
}

// TestClustersKeepReadsApart: with kept reads on (Runner.ObserveCache),
// each cluster has a store of its own — VMIDs are per cluster, so one
// store for both would serve one cluster's CT 101 as the other's — and a
// no-op push reads only /cluster/resources and /nodes of each.
func TestClustersKeepReadsApart(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	p := clusterLab(t, tc.b)
	dir := t.TempDir()
	p.Runner.ObserveCache = dir
	repo := guestsRepo(clusterGuest("web-h", "hetzner", 101), clusterGuest("web-f", "flat1", 101))
	p.In.Push("two guests", repo)
	for i, want := range []string{"create", "noop", "noop"} {
		if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Counts[want] != 2 {
			t.Fatalf("run %d: %s %v %v", i+1, rep.Summary, rep.Counts, rep.Errors)
		}
		if i == 1 {
			tc.reset() // the next run may use the reads run 2 kept
		}
	}
	for name, s := range tc.sims {
		if _, err := os.Stat(filepath.Join(dir, "cluster-"+name, "proxmox-observed.json")); err != nil {
			t.Errorf("cluster %s keeps no reads of its own: %v", name, err)
		}
		if c := s.Counters(); c.Total != 2 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 0 {
			t.Errorf("cluster %s on a no-op push with kept reads: %v, want /cluster/resources and /nodes only", name, c.ByOp)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "proxmox-observed.json")); err == nil {
		t.Error("the clusters share one store")
	}
}

// TestObserveFailsTheSameWayEveryRun: with a wrong token every read fails;
// the error is the same on every run (it was whichever of /cluster/resources
// and /nodes failed first, so the operator got a "new" failure mail on
// about every other pass).
func TestObserveFailsTheSameWayEveryRun(t *testing.T) {
	t.Parallel()
	sections := map[string]json.RawMessage{}
	for _, name := range []string{"hetzner", "flat1"} {
		sections[name] = newEnv(t, sim.Options{}, nil).config(map[string]any{"tokenId": "root@pam!revoked"})
	}
	raw, err := json.Marshal(map[string]any{"clusters": sections})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proxmox.NewClusters(raw, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 20 {
		_, err := b.Observe(t.Context(), nil)
		if err == nil {
			t.Fatal("observe with a revoked token succeeded")
		}
		seen[err.Error()] = true
	}
	if len(seen) != 1 {
		t.Errorf("20 runs failing the same way gave %d different errors: %v", len(seen), seen)
	}
}

// With several clusters, what Diff finds wrong against a cluster names it:
// each cluster has its "pve" and its templates. A guest left the repo whose
// record names no cluster (the single-host form) gets a blocked delete
// saying how to delete it.
func TestClustersMessagesNameTheCluster(t *testing.T) {
	t.Parallel()
	tc := newTwoClusters(t)
	withCluster := func(spec, c string) string { return strings.Replace(spec, "{", `{"cluster": "`+c+`", `, 1) }
	decode := func(kind, spec string) steps.Spec {
		s, err := tc.b.Decode(kind, json.RawMessage(spec))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ts := []steps.Target{
		{ID: id(proxmox.KindVM, "vm"), Want: decode(proxmox.KindVM, withCluster(strings.Replace(vmSpec, "9000", "9001", 1), "flat1"))},
		{ID: id(proxmox.KindLXC, "ct"), Want: decode(proxmox.KindLXC, withCluster(strings.Replace(lxcSpec, `"node": "pve"`, `"node": "pve2"`, 1), "hetzner"))},
		{ID: id(proxmox.KindLXC, "old"), Last: decode(proxmox.KindLXC, withCluster(lxcSpec, "hetzner")), State: json.RawMessage(`{"vmid": 101, "node": "pve"}`)},
	}
	last, err := tc.b.DecodeLast(proxmox.KindLXC, json.RawMessage(lxcSpec))
	if err != nil {
		t.Fatal(err)
	}
	ts[2].Last = last // applied under the single-host form: no cluster
	live, err := tc.b.Observe(t.Context(), ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{
		"field clone.template: no VM template 9001 in cluster flat1 (templates: 9000 debian-12-cloudinit)",
		`field node: no node "pve2" in cluster hetzner (nodes: pve)`,
	} {
		if _, err := tc.b.Diff(ts[i], live[ts[i].ID]); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", ts[i].ID, err, want)
		}
	}
	c, err := tc.b.Diff(ts[2], live[ts[2].ID])
	if err != nil || c.Action != steps.Delete || !strings.Contains(c.Blocked, "under the single-host form of backends.proxmox (its record names no cluster), and backends.proxmox has 2 clusters (flat1, hetzner)") ||
		!strings.Contains(c.Blocked, "put it back in the repo with the cluster it runs on") {
		t.Errorf("old: %+v %v, want a blocked delete saying what to do", c, err)
	}
	if b, _ := json.Marshal(c.Before); !strings.Contains(string(b), `"protect":true`) {
		t.Errorf("old: before %s, want its last spec (protect: true) for the policy", b)
	}

	// An Apply error names its cluster: both have a node "pve".
	create := steps.Target{ID: id(proxmox.KindLXC, "new"), Want: decode(proxmox.KindLXC, withCluster(strings.Replace(lxcSpec, "101", "150", 1), "flat1"))}
	live, err = tc.b.Observe(t.Context(), []steps.Target{create})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tc.b.Diff(create, live[create.ID])
	if err != nil || ch.Action != steps.Create {
		t.Fatalf("new: %+v %v, want a create", ch, err)
	}
	tc.sims["flat1"].FailNext("POST /nodes/{node}/lxc", sim.Fault{Status: 403, Message: "Permission check failed (/vms/150, VM.Allocate)"}, 1)
	var lp logProgress
	if _, err := tc.b.Apply(t.Context(), ch, &lp); err == nil || !strings.HasPrefix(err.Error(), "cluster flat1: ") || !strings.Contains(err.Error(), "Permission check failed") {
		t.Errorf("apply on flat1: %v, want the error prefixed with cluster flat1", err)
	}
}
