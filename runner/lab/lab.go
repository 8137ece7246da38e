// Package lab runs the simulated homelab that `runner lab` gives a new user:
// the Proxmox VE simulators of its two clusters (the Hetzner host and the
// Proliant of flat 1), Route 53 (with its authoritative DNS) and FreeIPA
// simulators on loopback, when dnsmasq is installed a real dnsmasq per site
// (hetzner, flat1, flat2, ovh), a local mailbox the runner mails its events
// to, a runner configuration pointing at them, and a bare infra repo seeded
// from examples/homelab with the git hooks installed.
// Simulator state is saved in the lab directory, so a restart keeps it.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/letsencrypt/pebble/v2/db"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"

	"github.com/gitops-runner/gitops-runner/examples"
	ipasim "github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	r53sim "github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// Options configures a lab.
type Options struct {
	// Dir holds everything: the repo, the config, secrets, simulator state.
	Dir string
	// Runner is the runner binary the hooks run (absolute path).
	Runner string
	// Backends names the backends compiled into the runner; the config
	// gets a section for each of these only.
	Backends map[string]bool
	// Out receives progress lines.
	Out io.Writer
	// Dnsmasq is the installed dnsmasq program (FindDnsmasq), or "": the
	// lab then runs no dnsmasq sites and its repo leaves them out.
	Dnsmasq string
}

// Lab is a running simulated homelab.
type Lab struct {
	Dir    string
	Config string // the runner configuration file
	Repo   string // the bare infra repository
	// Endpoints of the simulators, for the user. ProxmoxURL is cluster
	// hetzner (node pve), ProxmoxFlat1URL cluster flat1 (node proliant).
	ProxmoxURL, ProxmoxFlat1URL, Route53URL, FreeIPAURL, DNSAddr, ACMEURL string
	// FreeIPAReplicaURL is the second FreeIPA server (the same directory).
	FreeIPAReplicaURL string
	// Mailbox is the mbox file the lab's SMTP server (SMTPAddr) appends
	// the runner's mail to (ReadMailbox reads it).
	Mailbox, SMTPAddr string
	// MetricsAddr is a free loopback address kept for the lab's `runner
	// serve --metrics-listen` (host:port).
	MetricsAddr string
	// Env is what the runner's processes need in their environment here.
	Env []string
	// Sites are the homelab's sites whose dnsmasq the lab runs, by name;
	// none without Options.Dnsmasq.
	Sites []*Site

	opts    Options
	held    *os.File // dir/lab.lock, flocked while this lab runs
	ports   *ports
	pve     *pvesim.Server // cluster hetzner
	flat1   *pvesim.Server // cluster flat1
	r53     *r53sim.Server
	ipa     *ipasim.Server
	servers []*http.Server
	mail    *mailbox
	pebble  *db.MemoryStore // the ACME CA's store
	orders  atomic.Int64    // newOrder requests the CA received
	stop    chan struct{}
	wg      sync.WaitGroup
}

const (
	pveTokenID = "runner@pve!gitops"
	zone       = "mydomain.com"
)

