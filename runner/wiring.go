package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/acme"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/route53"
)

// backendFactory builds one backend from its config section (nil when the
// config has none: the backend still decodes specs, so eval and check work
// without endpoints). built holds the backends built before it, in order.
type backendFactory struct {
	name  string
	build func(raw json.RawMessage, red *steps.Redactor, built map[string]steps.Backend) (steps.Backend, error)
}

// extraBuiltins holds backends that build tags compile in (e2etest).
var extraBuiltins []backendFactory

// builtinBackends are the backends compiled into the runner. Each is built
// even without a config section: it then decodes specs (eval and check
// work) and refuses to observe or apply with a message naming the section.
func builtinBackends() []backendFactory {
	bs := []backendFactory{
		factory("proxmox", proxmox.NewClusters),
		factory("route53", route53.New),
		factory("freeipa", freeipa.New),
		factory("dnsmasq", dnsmasq.New),
		// ACME needs the Route 53 backend built before it.
		dependentFactory("acme", newACME),
	}
	return append(bs, extraBuiltins...)
}

// newACME builds the ACME backend. It solves DNS-01 through the Route 53
// backend built before it: the same credentials, and one batcher per zone
// for records and challenges alike.
func newACME(raw json.RawMessage, red *steps.Redactor, built map[string]steps.Backend) (*acme.Backend, error) {
	r53, ok := built["route53"].(*route53.Backend)
	if !ok {
		return nil, fmt.Errorf("needs the route53 backend for DNS-01")
	}
	return acme.New(raw, red, r53.DNSProvider())
}

// factory is the backendFactory of a backend built from its config section
// alone, by its package's New.
func factory[B steps.Backend](name string, newB func(raw json.RawMessage, red *steps.Redactor) (B, error)) backendFactory {
	return dependentFactory(name, func(raw json.RawMessage, red *steps.Redactor, _ map[string]steps.Backend) (B, error) {
		return newB(raw, red)
	})
}

// dependentFactory is the backendFactory of a backend that also needs
// backends built before it (by name).
func dependentFactory[B steps.Backend](name string, newB func(raw json.RawMessage, red *steps.Redactor, built map[string]steps.Backend) (B, error)) backendFactory {
	return backendFactory{name: name, build: func(raw json.RawMessage, red *steps.Redactor, built map[string]steps.Backend) (steps.Backend, error) {
		b, err := newB(raw, red, built)
		if err != nil {
			// Not b: a nil *B in a steps.Backend is not a nil interface.
			return nil, err
		}
		return b, nil
	}}
}

// flags declares the flags most commands share.
type flags struct {
	fs      *flag.FlagSet
	repo    string
	rev     string
	output  string
	formats []string
}

// newFlags is the flag set of a command ("plan", or "policy test"): its
// usage text comes from the one command table, commands().
func newFlags(e *env, name string) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(e.stderr)
	globalFlags(f.fs, e)
	c := lookupCommand(name)
	f.fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: runner %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, capitalize(c.summary))
		f.fs.PrintDefaults()
	}
	return f
}

// lookupCommand finds a command of the table by its name's first word.
func lookupCommand(name string) command {
	first, _, _ := strings.Cut(name, " ")
	for _, c := range commands() {
		if c.name == first {
			return c
		}
	}
	panic("runner: no command " + name + " in commands()") // a programming error
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (f *flags) repoFlag() {
	f.fs.StringVar(&f.repo, "repo", "", "the infra repo: a bare repository `path` or a repo name from the config")
}

func (f *flags) revFlag() {
	f.fs.StringVar(&f.rev, "rev", "", "the `revision` to use (default: the deployed branch)")
}

// outputFlag declares -o with the formats allowed (the first is the
// default); parse refuses any other.
func (f *flags) outputFlag(formats ...string) {
	f.formats = formats
	f.fs.StringVar(&f.output, "o", formats[0], "output `format`: "+strings.Join(formats, " or "))
}

// parseNoArgs is parse for commands that take no positional arguments.
func (f *flags) parseNoArgs(args []string) error {
	if err := f.parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usagef("unexpected argument %q", f.fs.Arg(0))
	}
	return nil
}

func (f *flags) parse(args []string) error {
	if err := f.parseFlags(args); err != nil {
		return err
	}
	if len(f.formats) > 0 && !slices.Contains(f.formats, f.output) {
		return usagef("-o %q: want %s", f.output, strings.Join(f.formats, " or "))
	}
	return nil
}

