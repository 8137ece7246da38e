package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

func cmdEval(ctx context.Context, e *env, args []string) error {
	f, s, rev, err := e.revCommand(args, "eval", "json", "table")
	if err != nil {
		return err
	}
	loaded, err := s.runner.Load(ctx, rev, pipeline.Vars{Branch: s.repo.Branch})
	if err != nil {
		return exitError{exitFailed, err}
	}
	type res struct {
		ID        string   `json:"id"`
		Kind      string   `json:"kind"`
		Name      string   `json:"name"`
		Spec      any      `json:"spec"`
		DependsOn []string `json:"dependsOn,omitempty"`
		Adopt     bool     `json:"adopt,omitempty"`
	}
	out := struct {
		Commit    string `json:"commit"`
		Resources []res  `json:"resources"`
	}{Commit: loaded.Commit, Resources: []res{}}
	for _, r := range loaded.Resources {
		var deps []string
		for _, d := range r.DependsOn {
			deps = append(deps, d.String())
		}
		out.Resources = append(out.Resources, res{ID: r.ID.String(), Kind: r.ID.Kind, Name: r.ID.Name, Spec: r.Spec, DependsOn: deps, Adopt: r.Adopt})
	}
	if f.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tDEPENDS ON\tSPEC")
	for _, r := range out.Resources {
		spec, _ := json.Marshal(r.Spec)
		line := string(spec)
		if len(line) > 80 {
			line = line[:77] + "..."
		}
		deps := strings.Join(r.DependsOn, ",")
		if deps == "" {
			deps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, deps, line)
	}
	fmt.Fprintf(tw, "\n%d resources at %s\n", len(out.Resources), loaded.Commit[:7])
	return tw.Flush()
}

func cmdPlan(ctx context.Context, e *env, args []string) error {
	f := newRevFlags(e, "plan", "text", "json")
	refresh := f.fs.String("refresh", string(pipeline.RefreshAuto),
		"which Proxmox guests to read live: auto (those that can have changed since their last full read, and all the plan changes) or full (every one)")
	if err := f.parseNoArgs(args); err != nil {
		return err
	}
	if r := pipeline.Refresh(*refresh); r != pipeline.RefreshAuto && r != pipeline.RefreshFull {
		return usagef("--refresh: want auto or full, got %q", *refresh)
	}
	s, rev, err := e.revSession(f)
	if err != nil {
		return err
	}
	rep, err := s.runner.Run(ctx, pipeline.Request{Rev: rev, Kind: pipeline.KindPlan, Refresh: pipeline.Refresh(*refresh)})
	if err != nil {
		return exitError{exitFailed, err}
	}
	return e.printReport(rep, f.output, "")
}

func cmdApply(ctx context.Context, e *env, args []string) error {
	f := newRevFlags(e, "apply", "text", "json")
	if err := f.parseNoArgs(args); err != nil {
		return err
	}
	s, err := e.session(f)
	if err != nil {
		return err
	}
	return e.applyLocked(ctx, s, pipeline.Request{Rev: f.rev, Kind: pipeline.KindDeploy}, f.output)
}