// Start starts the simulators (restoring saved state), writes the runner
// configuration and, the first time, creates and seeds the infra repo.
func Start(ctx context.Context, o Options) (*Lab, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, errors.New("the lab needs git for its infra repo and hooks: install it (apt-get install git) and run again")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "sim"), filepath.Join(dir, "secrets")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("lab directory: %w", err)
		}
	}
	if o.Dnsmasq == "" && o.Backends["dnsmasq"] {
		// The repo and inventory of a lab that ran the sites hold their
		// records: without dnsmasq the deploy could neither keep nor
		// remove them.
		if _, err := os.Stat(filepath.Join(dir, "dnsmasq")); err == nil {
			return nil, fmt.Errorf("this lab ran the sites' dnsmasq before (%s), and its repo and inventory hold their records, but dnsmasq is not installed now: install it (Debian: apt-get install dnsmasq-base), or start a new lab with another --dir", filepath.Join(dir, "dnsmasq"))
		}
	}
	held, err := holdDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Lab{Dir: dir, Config: filepath.Join(dir, "runner.jsonnet"), Repo: filepath.Join(dir, "infra.git"), opts: o, held: held, stop: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			_ = l.Close()
		}
	}()
	t, err := loadOrMakeTLS(dir)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{t.cert}, MinVersion: tls.VersionTLS12}
	l.ports = loadPorts(dir)
	pveToken, err := l.secret("pve-token")
	if err != nil {
		return nil, err
	}
	ipaPassword, err := l.secret("ipa-password")
	if err != nil {
		return nil, err
	}
	if err := l.writeSecretValue("aws-key-id", r53sim.DefaultAccessKeyID); err != nil {
		return nil, err
	}
	if err := l.writeSecretValue("aws-secret", r53sim.DefaultSecretAccessKey); err != nil {
		return nil, err
	}

	// Proxmox VE, two clusters (one token for both): the Hetzner host
	// (node pve, 48 GiB) and the Proliant of flat 1 (node proliant, 4 GiB).
	pveOpts := pvesim.Options{Tokens: map[string]string{pveTokenID: pveToken}, TaskDuration: 300 * time.Millisecond}
	if l.pve, err = pvesim.NewHomelab(pveOpts); err != nil {
		return nil, err
	}
	if l.ProxmoxURL, err = l.servePVE("proxmox", l.pve, tlsConf); err != nil {
		return nil, err
	}
	if l.flat1, err = newFlat1(pveOpts); err != nil {
		return nil, err
	}
	if l.ProxmoxFlat1URL, err = l.servePVE("proxmox-flat1", l.flat1, tlsConf); err != nil {
		return nil, err
	}

	// Route 53 with the authoritative DNS for mydomain.com.
	l.r53 = r53sim.New(r53sim.Options{ChangeDelay: 200 * time.Millisecond})
	restored, err := l.restored("route53", l.r53.Restore)
	if err != nil {
		return nil, err
	}
	if !restored {
		if _, err := l.r53.CreateZone(zone); err != nil {
			return nil, err
		}
	}
	if l.Route53URL, err = l.ports.bind("route53", l.r53.ListenHTTP); err != nil {
		return nil, err
	}
	if l.DNSAddr, err = l.ports.bind("dns", l.r53.ListenDNS); err != nil {
		return nil, err
	}

	// FreeIPA: the two-server cluster of the homelab, HTTPS.
	il, err := l.ports.listen("freeipa")
	if err != nil {
		return nil, err
	}
	iopts := ipasim.HomelabOptions(ipaPassword)
	iopts.Host = il.Addr().String() // clients send Referer https://<host>/ipa
	l.ipa, err = ipasim.New(iopts)
	if err != nil {
		return nil, err
	}
	restored, err = l.restored("freeipa", l.ipa.Restore)
	if err != nil {
		return nil, err
	}
	if !restored {
		if err := l.ipa.SeedHomelab(); err != nil {
			return nil, err
		}
	}
	isrv := &http.Server{Handler: l.ipa, ReadHeaderTimeout: 30 * time.Second, TLSConfig: tlsConf}
	l.serve(isrv, tls.NewListener(il, tlsConf))
	l.FreeIPAURL = "https://" + il.Addr().String()
	// Its replica (ipa.hetzner): a second server of the same directory, as
	// if replication were instantaneous; the runner is configured with
	// both (urls) and goes on to it when the first fails.
	rl, err := l.ports.listen("freeipa-replica")
	if err != nil {
		return nil, err
	}
	rsrv := &http.Server{Handler: l.ipa, ReadHeaderTimeout: 30 * time.Second, TLSConfig: tlsConf}
	l.serve(rsrv, tls.NewListener(rl, tlsConf))
	l.FreeIPAReplicaURL = "https://" + rl.Addr().String()

	// An ACME CA: Pebble in-process, validating DNS-01 against the Route 53
	// simulator's DNS. Pebble keeps no state: each lab start is a new CA
	// (certificates already issued stay valid until their renewal window).
	if err := l.startPebble(tlsConf); err != nil {
		return nil, err
	}

	// The mailbox, and the metrics address runner serve will listen on.
	ml, err := l.ports.listen("smtp")
	if err != nil {
		return nil, err
	}
	l.SMTPAddr, l.Mailbox = ml.Addr().String(), filepath.Join(dir, "mail", "mbox")
	if l.mail, err = startMailbox(ml, l.Mailbox, o.Out); err != nil {
		_ = ml.Close()
		return nil, err
	}
	// The sites' dnsmasq (for a runner with the dnsmasq backend).
	if o.Dnsmasq != "" && o.Backends["dnsmasq"] {
		if err := l.startDnsmasq(o.Dnsmasq); err != nil {
			return nil, err
		}
	}
	metl, err := l.ports.listen("metrics")
	if err != nil {
		return nil, err
	}
	l.MetricsAddr = metl.Addr().String()
	_ = metl.Close()

	if err := l.ports.save(); err != nil {
		return nil, err
	}
	if err := l.writeConfig(t.caFile); err != nil {
		return nil, err
	}
	if err := l.seedRepo(ctx); err != nil {
		return nil, err
	}
	l.wg.Add(1)
	go l.saveLoop()
	ok = true
	return l, nil
}

