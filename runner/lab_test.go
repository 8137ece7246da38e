package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/runner/lab"
	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// TestLabRenewsADueCertificate: with the lab's real ACME CA (Pebble), a
// certificate whose renewal the CA asks for (ARI window in the past) is
// renewed by `runner reconcile` — what `runner serve` runs every interval —
// without a push: one order, a new certificate in certbot's layout, a
// status commit of kind renew; a second pass orders nothing and records
// nothing.
func TestLabRenewsADueCertificate(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the lab needs git")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	compiled := compiledBackends()
	var progress bytes.Buffer
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Runner: exe, Backends: compiled, Out: &progress})
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, progress.String())
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	runner := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(append([]string{"--config", l.Config}, args...), strings.NewReader(""), &out, &out, nil)
		return code, out.String()
	}
	git := func(args ...string) string {
		b, err := exec.Command("git", append([]string{"-C", l.Repo}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(b))
	}
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(l.Dir, "certs", "live", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	if code, out := runner("apply", "--repo", l.Repo); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	orders, statuses := l.Orders(), git("rev-list", "--count", "status")
	blogCert, blogKey, other := file("blog/cert.pem"), file("blog/privkey.pem"), file("nagios-internal/cert.pem")
	if code, out := runner("reconcile", "--repo", l.Repo); code != 0 || !strings.Contains(out, "drift check") {
		t.Fatalf("nothing is due yet, want a drift check in sync: exit %d\n%s", code, out)
	}
	if n, st := l.Orders(), git("rev-list", "--count", "status"); n != orders || st != statuses {
		t.Fatalf("nothing due: %d orders, status commits %s → %s", n-orders, statuses, st)
	}

	if _, err := l.MakeRenewalsDue("blog"); err != nil {
		t.Fatal(err)
	}
	code, out := runner("reconcile", "--repo", l.Repo)
	if code != 0 {
		t.Fatalf("renewal: exit %d\n%s", code, out)
	}
	if n := l.Orders(); n != orders+1 {
		t.Errorf("the renewal placed %d orders, want 1", n-orders)
	}
	if subj := git("log", "-1", "--format=%s", "status"); !strings.HasPrefix(subj, "renew ") || !strings.HasSuffix(subj, ": ok, 1 renewed") {
		t.Errorf("status commit %q, want renew …: ok, 1 renewed\n%s", subj, out)
	}
	var st struct {
		Kind  string `json:"kind"`
		Steps []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(git("show", "status:status.json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Kind != "renew" || len(st.Steps) != 1 || st.Steps[0].ID != "acme.certificate/blog" || st.Steps[0].Status != "ok" {
		t.Errorf("status.json: kind %q, steps %+v; want renew, acme.certificate/blog ok", st.Kind, st.Steps)
	}
	if bytes.Equal(file("blog/cert.pem"), blogCert) || bytes.Equal(file("blog/privkey.pem"), blogKey) {
		t.Error("live/blog/cert.pem or privkey.pem did not change")
	}
	if !bytes.Equal(file("nagios-internal/cert.pem"), other) {
		t.Error("a certificate that was not due changed")
	}

	// The new certificate has the CA's ordinary window: nothing is due.
	statuses = git("rev-list", "--count", "status")
	code, out = runner("reconcile", "--repo", l.Repo)
	if n := l.Orders(); code != 0 || n != orders+1 {
		t.Errorf("second pass: exit %d, %d orders in all, want 0 and 1\n%s", code, n-orders, out)
	}
	if got := git("rev-list", "--count", "status"); got != statuses {
		t.Errorf("second pass recorded a status (%s → %s commits)", statuses, got)
	}

	// A restart: the new CA (Pebble keeps nothing) did not issue blog; as
	// `runner lab --renew-due blog` does, re-issue it from the new CA by a
	// deploy, then make it due.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = lab.Start(context.Background(), lab.Options{Dir: l.Dir, Runner: exe, Backends: compiled, Out: &progress}); err != nil {
		t.Fatalf("lab restart: %v\n%s", err, progress.String())
	}
	if _, err := l.MakeRenewalsDue("blog"); err == nil || !strings.Contains(err.Error(), "did not issue it") {
		t.Fatalf("before the re-issue: %v, want the CA not to know blog", err)
	}
	if gone, err := l.ReissueForeign("blog"); err != nil || len(gone) != 1 || gone[0] != "blog" {
		t.Fatalf("ReissueForeign: %v, %v; want blog", gone, err)
	}
	if code, out := runner("apply", "--repo", l.Repo); code != 0 || !strings.Contains(out, "ok, 1 changed") {
		t.Fatalf("deploy after the restart: exit %d, want 1 changed (blog re-issued)\n%s", code, out)
	}
	if _, err := l.MakeRenewalsDue("blog"); err != nil {
		t.Fatalf("after the restart and the re-issue: %v", err)
	}
	if code, out := runner("reconcile", "--repo", l.Repo); code != 0 || !strings.HasPrefix(git("log", "-1", "--format=%s", "status"), "renew ") {
		t.Errorf("renewal after the restart: exit %d, status %q\n%s", code, git("log", "-1", "--format=%s", "status"), out)
	}
}

// TestLabSitesResolveFlat1Guests: with dnsmasq installed, the lab runs one
// real dnsmasq per site of examples/homelab, and a deploy of the seeded repo
// puts the flat1 guests on the flat1 cluster's simulator (the Hetzner
// guests on hetzner's) and makes their names resolvable at every site's
// dnsmasq, forward and reverse (queried with the Go resolver, dialling each
// site's port); a pushed guest on flat1 is made on flat1's simulator and
// resolves at every site too; Close stops the dnsmasq processes.
func TestLabSitesResolveFlat1Guests(t *testing.T) {
	prog, err := lab.FindDnsmasq()
	if err != nil {
		testenv.Missing(t, "dnsmasq not installed: apt-get install -y dnsmasq-base")
	}
	l := startLab(t, prog)
	closed := false
	defer func() {
		if !closed {
			_ = l.Close()
		}
	}()
	var names []string
	for _, s := range l.Sites {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "flat1,flat2,hetzner,ovh" {
		t.Fatalf("the lab runs the dnsmasq of sites %v, want flat1, flat2, hetzner, ovh", names)
	}
	pve, flat1 := l.Proxmox("hetzner"), l.Proxmox("flat1")
	pve.ResetCounters()
	flat1.ResetCounters()
	var out bytes.Buffer
	if code := run([]string{"--config", l.Config, "apply", "--repo", l.Repo}, strings.NewReader(""), &out, &out, nil); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out.String())
	}

	// The guests are on their site's cluster: VMIDs 101 and 102 are two
	// guests on each simulator.
	for _, c := range []struct {
		sim        *pvesim.Server
		vmid       int
		key, value string
	}{
		{flat1, 101, "hostname", "files"},
		{flat1, 102, "hostname", "jellyfin"},
		{pve, 101, "hostname", "nextcloud"},
		{pve, 104, "name", "dokku"},
	} {
		if conf, running, ok := c.sim.GuestConfig(c.vmid); !ok || !running || conf[c.key] != c.value {
			t.Errorf("guest %d: exists %v, running %v, %s %q; want %s, running", c.vmid, ok, running, c.key, conf[c.key], c.value)
		}
	}
	if conf, _, _ := flat1.GuestConfig(102); !strings.Contains(conf["net0"], "hwaddr=02:D8:4A:00:79:A6") {
		t.Errorf("jellyfin's net0 %q lacks the MAC of its reservation", conf["net0"])
	}
	if _, _, ok := flat1.GuestConfig(104); ok {
		t.Error("a Hetzner guest (104) is on flat1's simulator")
	}
	if w := flat1.Counters().Writes; w == 0 {
		t.Error("the deploy wrote nothing to flat1's simulator")
	}

	for _, s := range l.Sites {
		waitResolves(t, s, "jellyfin.flat1.int.mydomain", "192.168.1.22")
		waitResolves(t, s, "nextcloud.hetzner.int.mydomain", "10.42.0.101")
	}

	// A push adds a guest on flat1 (the hooks are left out: this test
	// binary is no runner for them): it is made on flat1's simulator, and
	// every site resolves it.
	work := filepath.Join(t.TempDir(), "infra")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@localhost"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("clone", "-q", l.Repo, work)
	table := filepath.Join(work, "homelab.libsonnet")
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	const jellyfin = "{ name: 'jellyfin',"
	backup := "{ name: 'backup', site: 'flat1', type: 'lxc', vmid: 103, cores: 1, memory: 512, disk: '8GiB', ip: '192.168.1.23', dhcp: true, public: [] },\n    "
	if !bytes.Contains(b, []byte(jellyfin)) {
		t.Fatalf("homelab.libsonnet has no %q", jellyfin)
	}
	if err := os.WriteFile(table, bytes.Replace(b, []byte(jellyfin), []byte(backup+jellyfin), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	git("-C", work, "commit", "-qam", "backup on flat1")
	git("-C", work, "push", "-q", "--receive-pack=git -c core.hooksPath=/dev/null receive-pack", "origin", "main")
	out.Reset()
	if code := run([]string{"--config", l.Config, "apply", "--repo", l.Repo}, strings.NewReader(""), &out, &out, nil); code != 0 {
		t.Fatalf("deploy of the push: exit %d\n%s", code, out.String())
	}
	if conf, _, ok := flat1.GuestConfig(103); !ok || conf["hostname"] != "backup" {
		t.Errorf("flat1's guest 103: exists %v, hostname %q; want backup", ok, conf["hostname"])
	}
	if conf, _, _ := pve.GuestConfig(103); conf["hostname"] != "twitterbot" {
		t.Errorf("hetzner's guest 103 is %q, want twitterbot still", conf["hostname"])
	}
	for _, s := range l.Sites {
		waitResolves(t, s, "backup.flat1.int.mydomain", "192.168.1.23")
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	closed = true
	if s := l.Sites[0]; resolve(s, "jellyfin.flat1.int.mydomain") == nil {
		t.Errorf("the dnsmasq of %s still answers after Close", s.Name)
	}
}

// waitResolves waits up to 5 s (dnsmasq re-reads its files after SIGHUP,
// asynchronously) until the site's dnsmasq answers name with ip and ip
// with name.
func waitResolves(t *testing.T, s *lab.Site, name, ip string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := resolver(s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := r.LookupHost(ctx, name+".")
		ptrs, perr := r.LookupAddr(ctx, ip)
		cancel()
		if err == nil && perr == nil && len(addrs) == 1 && addrs[0] == ip && len(ptrs) == 1 && ptrs[0] == name+"." {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("site %s (%s): %s = %v (%v), %s = %v (%v); want %s and %s", s.Name, s.Addr(), name, addrs, err, ip, ptrs, perr, ip, name+".")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// resolve looks name up at the site's dnsmasq once (nil: it answered).
func resolve(s *lab.Site, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := resolver(s).LookupHost(ctx, name+".")
	return err
}

// resolver is the Go DNS resolver asking only the site's dnsmasq.
func resolver(s *lab.Site) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
}

// startLab starts a lab in a new directory with every backend of the
// runner, this test binary as the hooks' runner, and the sites' dnsmasq
// when dnsmasq names the program ("" for none). The caller closes it.
func startLab(tb testing.TB, dnsmasq string) *lab.Lab {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Fatal("the lab needs git")
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	var progress bytes.Buffer
	l, err := lab.Start(context.Background(), lab.Options{Dir: tb.TempDir(), Runner: exe, Backends: compiledBackends(), Out: &progress, Dnsmasq: dnsmasq})
	if err != nil {
		tb.Fatalf("lab: %v\n%s", err, progress.String())
	}
	return l
}
