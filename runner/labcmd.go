package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/lab"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// cmdLab runs the simulated homelab: simulators, the sites' dnsmasq (when
// installed), config, a seeded infra repo with hooks, and the first
// deployment; then it serves until interrupted.
func cmdLab(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "lab")
	dir := f.fs.String("dir", "runner-lab", "lab `directory`: repo, config, secrets and simulator state (kept across restarts)")
	once := f.fs.Bool("once", false, "deploy (or re-check) and exit instead of serving until Ctrl-C")
	renewDue := f.fs.String("renew-due", "", "after the deploy, the lab's CA asks for these certificates to be renewed now (comma-separated `names` from certs/live, or all): the lab's runner serve renews them without a push")
	every := f.fs.Duration("drift-interval", time.Minute, "how often the lab's runner serve reconciles: renews what is due, records drift")
	if err := f.parseNoArgs(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return exitError{exitFailed, err}
	}
	compiled := compiledBackends()
	fmt.Fprintln(e.stdout, "Starting the simulated homelab…")
	dnsmasqProg, _ := findDnsmasq() // none: the lab runs without the sites' dnsmasq
	l, err := lab.Start(ctx, lab.Options{Dir: *dir, Runner: exe, Backends: compiled, Out: e.stderr, Dnsmasq: dnsmasqProg})
	if err != nil {
		return exitError{exitFailed, fmt.Errorf("lab: %w", err)}
	}
	defer func() {
		if err := l.Close(); err != nil {
			fmt.Fprintf(e.stderr, "lab: %v\n", err)
		}
	}()
	fmt.Fprintf(e.stdout, `  Proxmox VE   %s   (cluster hetzner: node pve, 48 GiB; token in %s)
               %s   (cluster flat1: node proliant, 4 GiB; the same token)
  Route 53     %s   (zone mydomain.com)
  DNS          %s   (dig @127.0.0.1 -p %s blog.mydomain.com)
  FreeIPA      %s and its replica %s   (realm INT.MYDOMAIN, user admin)
  ACME CA      %s/dir   (Pebble; certificates go to %s)
  mailbox      %s   (the runner mails %s over SMTP to %s)
  config       %s
  infra repo   %s
`, l.ProxmoxURL, filepath.Join(l.Dir, "secrets", "pve-token"), l.ProxmoxFlat1URL, l.Route53URL, l.DNSAddr, portOf(l.DNSAddr), l.FreeIPAURL, l.FreeIPAReplicaURL, l.ACMEURL, filepath.Join(l.Dir, "certs"),
		l.Mailbox, lab.MailTo, l.SMTPAddr, l.Config, l.Repo)
	printSites(e.stdout, l)
	for _, b := range []string{"proxmox", "route53", "freeipa", "acme"} {
		if !compiled[b] {
			fmt.Fprintf(e.stdout, "  (the %s backend is not in this build yet: its resources are not part of the lab)\n", b)
		}
	}

	e.configFile = l.Config
	fl := newFlags(e, "lab")
	fl.repo = l.Repo
	s, err := e.session(fl)
	if err != nil {
		return err
	}
	var dueNames []string
	if *renewDue != "" && *renewDue != "all" {
		dueNames = strings.Split(*renewDue, ",")
	}
	if *renewDue != "" {
		// After a restart the certificates come from the CA of the run
		// before (Pebble keeps nothing): the deploy re-issues them first.
		gone, err := l.ReissueForeign(dueNames...)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return exitError{exitFailed, fmt.Errorf("lab: --renew-due: %w", err)}
		}
		if len(gone) > 0 {
			fmt.Fprintf(e.stdout, "\n%s: issued by the CA of the lab's run before this one (its CA keeps nothing across a restart); the deploy orders them anew from this run's CA, so that it can ask for their renewal.\n", strings.Join(gone, ", "))
		}
	}
	fmt.Fprintln(e.stdout, "\nDeploying examples/homelab (the same as a push would)…")
	var runErr error
	if deployed, ok := labDeployed(ctx, s); ok {
		// A restart of a lab that changed nothing: a deploy would add a
		// status commit "ok, 0 changed" each time, history that tells nothing.
		fmt.Fprintf(e.stdout, "%s is deployed and the live state matches it: nothing to deploy, no status commit added.\n", deployed)
	} else {
		runErr = e.applyLocked(ctx, s, pipeline.Request{Kind: pipeline.KindDeploy, Push: pipeline.Push{User: "lab"}}, "text")
	}
	wd, _ := os.Getwd()
	runner := runnerCommand(exe, wd, exec.LookPath)
	fmt.Fprintf(e.stdout, `
Next:
  git clone %s infra && cd infra
  $EDITOR homelab.libsonnet        # e.g. give a guest more memory, add a public name
  git commit -am 'my change' && git push
  git fetch origin status && git log --oneline origin/status && git show origin/status:STATUS.md
  %s --config %s status    # the deployment history
  %s --config %s plan      # what deploying main would change now
  %s --config %s monitor --nagios; echo $?   # the Nagios check: 0 OK, 1 WARNING, 2 CRITICAL
  mail -f %s                    # what the runner mailed (a failed deployment, drift, …)
`, shellQuote(l.Repo), runner, shellQuote(l.Config), runner, shellQuote(l.Config), runner, shellQuote(l.Config), shellQuote(l.Mailbox))
	if *renewDue != "" {
		due, err := l.MakeRenewalsDue(dueNames...)
		if err != nil {
			return exitError{exitFailed, fmt.Errorf("lab: --renew-due: %w", err)}
		}
		fmt.Fprintf(e.stdout, "\nThe lab's CA now asks for %s to be renewed (ARI window in the past).\n", strings.Join(due, ", "))
	}
	if *once {
		return runErr
	}
	fmt.Fprintf(e.stdout, "\nThe lab runs until Ctrl-C, with `runner serve` reconciling every %s; its state is saved in %s\n", *every, l.Dir)
	fmt.Fprintf(e.stdout, "  metrics      http://%s/metrics   (runner serve --metrics-listen; Prometheus text)\n", l.MetricsAddr)
	serve := exec.CommandContext(ctx, exe, append(e.childFlags(), "serve", "--drift-interval", every.String(), "--metrics-listen", l.MetricsAddr)...)
	serve.Stdout, serve.Stderr = e.stderr, e.stderr
	serve.Cancel = func() error { return serve.Process.Signal(syscall.SIGTERM) }
	// A lab killed outright (kill -9) takes its serve along: else it would
	// go on reconciling against simulators that are gone.
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	serve.WaitDelay = time.Minute
	if err := serve.Run(); err != nil && ctx.Err() == nil {
		return exitError{exitFailed, fmt.Errorf("lab: runner serve: %w", err)}
	}
	fmt.Fprintln(e.stdout, "\nStopping the lab (state saved).")
	return nil
}

