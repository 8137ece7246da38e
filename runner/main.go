// Command runner deploys a Jsonnet-defined infra repo: it evaluates a commit,
// checks policies, diffs the desired state against what is live, applies the
// difference and records a status commit. This file is flag parsing and
// wiring only; the work happens in runner/pipeline and the backends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agnivade/levenshtein"
	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// Exit codes (documented in README and `runner help`).
const (
	exitOK     = 0 // success (for plan: nothing or something to change)
	exitFailed = 1 // the run failed: bad input, an observe error or a failed change
	exitUsage  = 2 // bad command line or configuration
	exitDenied = 3 // a policy denied the plan; nothing was applied
	exitRecord = 4 // the run could not be recorded (status branch or note)
	exitDrift  = 5 // drift, reconcile: the live state drifted from the deployed commit (and the drift was not applied)
)

// usageError is a command-line mistake: printed with the usage hint, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

func commands() []command {
	return []command{
		{"lab", "[--dir DIR] [--once] [--renew-due NAMES] [--drift-interval 1m]", "run the simulated homelab (two Proxmox clusters, Route 53 + DNS, FreeIPA, an ACME CA, a dnsmasq per site when installed) and deploy examples/homelab to it: start here", cmdLab},
		{"eval", "[--repo PATH.git] [--rev REV] [-o json|table]", "print the evaluated, decoded resources of a commit", cmdEval},
		{"plan", "[--repo PATH.git] [--rev REV] [--refresh auto|full] [-o text|json]", "evaluate, observe and diff; print the plan; apply nothing", cmdPlan},
		{"apply", "[--repo PATH.git] [--rev REV] [-o text|json]", "run the whole pipeline for a commit and record a status commit", cmdApply},
		{"replay", "[--repo PATH.git] [--force] [--dry-run] [-o text|json] COMMIT", "re-apply an older commit of the deployed branch: the rollback", cmdReplay},
		{"status", "[--repo PATH.git] [-n 10] [-o text|json]", "show recent runs from the status history", cmdStatus},
		{"check", "[--repo PATH.git] < old-new-ref-lines", "check pushed commits before git accepts them (the pre-receive hook)", cmdCheck},
		{"hook", "post-receive [--repo PATH.git] [--queue-only] [--follow 30m] < old-new-ref-lines", "queue pushed commits of the deployed branch and stream their deployment (the post-receive hook)", cmdHook},
		{"work", "[--repo PATH.git] [--no-wait]", "run queued deployments of a repo until its queue is empty", cmdWork},
		{"serve", "[--work-interval 30s] [--drift-interval 1h] [--metrics-listen ADDR]", "run queued deployments and, periodically, renewals, self-heal and drift checks (runner reconcile) for every configured repo, until stopped (the service)", cmdServe},
		{"drift", "[--repo PATH.git] [--changes-only]", "record a status commit if the live state drifted from the deployed commit; apply nothing (exit 5: drift)", cmdDrift},
		{"reconcile", "[--repo PATH.git] [--changes-only]", "renew what time made due and heal the drift the config's reconcile section allows; record the rest as drift (exit 5: drift left)", cmdReconcile},
		{"import", "[--proxmox] [--route53 ZONE...] [--freeipa] [--certs DIR] [--select PATTERN...] -o DIR|--into WORKTREE", "write an infra repo from what already lives in the backends, every resource adopted: the first push changes nothing", cmdImport},
		{"monitor", "[--repo NAME] [--nagios] [--drift-warning 1] [--drift-critical 0] [--cert-warning 21] [--cert-critical 7] [--queue-warning 15m] [--queue-critical 1h]", "report the last deployment, drift, certificate expiry and the queue from what the runner recorded; --nagios: as a Nagios plugin", cmdMonitor},
		{"policy", "test|eval [--repo PATH.git] [--rev REV]", "run the repo's policy tests, or print the policy input document", cmdPolicy},
		{"doctor", "[--repo PATH.git] [--offline]", "check the installation: config, user, directories, hooks, each backend (credentials, TLS, clock); exit 1 if a check fails", cmdDoctor},
		{"version", "", "print the runner's version", cmdVersion},
	}
}

// env is what every command gets: streams and the global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFile     string
	logFormat      string
	logLevel       string
	backends       []backendFactory // extra backends (tests)
	// allowOtherUser lets a command write to a repository owned by
	// another user (--allow-other-user).
	allowOtherUser bool
	// args is the command line after the program name, for the command
	// a refusal suggests instead.
	args []string
	// apiCallsFile receives this process's backend API call counts when
	// the command ends ("": not counted; see countAPICalls).
	apiCallsFile string
	// loaded is the configuration file's result, once loaded (loadConfig).
	loaded *loadedConfig
}