func (f *flags) parseFlags(args []string) error {
	// Go's flag package stops at the first non-flag; allow flags after
	// positional arguments too (runner replay COMMIT --force).
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return f.fs.Parse(append([]string{"--"}, pos...))
}

// session is a configured command: config, logger, repo, runner.
type session struct {
	cfg    *config.Config
	repo   config.Repo
	git    *gitstore.Repo
	log    *logrus.Logger
	red    *steps.Redactor
	runner *pipeline.Runner
}

// sessionOption adjusts how a session opens the repo.
type sessionOption func(*sessionOptions)

type sessionOptions struct {
	quarantine string
	readOnly   bool
}

// readOnly opens the repo for a run that writes nothing (replay
// --dry-run), so the owner check of writing commands does not apply.
func readOnly() sessionOption { return func(o *sessionOptions) { o.readOnly = true } }

// withQuarantine also reads the objects of a push in progress (pre-receive).
func withQuarantine(dir string) sessionOption {
	return func(o *sessionOptions) { o.quarantine = dir }
}

func (e *env) session(f *flags, opts ...sessionOption) (*session, error) {
	var so sessionOptions
	for _, o := range opts {
		o(&so)
	}
	cfg := config.Default()
	if e.configFile != "" {
		c, err := e.loadConfig()
		if err != nil {
			return nil, exitError{exitUsage, err}
		}
		cfg = c
	}
	red := &steps.Redactor{}
	log, err := e.logger(cfg, red)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	// lego logs through a process-wide logger of its own: route it here, so
	// its lines follow --log-level and --log-format too.
	acme.RouteLegoLog(log)
	rc, err := cfg.Repo(f.repo)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	g, err := gitstore.OpenQuarantined(rc.Path, so.quarantine)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	name := lookupCommand(f.fs.Name()).name
	if writesRepo[name] && !so.readOnly {
		if err := e.mayWrite(g.Path()); err != nil {
			return nil, err
		}
	}
	if writesRepo[name] {
		e.countAPICalls(cfg)
	}
	// The configured branches are always their refs/heads/ refs, whatever
	// tags or other refs of the same short name someone created.
	g.PinBranches(rc.Branch, rc.StatusBranch)
	reg, err := e.registry(cfg, red)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	for _, b := range reg.Backends() {
		if wl, ok := b.(steps.WarnLogger); ok {
			wl.SetWarnf(log.Warnf)
		}
		if il, ok := b.(steps.InfoLogger); ok {
			il.SetInfof(log.Infof)
		}
	}
	pol, err := newPolicy(cfg)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	r := &pipeline.Runner{
		Repo: g, Registry: reg, Policy: pol, Entry: rc.Entrypoint, Branch: rc.Branch, StatusBranch: rc.StatusBranch,
		Limits: pipeline.Limits{
			MaxStack:  cfg.Limits.MaxStack,
			Timeout:   time.Duration(cfg.Limits.EvalTimeout),
			MaxOutput: cfg.Limits.MaxOutputMiB << 20,
			MaxMemory: uint64(cfg.Limits.MaxMemoryMiB) << 20, //nolint:gosec // validated non-negative MiB count
		},
		Exec: steps.ExecOptions{Concurrency: cfg.Concurrency, Attempts: cfg.Retry.Attempts,
			Backoff: time.Duration(cfg.Retry.Backoff), MaxBackoff: time.Duration(cfg.Retry.MaxBackoff)},
		// A push's Jsonnet is evaluated in a child process the kernel limits,
		// once: the worker reuses what the push's check evaluated.
		Isolate:   true,
		EvalCache: filepath.Join(cfg.StateDir, "eval-cache"),
		Log:       log,
		Redact:    red.Redact,
		Observer:  observer(cfg, rc, log, red, e.apiCallsFile),

		// The backends' last full observation (steps.ObserveOptions).
		ObserveCache: filepath.Join(cfg.StateDir, "observed"),
	}
	return &session{cfg: cfg, repo: rc, git: g, log: log, red: red, runner: r}, nil
}

// writesRepo are the commands that write to the repository (status
// commits, notes), directly or through the worker they start.
var writesRepo = map[string]bool{"apply": true, "replay": true, "work": true, "drift": true, "reconcile": true, "hook": true, "lab": true, "serve": true}