// labDeployed reports whether the tip of the lab's branch is the deployed
// commit and a plan of it changes nothing (the plan records nothing); it
// returns the commit, short. Any error: not known to be deployed.
func labDeployed(ctx context.Context, s *session) (string, bool) {
	inv, err := pipeline.ReadInventory(s.git, s.repo.StatusBranch)
	if err != nil || inv.Commit == "" {
		return "", false
	}
	tip, err := s.git.Branch(s.repo.Branch)
	if err != nil || tip.String() != inv.Commit {
		return "", false
	}
	rep, err := s.runner.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan})
	if err != nil || rep.Result != pipeline.ResultPlanned {
		return "", false
	}
	for _, p := range rep.Plan {
		if p.Action != steps.NoOp || p.RenamedFrom != "" {
			return "", false
		}
	}
	return gitstore.Short(inv.Commit), true
}

// compiledBackends names the backends built into the runner (the lab
// configures these).
func compiledBackends() map[string]bool {
	compiled := map[string]bool{}
	for _, b := range builtinBackends() {
		compiled[b.name] = true
	}
	return compiled
}

// findDnsmasq finds the dnsmasq the lab runs per site (a variable: tests
// take it away).
var findDnsmasq = lab.FindDnsmasq

// printSites prints the sites' dnsmasq of the lab and a dig command, or how
// to get them.
func printSites(w io.Writer, l *lab.Lab) {
	if len(l.Sites) == 0 {
		fmt.Fprintf(w, "  (%s)\n", lab.DnsmasqHint)
		return
	}
	for i, s := range l.Sites {
		label := ""
		if i == 0 {
			label = "dnsmasq"
		}
		fmt.Fprintf(w, "  %-12s %-8s %s   (%s; files in %s)\n", label, s.Name, s.Addr(), s.Domain, s.Dir)
	}
	port := portOf(l.Sites[0].Addr())
	fmt.Fprintf(w, "               every site answers for every site: dig @127.0.0.1 -p %s jellyfin.flat1.int.mydomain; dig @127.0.0.1 -p %s -x 192.168.1.22\n", port, port)
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// runnerCommand is how a person runs this runner from a shell, wherever
// they are: "runner" when that name on $PATH is this binary; when this is
// the temporary binary of `go run` (which the go command builds under its
// work directory, $GOTMPDIR/go-build…, and deletes when the program exits:
// `go help run`, `go help environment`), `go -C DIR run ./runner` with DIR
// the module directory above wd; else the binary's path.
func runnerCommand(exe, wd string, lookPath func(string) (string, error)) string {
	if p, err := lookPath("runner"); err == nil {
		if a, err := filepath.EvalSymlinks(p); err == nil {
			if b, err := filepath.EvalSymlinks(exe); err == nil && a == b {
				return "runner"
			}
		}
	}
	if !strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return shellQuote(exe)
	}
	for dir := wd; dir != ""; {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if strings.HasPrefix(string(b), "module github.com/gitops-runner/gitops-runner\n") {
				return "go -C " + shellQuote(dir) + " run ./runner"
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "go run github.com/gitops-runner/gitops-runner/runner"
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
