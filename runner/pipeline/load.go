package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	jsonnet "github.com/google/go-jsonnet"

	"github.com/gitops-runner/gitops-runner/lib"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Limits bound the evaluation of an infra repo, so a bad push fails fast
// with a clear message instead of hanging or exhausting the runner.
type Limits struct {
	// MaxStack is the deepest Jsonnet call stack (default 500).
	MaxStack int
	// Timeout bounds evaluation time (default 10 s).
	Timeout time.Duration
	// MaxOutput bounds the size of the evaluated JSON (default 16 MiB).
	MaxOutput int
	// MaxMemory bounds how much the heap may grow while evaluating (default
	// 1 GiB), so `std.repeat`-style blow-ups fail fast.
	MaxMemory uint64
}

func (l Limits) withDefaults() Limits {
	if l.MaxStack <= 0 {
		l.MaxStack = 500
	}
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = 16 << 20
	}
	if l.MaxMemory == 0 {
		l.MaxMemory = 1 << 30
	}
	return l
}

// Vars are the external variables a repo can read with std.extVar.
type Vars struct {
	Commit string
	Branch string
	Pusher string
}

// Loaded is an evaluated and decoded commit: the output of steps 1 and 2.
type Loaded struct {
	// Commit is the full hash.
	Commit string
	// Message is the commit's whole message; Subject its first line.
	Message string
	Subject string
	JSON    []byte
	// Resources are the decoded resources, sorted by ID.
	Resources []steps.Resource
	// Snapshot is the commit's tree (for reading policy files).
	Snapshot *gitstore.Snapshot
	// Cached says the evaluation was not run again: an earlier one of the
	// same commit (the push's check) was kept (Runner.EvalCache).
	Cached bool
	// Evaluated and Decoded are how long the evaluation (0 when Cached)
	// and the decoding took, wall time.
	Evaluated, Decoded time.Duration
}

// Load runs steps 1–2 for a revision: evaluate the commit's entry file and
// decode its resources. A bad commit gives Diagnostics.
func (r *Runner) Load(ctx context.Context, rev string, vars Vars) (*Loaded, error) {
	r.defaults()
	h, err := r.Repo.Resolve(rev)
	if err != nil {
		return nil, diagnose(err, "")
	}
	l, _, ds := r.load(ctx, h, vars, nil, nil)
	if len(ds) > 0 {
		return nil, ds
	}
	return l, nil
}

// load evaluates and decodes commit h (steps 1 and 2); on failure it names
// the stage that failed. child, when not nil, is an evaluation child
// started ahead (startEvaluation) that an isolated evaluation uses instead
// of starting its own; the caller closes it. evaluated, when not nil, is
// called once the commit is evaluated (or its evaluation found in the
// cache), before the output is decoded.
func (r *Runner) load(ctx context.Context, h plumbing.Hash, vars Vars, child *sandbox.Child, evaluated func()) (*Loaded, Stage, Diagnostics) {
	snap, err := r.Repo.Snapshot(h)
	if err != nil {
		return nil, StageLoad, diagnose(err, "")
	}
	vars.Commit = h.String()
	if vars.Branch == "" {
		vars.Branch = r.Branch
	}
	var key string
	if r.EvalCache != "" {
		key = evalKey(h.String(), r.Entry, vars, r.Limits.withDefaults())
	}
	start := time.Now()
	out, cached := r.cachedEval(key)
	switch {
	case cached:
	case r.Isolate:
		out, err = r.evaluateIn(ctx, child, snap, vars)
	default:
		out, err = Evaluate(ctx, snap, r.Entry, vars, r.Limits)
	}
	if err != nil {
		return nil, StageLoad, diagnose(err, "")
	}
	if !cached {
		// The cache entry is written while the output is decoded (a
		// 0.5 MB write at 1000 resources, ~5 ms of the push-time check).
		stored := make(chan struct{})
		go func() {
			defer close(stored)
			r.storeEval(key, out)
		}()
		defer func() { <-stored }()
	}
	took := time.Since(start)
	if cached {
		took = 0
	}
	if evaluated != nil {
		evaluated()
	}
	start = time.Now()
	rs, ds := Decode(r.Registry, r.Entry, out)
	if len(ds) > 0 {
		return nil, StageDecode, ds
	}
	msg := snap.Commit.Message
	subject, _, _ := strings.Cut(msg, "\n")
	return &Loaded{Commit: h.String(), Message: msg, Subject: subject, JSON: out, Resources: rs, Snapshot: snap, Cached: cached,
		Evaluated: took, Decoded: time.Since(start)}, "", nil
}