// servePVE restores a Proxmox simulator's state saved as name and serves
// it over HTTPS (HTTP/1.1) on name's port; it returns its URL.
func (l *Lab) servePVE(name string, s *pvesim.Server, tlsConf *tls.Config) (string, error) {
	if err := l.restore(name, s.Restore); err != nil {
		return "", err
	}
	ln, err := l.ports.listen(name)
	if err != nil {
		return "", err
	}
	srv := s.HTTPServer(ln.Addr().String())
	srv.TLSConfig = tlsConf
	l.serve(srv, tls.NewListener(ln, tlsConf))
	return "https://" + ln.Addr().String(), nil
}

// Proxmox is the simulator of a Proxmox cluster of the lab: hetzner or
// flat1 (nil for another name).
func (l *Lab) Proxmox(cluster string) *pvesim.Server {
	switch cluster {
	case "hetzner":
		return l.pve
	case "flat1":
		return l.flat1
	}
	return nil
}

func (l *Lab) serve(srv *http.Server, ln net.Listener) {
	l.servers = append(l.servers, srv)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(l.opts.Out, "lab: server stopped: %v\n", err)
		}
	}()
}

// secret returns dir/secrets/name, creating a random one the first time.
func (l *Lab) secret(name string) (string, error) {
	p := filepath.Join(l.Dir, "secrets", name)
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	v := hex.EncodeToString(raw[:])
	return v, l.writeSecretValue(name, v)
}

func (l *Lab) writeSecretValue(name, v string) error {
	return os.WriteFile(filepath.Join(l.Dir, "secrets", name), []byte(v+"\n"), 0o600)
}

func (l *Lab) statePath(name string) string { return filepath.Join(l.Dir, "sim", name+".json") }

func (l *Lab) restored(name string, restore func([]byte) error) (bool, error) {
	b, err := os.ReadFile(l.statePath(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := restore(b); err != nil {
		return false, fmt.Errorf("restore the %s simulator from %s: %w (delete the file to start that part afresh)", name, l.statePath(name), err)
	}
	return true, nil
}

func (l *Lab) restore(name string, restore func([]byte) error) error {
	_, err := l.restored(name, restore)
	return err
}

// APIRequests counts the HTTP API requests each simulator received since
// the lab started, by backend name (proxmox: both clusters, route53,
// freeipa), as the simulators count them (FreeIPA's counts its logins apart
// from the JSON-RPC requests).
func (l *Lab) APIRequests() map[string]int {
	ipa := l.ipa.Counters()
	return map[string]int{"proxmox": l.pve.Counters().Total + l.flat1.Counters().Total, "route53": l.r53.Counters().Total, "freeipa": ipa.Total + ipa.Logins}
}

// Save writes every simulator's state into the lab directory.
func (l *Lab) Save() error {
	var errs []error
	save := func(name string, snap func() ([]byte, error)) {
		b, err := snap()
		if err == nil {
			err = atomicfile.Write(l.statePath(name), b, 0o600)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("save %s state: %w", name, err))
		}
	}
	if l.pve != nil {
		save("proxmox", l.pve.Snapshot)
	}
	if l.flat1 != nil {
		save("proxmox-flat1", l.flat1.Snapshot)
	}
	if l.r53 != nil {
		save("route53", l.r53.Snapshot)
	}
	if l.ipa != nil {
		save("freeipa", l.ipa.Snapshot)
	}
	return errors.Join(errs...)
}

func (l *Lab) saveLoop() {
	defer l.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Save(); err != nil {
				fmt.Fprintf(l.opts.Out, "lab: %v\n", err)
			}
		}
	}
}