func cmdReplay(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "replay")
	f.repoFlag()
	force := f.fs.Bool("force", false, "replay a commit that is not on the deployed branch's history")
	dryRun := f.fs.Bool("dry-run", false, "print the replay's plan (what it would delete, change and release) and apply nothing")
	f.outputFlag("text", "json")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return usagef("give exactly one COMMIT to replay (see `runner status` or `git log` for candidates)")
	}
	var opts []sessionOption
	if *dryRun {
		opts = append(opts, readOnly())
	}
	s, err := e.session(f, opts...)
	if err != nil {
		return err
	}
	rev, err := e.userRev(s, f.fs.Arg(0))
	if err != nil {
		return err
	}
	h := plumbing.NewHash(rev)
	tip, err := s.git.Branch(s.repo.Branch)
	if err != nil {
		return exitError{exitFailed, fmt.Errorf("deployed branch %s: %w", s.repo.Branch, err)}
	}
	if ok, err := s.git.IsAncestor(h, tip); err != nil {
		return exitError{exitFailed, err}
	} else if !ok && !*force {
		return exitError{exitUsage, fmt.Errorf("%s is not on the history of %s; replaying it would deploy something never pushed there (use --force if you mean it)", h.String()[:7], s.repo.Branch)}
	}
	if *dryRun {
		rep, err := s.runner.Run(ctx, pipeline.Request{Rev: rev, Kind: pipeline.KindPlan, ReplayPlan: true})
		if err != nil {
			return exitError{exitFailed, err}
		}
		// A plan of the commit as the replay would apply it: say so, not
		// "plan 1b8a867", which reads as a plan of that commit's push.
		if plan := "plan " + gitstore.Short(rep.Source.Commit); strings.HasPrefix(rep.Summary, plan) {
			rep.Summary = "replay of " + gitstore.Short(rep.Source.Commit) + " (dry run)" + strings.TrimPrefix(rep.Summary, plan)
		}
		return e.printReport(rep, f.output, "")
	}
	return e.applyLocked(ctx, s, pipeline.Request{Rev: rev, Kind: pipeline.KindReplay, ReplayedBy: replayer()}, f.output)
}

