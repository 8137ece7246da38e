package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

const zeroHash = "0000000000000000000000000000000000000000"

// cmdCheck is the pre-receive check: for each pushed ref of the deployed
// branch it evaluates, decodes and runs the policies on the new commit, and
// exits non-zero to reject the push. Output reaches the pusher as "remote:"
// lines.
func cmdCheck(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "check")
	f.repoFlag()
	if err := f.parse(args); err != nil {
		return err
	}
	start := time.Now()
	if f.repo == "" {
		f.repo = os.Getenv("GIT_DIR") // inside a hook: the repository being pushed to
	}
	// Refuse a push the post-receive hook could not queue or deploy: it
	// would be accepted into a void.
	if err := e.deployPathFails(f.repo, refusedPreReceive); err != nil {
		return err
	}
	s, err := e.session(f, withQuarantine(os.Getenv("GIT_QUARANTINE_PATH")))
	if err != nil {
		return err
	}
	lines, err := readRefLines(e.stdin)
	if err != nil {
		return exitError{exitUsage, err}
	}
	rejected := false
	branchRef := gitstore.BranchRef(s.repo.Branch)
	shadows := shadowRefs(s.repo.Branch, s.repo.StatusBranch)
	for _, l := range lines {
		switch {
		case l.ref == gitstore.BranchRef(s.repo.StatusBranch) || l.ref == gitstore.NotesRef:
			fmt.Fprintf(e.stdout, "runner: %s is written by the runner only; push rejected\n", l.ref)
			rejected = true
			continue
		case shadows[l.ref] != "" && l.new == zeroHash:
			fmt.Fprintf(e.stdout, "runner: deleting %s leaves %q meaning branch %s only; accepted\n", l.ref, shadows[l.ref], gitstore.BranchRef(shadows[l.ref]))
			continue
		case shadows[l.ref] != "":
			b := shadows[l.ref]
			fmt.Fprintf(e.stdout, "runner: %s would shadow branch %s: git resolves the name %q to it before %s; push rejected (choose another name)\n", l.ref, b, b, gitstore.BranchRef(b))
			rejected = true
			continue
		case l.ref != branchRef:
			continue // other branches are not deployed
		case l.new == zeroHash:
			fmt.Fprintf(e.stdout, "runner: deleting %s deploys nothing; accepted\n", l.ref)
			continue
		}
		res, err := s.runner.Check(ctx, l.new, pipeline.Push{User: pusher(), Ref: l.ref, Old: l.old, New: l.new})
		if err != nil {
			return exitError{exitFailed, fmt.Errorf("check %s: %w", short(l.new), err)}
		}
		for _, d := range res.Errors {
			fmt.Fprintf(e.stdout, "runner: error: %s\n", strings.ReplaceAll(d.String(), "\n", "\nrunner:   "))
		}
		for _, d := range res.Warnings {
			fmt.Fprintf(e.stdout, "runner: warning: %s\n", strings.ReplaceAll(d.String(), "\n", "\nrunner:   "))
		}
		for _, f := range res.Policy.Deny {
			fmt.Fprintf(e.stdout, "runner: denied: %s%s\n", f.Message, at(f))
		}
		for _, f := range res.Policy.Warn {
			fmt.Fprintf(e.stdout, "runner: warning: %s%s\n", f.Message, at(f))
		}
		if res.Rejected() {
			rejected = true
			fmt.Fprintf(e.stdout, "runner: push of %s rejected: nothing was accepted or applied; fix the above and push again\n", short(l.new))
			continue
		}
		took := fmt.Sprintf("%d ms", time.Since(start).Milliseconds())
		if steps := res.Took.String(); steps != "" {
			took += ": " + steps
		}
		fmt.Fprintf(e.stdout, "runner: %s checked: %d resources, %d warnings (%s)\n", short(l.new), res.Resources, len(res.Warnings)+len(res.Policy.Warn), took)
	}
	if rejected {
		return exitError{code: exitFailed}
	}
	return nil
}

// shadowRefs maps each ref that git would resolve a configured branch's
// short name to, before the branch itself (refs/tags/main, refs/main, ...),
// to that branch's name.
func shadowRefs(branches ...string) map[string]string {
	out := map[string]string{}
	for _, b := range branches {
		for _, ref := range gitstore.ShadowRefs(b) {
			out[ref] = b
		}
	}
	return out
}

func at(f pipeline.Finding) string {
	if f.File == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d)", f.File, f.Line)
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// pusher names who pushed: Gitolite's GL_USER, else the OS user.
func pusher() string {
	for _, k := range []string{"GL_USER", "USER", "LOGNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "unknown"
}

type refLine struct{ old, new, ref string }

// readRefLines parses a hook's stdin: "<old> <new> <ref>" per line.
func readRefLines(r io.Reader) ([]refLine, error) {
	var out []refLine
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("stdin: want \"<old> <new> <ref>\" lines as git gives hooks, got %q", sc.Text())
		}
		out = append(out, refLine{fields[0], fields[1], fields[2]})
	}
	return out, sc.Err()
}

// cmdPolicy runs `runner policy test|eval`.
func cmdPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "test" && args[0] != "eval") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stderr, policyUsage)
			return nil
		}
		return usagef("want `runner policy test` or `runner policy eval`")
	}
	sub := args[0]
	f := newRevFlags(e, "policy "+sub)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	s, rev, err := e.revSession(f)
	if err != nil {
		return err
	}
	if sub == "eval" {
		in, rep := s.runner.PolicyInput(ctx, rev)
		if in == nil {
			fmt.Fprint(e.stderr, rep.Text())
			return exitError{code: exitFailed}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	h, err := s.git.Resolve(rev)
	if err != nil {
		return exitError{exitFailed, err}
	}
	snap, err := s.git.Snapshot(h)
	if err != nil {
		return exitError{exitFailed, err}
	}
	p, err := newPolicy(s.cfg)
	if err != nil {
		return exitError{exitUsage, err}
	}
	files, err := pipeline.ReadPolicyFiles(snap, p)
	if err != nil {
		return exitError{exitFailed, err}
	}
	results, err := p.Test(ctx, files)
	if err != nil {
		return exitError{exitFailed, err}
	}
	failed := 0
	for _, r := range results {
		fmt.Fprintln(e.stdout, r.String())
		if r.Status == policy.TestFail || r.Status == policy.TestError {
			failed++
		}
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if len(results) == 0 {
		fmt.Fprintf(e.stdout, "no tests found under %s/ at %s (name them *_test.rego)\n", pipeline.PolicyDir, short(h.String()))
	}
	if failed > 0 {
		return exitError{code: exitFailed}
	}
	return nil
}

const policyUsage = `Usage: runner policy test [--repo PATH.git] [--rev REV]
       runner policy eval [--repo PATH.git] [--rev REV]

test runs the repo's policy tests (policy/**/*_test.rego) with OPA's test runner.
eval prints the input document policies see for a commit (with the plan and
live state when backends are configured): write policies against it.`