// libPrefix marks files found in the embedded library in error messages and
// import resolution; no path inside a commit can start with it.
const libPrefix = "<runner-lib>/"

// repoImporter resolves imports inside one commit's tree, then in the
// embedded lib/. Absolute paths and paths escaping the commit are errors.
type repoImporter struct {
	snap  *gitstore.Snapshot
	lib   fs.FS
	cache map[string]jsonnet.Contents
	// progress, when set, hears "importing PATH" for each new import.
	progress func(string)
}

func newImporter(snap *gitstore.Snapshot) *repoImporter {
	return &repoImporter{snap: snap, lib: lib.FS, cache: map[string]jsonnet.Contents{}}
}

// Import implements jsonnet.Importer.
func (im *repoImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if strings.HasPrefix(importedPath, "/") {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: absolute paths are not allowed; import files of the repo by a path relative to the importing file", importedPath)
	}
	if from, ok := strings.CutPrefix(importedFrom, libPrefix); ok {
		p := path.Clean(path.Join(path.Dir(from), importedPath))
		return im.fromLib(p, importedPath)
	}
	p := path.Clean(path.Join(path.Dir(importedFrom), importedPath))
	if p == ".." || strings.HasPrefix(p, "../") {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q escapes the commit: imports resolve only inside the repo and the runner's lib", importedPath)
	}
	if c, ok := im.cache[p]; ok {
		return c, p, nil
	}
	if im.progress != nil && importedFrom != "" {
		im.progress(p + " (imported by " + importedFrom + ")")
	}
	b, err := im.snap.ReadFile(p)
	switch {
	case err == nil:
		c := jsonnet.MakeContentsRaw(b)
		im.cache[p] = c
		return c, p, nil
	case !errors.Is(err, gitstore.ErrNotExist):
		return jsonnet.Contents{}, "", err
	}
	// Not in the commit: the runner's library, by its plain name.
	if !strings.HasPrefix(importedPath, ".") {
		if c, found, err := im.fromLib(path.Clean(importedPath), importedPath); err == nil {
			return c, found, nil
		}
	}
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: %s is not in the commit, and the runner's lib has no such file (it has: %s)",
		importedPath, p, strings.Join(libFiles(im.lib), ", "))
}

func (im *repoImporter) fromLib(p, asWritten string) (jsonnet.Contents, string, error) {
	found := libPrefix + p
	if c, ok := im.cache[found]; ok {
		return c, found, nil
	}
	b, err := fs.ReadFile(im.lib, p)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: the runner's lib has no %s (it has: %s)", asWritten, p, strings.Join(libFiles(im.lib), ", "))
	}
	c := jsonnet.MakeContentsRaw(b)
	im.cache[found] = c
	return c, found, nil
}