// replayer is who runs `runner replay`: the Gitolite user ($GL_USER, set
// by gitolite for commands run through it, gitolite3 docs "environment
// variables"), else the OS user running the command.
func replayer() string {
	if u := os.Getenv("GL_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// newRevFlags declares the flags of a command run on one revision of a
// repo: --repo, --rev and, when formats are given, -o (see outputFlag).
func newRevFlags(e *env, name string, formats ...string) *flags {
	f := newFlags(e, name)
	f.repoFlag()
	f.revFlag()
	if len(formats) > 0 {
		f.outputFlag(formats...)
	}
	return f
}

// revCommand starts a command that runs on one revision and takes no
// positional arguments: it declares its flags (newRevFlags), parses args
// and opens the session (revSession). A bad command line is a usage error.
func (e *env) revCommand(args []string, name string, formats ...string) (*flags, *session, string, error) {
	f := newRevFlags(e, name, formats...)
	if err := f.parseNoArgs(args); err != nil {
		return nil, nil, "", err
	}
	s, rev, err := e.revSession(f)
	return f, s, rev, err
}

// revSession opens the session of a command run on one revision and
// resolves the revision the user named (see userRev): its full hash, or the
// deployed branch (pinned: refs/heads/<branch>) when none was named.
func (e *env) revSession(f *flags) (*session, string, error) {
	s, err := e.session(f)
	if err != nil {
		return nil, "", err
	}
	rev, err := e.userRev(s, f.rev)
	if err != nil {
		return nil, "", err
	}
	if rev == "" {
		rev = s.repo.Branch
	}
	return s, rev, nil
}

// userRev resolves a revision the user named (--rev, COMMIT) as git does
// (a configured branch is always its refs/heads/ ref) and says on stderr
// which ref it resolved to, so a tag or another ref of the same name cannot
// pass unnoticed. It returns the commit's full hash, or "" for "" (the
// deployed branch).
func (e *env) userRev(s *session, rev string) (string, error) {
	if rev == "" {
		return "", nil
	}
	x, err := s.git.ResolveRev(rev)
	if errors.Is(err, gitstore.ErrNoRevision) {
		return "", exitError{exitUsage, err}
	}
	if err != nil {
		return "", exitError{exitFailed, err}
	}
	if x.Named() {
		fmt.Fprintf(e.stderr, "runner: %s\n", x)
	}
	return x.Hash.String(), nil
}

// applyLocked runs a deploy or replay under the repo lock and maps the
// result to an exit code. A revision the user named is resolved once the
// lock is held, so the run uses what the name means when it starts.
func (e *env) applyLocked(ctx context.Context, s *session, req pipeline.Request, output string) error {
	l, err := s.lock(ctx)
	if err != nil {
		return exitError{exitFailed, err}
	}
	defer l.Unlock() //nolint:errcheck // closing the lock file cannot lose data
	if req.Rev, err = e.userRev(s, req.Rev); err != nil {
		return err
	}
	rep, err := s.runner.Run(ctx, req)
	if err != nil {
		_ = e.printReport(rep, output, "")
		return exitError{exitRecord, fmt.Errorf("%w; the run's result is above, but it is not in the status history", err)}
	}
	tip, _ := s.git.Ref(gitstore.BranchRef(s.repo.StatusBranch))
	// The hint names the repo: it must work wherever it is pasted, also in
	// a clone, where only origin/<status> exists.
	return e.printReport(rep, output, fmt.Sprintf("recorded: %s %s (git -C %s show %s:STATUS.md)", s.repo.StatusBranch, tip.String()[:7], s.git.Path(), gitstore.BranchRef(s.repo.StatusBranch)))
}

func (e *env) printReport(rep *pipeline.Report, output, footer string) error {
	if output == "json" {
		if _, err := e.stdout.Write(rep.JSON()); err != nil {
			return err
		}
	} else {
		fmt.Fprint(e.stdout, rep.Text())
		if footer != "" {
			fmt.Fprintf(e.stdout, "\n%s\n", footer)
		}
	}
	return reportExit(rep)
}

// reportExit is the exit of a command that ran rep: exitDenied,
// exitFailed, or nil.
func reportExit(rep *pipeline.Report) error {
	switch rep.Result {
	case pipeline.ResultDenied:
		return exitError{code: exitDenied}
	case pipeline.ResultFailed:
		return exitError{code: exitFailed}
	}
	return nil
}

func cmdStatus(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "status")
	f.repoFlag()
	n := f.fs.Int("n", 10, "how many runs to show")
	f.outputFlag("text", "json")
	if err := f.parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return usagef("-n must be at least 1")
	}
	s, err := e.session(f)
	if err != nil {
		return err
	}
	commits, err := s.git.Log(s.repo.StatusBranch, *n)
	if err != nil {
		return exitError{exitFailed, err}
	}
	if len(commits) == 0 {
		fmt.Fprintf(e.stdout, "no runs yet: branch %s does not exist in %s (run `runner apply` or push)\n", s.repo.StatusBranch, s.git.Path())
		return nil
	}
	if f.output == "json" {
		var docs []json.RawMessage
		for _, c := range commits {
			snap, err := s.git.Snapshot(c.Hash)
			if err != nil {
				return exitError{exitFailed, err}
			}
			b, err := snap.ReadFile("status.json")
			if err != nil {
				return exitError{exitFailed, fmt.Errorf("status commit %s: %w", c.Hash.String()[:7], err)}
			}
			docs = append(docs, b)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(docs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tWHEN\tRUN\tSUMMARY")
	for _, c := range commits {
		subject, _, _ := strings.Cut(c.Message, "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Hash.String()[:7], c.Committer.When.UTC().Format(time.DateTime), trailer(c.Message, "Run-ID"), subject)
	}
	return tw.Flush()
}

func trailer(msg, key string) string {
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	return "-"
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(e.stderr, "Usage: runner version\n\nPrint the runner's version: the module version, the git revision it was built\nfrom (with \"modified\" for uncommitted changes) and that commit's time, and Go's version.")
		return nil
	}
	fmt.Fprintf(e.stdout, "runner %s\n", versionLine())
	return nil
}

// versionLine is the module version, then what the Go toolchain stamped
// into the binary (go build in a git checkout): the revision, whether the
// tree had uncommitted changes, the commit's time; and the Go version.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, st := range bi.Settings {
		settings[st.Key] = st.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += " " + gitstore.Short(rev)
		if settings["vcs.modified"] == "true" {
			v += " (modified)"
		}
		if t := settings["vcs.time"]; t != "" {
			v += " of " + t
		}
	} else {
		v += ", no git revision stamped (built with go run, or outside a git checkout)"
	}
	return v + ", " + bi.GoVersion
}