// Close saves the state and stops the simulators and the sites' dnsmasq.
func (l *Lab) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	err := l.Save()
	for _, s := range l.servers {
		_ = s.Close()
	}
	if l.r53 != nil {
		_ = l.r53.Close()
	}
	if l.pve != nil {
		_ = l.pve.Close()
	}
	if l.flat1 != nil {
		_ = l.flat1.Close()
	}
	for _, s := range l.Sites {
		s.stop()
	}
	if l.ipa != nil {
		_ = l.ipa.Close()
	}
	if l.mail != nil {
		l.mail.close()
	}
	l.wg.Wait()
	if l.held != nil {
		_ = l.held.Close() // releases the flock
	}
	return err
}

// holdDir takes an exclusive flock(2) on dir/lab.lock for as long as the
// lab runs: a second lab on the same directory would start simulators on
// new ports and rewrite the configuration under the first one.
func holdDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lab.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the lab's own directory
	if err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another runner lab (pid %s) is running on %s: stop it (Ctrl-C) or use another --dir", strings.TrimSpace(string(pid)), dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return f, nil
}

// writeConfig writes the runner configuration for the simulators.
func (l *Lab) writeConfig(caFile string) error {
	sec := func(name string) map[string]string {
		return map[string]string{"file": filepath.Join(l.Dir, "secrets", name)}
	}
	backends := map[string]any{}
	if l.opts.Backends["proxmox"] {
		cluster := func(url string) map[string]any {
			return map[string]any{"url": url, "tokenId": pveTokenID, "tokenSecret": sec("pve-token"), "caFile": caFile}
		}
		backends["proxmox"] = map[string]any{"clusters": map[string]any{"hetzner": cluster(l.ProxmoxURL), "flat1": cluster(l.ProxmoxFlat1URL)}}
	}
	if l.opts.Backends["dnsmasq"] && len(l.Sites) > 0 {
		backends["dnsmasq"] = l.dnsmasqConfig()
	}
	if l.opts.Backends["route53"] {
		backends["route53"] = map[string]any{"endpoint": l.Route53URL, "region": "us-east-1", "accessKeyId": sec("aws-key-id"),
			"secretAccessKey": sec("aws-secret"), "zones": []string{zone}, "pollInterval": "200ms"}
	}
	if l.opts.Backends["acme"] && l.opts.Backends["route53"] {
		backends["acme"] = map[string]any{"directory": l.ACMEURL + "/dir", "email": "ops@" + zone, "resolvers": []string{l.DNSAddr},
			"zones": []string{zone}, "certRoot": filepath.Join(l.Dir, "certs"), "stateDir": filepath.Join(l.Dir, "state", "acme"),
			"caFile": caFile, "propagationTimeout": "30s", "pollInterval": "200ms"}
	}
	if l.opts.Backends["freeipa"] {
		backends["freeipa"] = map[string]any{"urls": []string{l.FreeIPAURL, l.FreeIPAReplicaURL}, "user": "admin", "password": sec("ipa-password"), "caFile": caFile,
			"secretDir": filepath.Join(l.Dir, "state", "ipa-otp")}
	}
	cfg := map[string]any{
		"repos":    []map[string]string{{"path": l.Repo}},
		"stateDir": filepath.Join(l.Dir, "state"),
		"policy":   map[string]any{"zones": []string{zone}},
		"backends": backends,
		// Every event, to the lab's mailbox.
		"notify": map[string]any{"mail": map[string]any{"to": []string{MailTo}, "from": "gitops-runner@lab." + zone, "smtp": l.SMTPAddr, "stuckAfter": "5m"}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	head := "// Written by `runner lab` on each start: the runner configuration for the\n// simulated homelab. Edits are overwritten; copy it to experiment.\n"
	return os.WriteFile(l.Config, append([]byte(head), append(b, '\n')...), 0o644)
}

// seedRepo creates the bare infra repo the first time: hooks installed,
// examples/homelab committed on main, with lab.libsonnet (where this lab's
// dnsmasq sites answer) added to its data table. Of an existing repo, only
// lab.libsonnet is kept up to date (syncLabFile).
func (l *Lab) seedRepo(ctx context.Context) error {
	if _, err := os.Stat(l.Repo); err == nil {
		if err := l.syncLabFile(ctx); err != nil {
			return err
		}
		return l.installHooks()
	}
	if err := git(ctx, l.Dir, "init", "-q", "--bare", "-b", "main", l.Repo); err != nil {
		return err
	}
	if err := git(ctx, l.Repo, "config", "receive.advertisePushOptions", "true"); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "runner-lab-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work) //nolint:errcheck // a temp dir
	err = fs.WalkDir(examples.Homelab, "homelab", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.Homelab, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(work, strings.TrimPrefix(p, "homelab/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if p == "homelab/main.jsonnet" {
			if !bytes.Contains(b, []byte(mainImport)) {
				return fmt.Errorf("examples/homelab/main.jsonnet lacks the line %q the lab adds lab.libsonnet to", mainImport)
			}
			b = bytes.Replace(b, []byte(mainImport), []byte(mainImportLab), 1)
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "lab.libsonnet"), []byte(l.labLibsonnet()), 0o644); err != nil { //nolint:gosec // a repo file
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=runner lab", "-c", "user.email=lab@localhost", "commit", "-q", "-m", "The reference homelab (examples/homelab)"},
		{"push", "-q", l.Repo, "main"},
	} {
		if err := git(ctx, work, args...); err != nil {
			return err
		}
	}
	return l.installHooks()
}

// installHooks writes the repo's pre-receive and post-receive hooks, which
// run this runner with the lab's configuration.
func (l *Lab) installHooks() error {
	for name, cmd := range map[string]string{"pre-receive": "check", "post-receive": "hook post-receive"} {
		// `go run ./runner lab` runs a temporary binary that is gone once
		// the lab stops: say so instead of failing with "not found".
		script := fmt.Sprintf(`#!/bin/sh
# Installed by `+"`runner lab`"+`.
if [ ! -x '%[3]s' ]; then
	echo "runner: the lab that owns this repo is not running (start it again: go run ./runner lab --dir %[4]s)"
	exit 1
fi
%[1]s RUNNER_CONFIG='%[2]s' exec '%[3]s' %[5]s
`, strings.Join(l.Env, " "), l.Config, l.opts.Runner, l.Dir, cmd)
		if err := os.WriteFile(filepath.Join(l.Repo, "hooks", name), []byte(script), 0o755); err != nil { //nolint:gosec // hooks must be executable
			return err
		}
	}
	return nil
}

func git(ctx context.Context, dir string, args ...string) error {
	_, err := gitRun(ctx, dir, nil, "", args...)
	return err
}

// gitOut runs git in dir with env added and returns its standard output.
func gitOut(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return gitRun(ctx, dir, env, "", args...)
}

// gitIn runs git in dir with stdin as its standard input.
func gitIn(ctx context.Context, dir, stdin string, args ...string) (string, error) {
	return gitRun(ctx, dir, nil, stdin, args...)
}

func gitRun(ctx context.Context, dir string, extraEnv []string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "GIT_CONFIG_NOSYSTEM=1"), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}