func libFiles(f fs.FS) []string {
	var out []string
	_ = fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// EvalError is a failed evaluation. Message keeps Jsonnet's file:line:column
// positions; Hint says what to do.
type EvalError struct {
	File    string `json:"file"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (e *EvalError) Error() string { return e.Message }

// Evaluate evaluates entry (e.g. "main.jsonnet") of a commit with the
// embedded lib, ext vars and limits, and returns the JSON output.
func Evaluate(ctx context.Context, snap *gitstore.Snapshot, entry string, vars Vars, lim Limits) ([]byte, error) {
	return evaluate(ctx, snap, entry, vars, lim, nil)
}

// evaluate is Evaluate; progress, when set, hears of every file imported
// (so a killed evaluation child names the last one).
func evaluate(ctx context.Context, snap *gitstore.Snapshot, entry string, vars Vars, lim Limits, progress func(string)) ([]byte, error) {
	lim = lim.withDefaults()
	vm := jsonnet.MakeVM()
	vm.MaxStack = lim.MaxStack
	im := newImporter(snap)
	im.progress = progress
	vm.Importer(im)
	vm.ExtVar("commit", vars.Commit)
	vm.ExtVar("branch", vars.Branch)
	vm.ExtVar("pusher", vars.Pusher)
	vm.ErrorFormatter.SetMaxStackTraceSize(20)

	if _, err := snap.ReadFile(entry); err != nil {
		return nil, &EvalError{File: entry, Message: fmt.Sprintf("%s: not found in commit %s", entry, gitstore.Short(snap.Commit.Hash.String())),
			Hint: "the infra repo must have " + entry + " at its root (or set the entrypoint in the runner config)"}
	}

	type result struct {
		out string
		err error
	}
	// go-jsonnet cannot be interrupted: on timeout the evaluation goroutine
	// is abandoned. In the runner this runs in an evaluation child
	// (Runner.Isolate), which exits right after — or is killed at the same
	// limits by its parent; in process (tests, library use) the goroutine
	// finishes on its own.
	ch := make(chan result, 1)
	go func() {
		out, err := vm.EvaluateFile(entry)
		ch <- result{out, err}
	}()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	base := heapBytes()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var r result
wait:
	select {
	case r = <-ch:
	case <-tick.C:
		if grown := heapGrowth(base, heapBytes()); grown > lim.MaxMemory {
			return nil, &EvalError{File: entry, Message: fmt.Sprintf("evaluating %s used more than %d MiB of memory", entry, lim.MaxMemory>>20),
				Hint: "something builds a huge string or list; the limit is limits.maxMemoryMiB in the runner config"}
		}
		goto wait
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &EvalError{File: entry, Message: fmt.Sprintf("evaluating %s took longer than %s", entry, lim.Timeout),
				Hint: "look for runaway recursion or huge comprehensions; the limit is limits.evalTimeout in the runner config"}
		}
		return nil, ctx.Err()
	}
	if r.err != nil {
		msg := strings.TrimSpace(r.err.Error())
		hint := "fix the Jsonnet at the position shown; `runner eval` prints the result of a fixed commit"
		if strings.Contains(msg, "max stack frames exceeded") {
			hint = fmt.Sprintf("endless recursion? the stack is limited to %d frames (limits.maxStack in the runner config)", lim.MaxStack)
		}
		return nil, &EvalError{File: entry, Message: msg, Hint: hint}
	}
	if len(r.out) > lim.MaxOutput {
		return nil, &EvalError{File: entry, Message: fmt.Sprintf("%s evaluated to %d bytes of JSON, more than the limit of %d", entry, len(r.out), lim.MaxOutput),
			Hint: "an infra repo's output is a list of resources; something generates far too much (limits.maxOutputMiB in the runner config)"}
	}
	return []byte(r.out), nil
}

// heapBytes is the heap marked live by the last GC, read cheaply (no
// stop-the-world); garbage does not count.
// heapGrowth is how much the live heap grew from base to now, 0 when it
// shrank. (now is read once: reading it twice, a GC ending between the
// reads made the difference underflow to ~2^64 and failed a sound
// evaluation as "used more than N MiB of memory".)
func heapGrowth(base, now uint64) uint64 {
	if now < base {
		return 0
	}
	return now - base
}

func heapBytes() uint64 {
	var s [1]metrics.Sample
	s[0].Name = "/gc/heap/live:bytes"
	metrics.Read(s[:])
	if v := s[0].Value; v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}