// loadedConfig is config.Load's result for a file.
type loadedConfig struct {
	file string
	cfg  *config.Config
	err  error
}

// loadConfig loads the configuration file once per process: a hook's
// checks (install) and its session read the same file, and evaluating it
// builds go-jsonnet's standard library each time.
func (e *env) loadConfig() (*config.Config, error) {
	if e.loaded == nil || e.loaded.file != e.configFile {
		c, err := config.Load(e.configFile)
		e.loaded = &loadedConfig{file: e.configFile, cfg: c, err: err}
	}
	return e.loaded.cfg, e.loaded.err
}

func main() {
	// A child started to evaluate a push's code (package sandbox) runs
	// that and exits here.
	sandbox.Serve()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// run is main without the process: it parses global flags, picks the
// command and maps its error to an exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, extra []backendFactory) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, backends: extra, configFile: defaultConfigFile(), args: args}
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	globalFlags(fs, e)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "runner: %v\nRun 'runner help' for usage.\n", err)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		if len(rest) > 1 {
			// Asked for: the usage is the output (stdout), as for runner help.
			return run([]string{rest[1], "-h"}, stdin, stdout, stdout, extra)
		}
		printHelp(stdout)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == rest[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "runner: unknown command %q\n", rest[0])
		if s := suggestCommand(rest[0]); s != "" {
			fmt.Fprintf(stderr, "Did you mean 'runner %s'?\n", s)
		}
		fmt.Fprintln(stderr, "Run 'runner help' for the list of commands.")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, e, rest[1:])
	e.flushAPICalls()
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "runner %s: %s\nRun 'runner %s -h' for usage.\n", cmd.name, ue.msg, cmd.name)
		return exitUsage
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "runner %s: %v\n", cmd.name, ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "runner %s: %v\n", cmd.name, err)
		return exitFailed
	}
}

// systemConfig is the configuration a hook finds without being told.
const systemConfig = "/etc/gitops-runner/runner.jsonnet"

// defaultConfigFile is $RUNNER_CONFIG, else systemConfig if it exists, else
// none (built-in defaults).
func defaultConfigFile() string {
	if c := os.Getenv("RUNNER_CONFIG"); c != "" {
		return c
	}
	if _, err := os.Stat(systemConfig); err == nil {
		return systemConfig
	}
	return ""
}

// globalFlags declares the global flags on fs. They may stand before or
// after the command, so the current values are the defaults.
func globalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.configFile, "config", e.configFile, "runner configuration `file` (Jsonnet or JSON; default $RUNNER_CONFIG, else /etc/gitops-runner/runner.jsonnet if it exists)")
	fs.StringVar(&e.logFormat, "log-format", e.logFormat, "log format: text (the default) or json")
	fs.StringVar(&e.logLevel, "log-level", e.logLevel, "log level: debug, info (default), warn, error")
	fs.BoolVar(&e.allowOtherUser, "allow-other-user", e.allowOtherUser, "let a command that writes to the repository ("+writingCommands()+") run as another user than the repository's owner")
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `runner deploys an infra repo (Jsonnet) to Proxmox VE, Route 53, ACME and FreeIPA.

Usage:
  runner [global flags] COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Global flags (before or after the command):
  --config FILE       runner configuration (Jsonnet or JSON); default $RUNNER_CONFIG,
                      else /etc/gitops-runner/runner.jsonnet if it exists
  --log-format FMT    text or json (logs go to stderr)
  --log-level LEVEL   debug, info, warn or error
  --allow-other-user  let %s
                      write to a repository owned by another user (by default
                      they refuse and name the owner to run them as, e.g.
                      sudo -u gitolite3)

Exit codes:
  0  success
  1  the run failed (bad input, observe error, failed change)
  2  bad command line or configuration
  3  a policy denied the plan; nothing was applied
  4  the run could not be recorded on the status branch
  5  drift, reconcile: the live state drifted from the deployed commit
     (recorded, not applied)

Run 'runner COMMAND -h' for a command's flags.
`, writingCommands())
}

// suggestCommand is the command a mistyped name most likely meant: the one
// at the smallest edit distance, if that is at most 2 (a typo, a swapped
// pair of letters); "" when none is close.
func suggestCommand(name string) string {
	best, bestDist := "", 3
	for _, c := range commands() {
		if d := levenshtein.ComputeDistance(name, c.name); d < bestDist {
			best, bestDist = c.name, d
		}
	}
	return best
}