// writingCommands names the commands of writesRepo in the order of
// commands(), for help texts: "apply, replay, …, lab and serve".
func writingCommands() string {
	var names []string
	for _, c := range commands() {
		if writesRepo[c.name] {
			names = append(names, c.name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// mayWrite refuses, unless --allow-other-user, to let this command write
// to the repository at gitDir as another user than its owner
// (gitstore.CheckOwner), and says how to run the same command as the owner.
func (e *env) mayWrite(gitDir string) error {
	if e.allowOtherUser {
		return nil
	}
	err := gitstore.CheckOwner(gitDir)
	var oe *gitstore.OwnerError
	if !errors.As(err, &oe) {
		return err
	}
	who := oe.Owner
	if strings.HasPrefix(who, "uid ") {
		who = "#" + strconv.Itoa(oe.OwnerUID) // sudo's form of a uid without a name
	}
	cmd := []string{"sudo", "-u", who, "runner"}
	if e.configFile != "" && !hasFlag(e.args, "config") {
		// sudo does not pass $RUNNER_CONFIG on.
		cmd = append(cmd, "--config", e.configFile)
	}
	cmd = append(cmd, e.args...)
	return exitError{exitUsage, fmt.Errorf("%w.\nRun it as the owner:\n  %s\n(or, to write as %s anyway, add --allow-other-user)", err, shellJoin(cmd), oe.User)}
}

// hasFlag reports whether args set the flag name (-name, --name, with or
// without =value).
func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		a, _, _ = strings.Cut(strings.TrimPrefix(a, "-"), "=")
		return a == "-"+name || a == name
	})
}

// shellJoin quotes args for a POSIX shell where needed and joins them.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%#") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

func (e *env) registry(cfg *config.Config, red *steps.Redactor) (*steps.Registry, error) {
	factories := append(builtinBackends(), e.backends...)
	known := map[string]bool{}
	var bs []steps.Backend
	built := map[string]steps.Backend{}
	for _, f := range factories {
		known[f.name] = true
		b, err := f.build(cfg.Backends[f.name], red, built)
		if err != nil {
			return nil, fmt.Errorf("config: backends.%s: %w", f.name, err)
		}
		bs = append(bs, b)
		built[f.name] = b
	}
	for name := range cfg.Backends {
		if !known[name] {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("config: backends.%s: no such backend (this runner has: %s)", name, strings.Join(names, ", "))
		}
	}
	reg, err := steps.NewRegistry(bs...)
	if err != nil {
		return nil, err
	}
	// Checked with the kinds at hand, so every command (the push check,
	// runner doctor) refuses what would fail each pass of runner serve.
	var bad []error
	for i, k := range cfg.Reconcile.SelfHeal {
		if _, ok := reg.Backend(k); !ok {
			bad = append(bad, fmt.Errorf("config: reconcile.selfHeal[%d]: %q is not a kind of this runner (%s)", i, k, strings.Join(reg.Kinds(), ", ")))
		}
	}
	return reg, errors.Join(bad...)
}

// logger logs to stderr: text on a terminal, or JSON; secrets redacted.
func (e *env) logger(cfg *config.Config, red *steps.Redactor) (*logrus.Logger, error) {
	l := logrus.New()
	l.Out = e.stderr
	format := e.logFormat
	if format == "" {
		format = cfg.Log.Format
	}
	var base logrus.Formatter
	switch format {
	case "", "text":
		base = &logrus.TextFormatter{DisableTimestamp: !isTerminal(e.stderr), FullTimestamp: true, TimestampFormat: "15:04:05.000"}
	case "json":
		base = &logrus.JSONFormatter{}
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	l.Formatter = redactingFormatter{base, red}
	level := e.logLevel
	if level == "" {
		level = cfg.Log.Level
	}
	if level == "" {
		level = "info"
	}
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	l.Level = lv
	return l, nil
}

type redactingFormatter struct {
	logrus.Formatter
	red *steps.Redactor
}

func (f redactingFormatter) Format(e *logrus.Entry) ([]byte, error) {
	b, err := f.Formatter.Format(e)
	if err != nil {
		return nil, err
	}
	return []byte(f.red.Redact(string(b))), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// lock takes the per-repo lock so concurrent runs on one repo serialize.
// Holding it, the session may break stale lock files on the runner's own
// refs (gitstore.HoldingRunnerLock).
func (s *session) lock(ctx context.Context) (*queue.Lock, error) {
	l, err := queue.LockRepo(ctx, s.git.Path(), func() {
		s.log.Info("another run holds the lock of this repo; waiting for it to finish")
	})
	if err == nil {
		s.git.HoldingRunnerLock(true)
	}
	return l, err
}
