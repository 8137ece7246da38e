// Package policy checks a run against Rego policies: the infra repo's own
// policy/**/*.rego and the runner's built-in policies (builtin/*.rego). The
// pipeline calls it between "plan" and "apply", and `runner check` calls it on
// a pushed commit; a deny finding stops the run, a warn finding is reported.
//
// Policies run sandboxed: no network, no environment, limits on the size of
// the files and on evaluation time; the runner runs this package in a child
// process (runner/sandbox) for hard time and memory limits. Compile once per
// run, then Eval; README.md documents the input document and the
// rules for policy authors.
package policy

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// InputVersion is the version of the input document Eval accepts.
const InputVersion = 1

// DefaultTimeout is the evaluation time limit when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

//go:embed builtin/*.rego
var builtinFS embed.FS

// builtinPrefix is the pseudo-directory of built-in policy files in
// findings and errors ("builtin/capacity.rego").
const builtinPrefix = "builtin/"

// File is one Rego file, read from git.
type File struct {
	Path   string // as in the repo, e.g. "policy/guests.rego"
	Source []byte
}

// IsPolicyFile reports whether a repo path is a policy file the runner
// loads: a .rego file under policy/ (tests, *_test.rego, included).
func IsPolicyFile(p string) bool {
	return strings.HasPrefix(p, "policy/") && strings.HasSuffix(p, ".rego")
}

// isTestFile reports whether a path is a Rego test file, which Test runs and
// Compile leaves out.
func isTestFile(p string) bool { return strings.HasSuffix(p, "_test.rego") }

// Options are the runner's (not the repo's) policy settings.
type Options struct {
	// Disabled names built-in policies to switch off (see Builtins).
	Disabled []string
	// Timeout bounds one Eval (and each test in Test); 0 means DefaultTimeout.
	Timeout time.Duration
	// Config becomes data.runner.config, the built-ins' parameters.
	Config Config

	// OnRule, when set, is called as work on the repo's policies starts:
	// before each file is parsed (line 0) and, in Eval, before each deny or
	// warn rule definition is evaluated (its file and line). Eval evaluates
	// rules on several goroutines (GOMAXPROCS); it calls OnRule from one at
	// a time and, when one runs out of rules, again for the first rule still
	// running, so that the last call names a rule at work. A caller that
	// runs policies in a child process reports the last call when it kills
	// the child. It may be called concurrently when Eval is.
	OnRule func(file string, line int) `json:"-"`

	// Limits on the repo's .rego files (tests included), checked before
	// anything is parsed; 0 means the default. See CheckSizes.
	MaxFiles      int   // number of files; default DefaultMaxFiles
	MaxFileBytes  int64 // bytes of one file; default DefaultMaxFileBytes
	MaxTotalBytes int64 // bytes of all files; default DefaultMaxTotalBytes
}

// CompileStep is the step OnRule names while the parsed policies are
// compiled together (type checks, rule indexing): no one file is at work.
const CompileStep = "compiling the policies"

// The defaults of the Options limits on the repo's policy files: generous
// for hand-written policies, small enough that parsing them is cheap (OPA's
// parser needs several times a file's size in memory).
const (
	DefaultMaxFiles      = 200
	DefaultMaxFileBytes  = 1 << 20 // 1 MiB
	DefaultMaxTotalBytes = 8 << 20 // 8 MiB
)

// Config is the document policies read as data.runner.config.
type Config struct {
	// Overcommit is the memory overcommit ratio of the capacity policy:
	// guests on a node may want up to node memory × Overcommit. 0 means 1.0.
	Overcommit float64 `json:"overcommit,omitempty"`
	// Zones are the managed DNS zones ("example.com"); route53.record and
	// acme.certificate resources must lie inside them. Empty: no check.
	Zones []string `json:"zones,omitempty"`
	// Nodes gives node capacities for when the input has no live state for a
	// node (`runner check` has none). Live state wins over these.
	Nodes map[string]Node `json:"nodes,omitempty"`
}

// Node is a Proxmox node's capacity, in the units of the input's live state.
type Node struct {
	Memory int64 `json:"memory"` // bytes, like live.proxmox.nodes.*.memory
}

// data validates the config and returns it as JSON data with defaults filled.
func (c Config) data() (map[string]any, error) {
	if c.Overcommit == 0 {
		c.Overcommit = 1
	}
	if c.Overcommit < 0 || math.IsNaN(c.Overcommit) || math.IsInf(c.Overcommit, 0) {
		return nil, fmt.Errorf("policy config: overcommit must be a positive ratio, got %v", c.Overcommit)
	}
	if c.Zones == nil {
		c.Zones = []string{}
	}
	for _, z := range c.Zones {
		if strings.Trim(z, ".") == "" {
			return nil, fmt.Errorf("policy config: zone %q is not a DNS name", z)
		}
	}
	if c.Nodes == nil {
		c.Nodes = map[string]Node{}
	}
	for name, n := range c.Nodes {
		if n.Memory <= 0 {
			return nil, fmt.Errorf("policy config: node %s: memory must be a positive number of bytes, got %d", name, n.Memory)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	return m, nil
}

// Finding is one message of a deny or warn rule.
type Finding struct {
	Message string `json:"message"`
	// File and Line locate the rule definition that produced the message
	// ("policy/guests.rego", 12); built-ins have File "builtin/<name>.rego".
	File string `json:"file"`
	Line int    `json:"line"`
	// Rule is the rule's full name, e.g. "data.main.deny".
	Rule string `json:"rule"`
	// Builtin is the built-in policy's name (the name Options.Disabled
	// takes), or "" for the repo's own policies.
	Builtin string `json:"builtin,omitempty"`
	// Details holds the other fields of an object message {"msg": ..., ...}.
	Details map[string]any `json:"details,omitempty"`
}

// String renders "file:line: message", or "built-in NAME: message".
func (f Finding) String() string {
	if f.Builtin != "" {
		return "built-in policy " + f.Builtin + ": " + f.Message
	}
	return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Message)
}

// Result is what the policies found. Findings are sorted: repo policies
// first, then built-ins, each by file, line and message.
type Result struct {
	Deny []Finding `json:"deny"`
	Warn []Finding `json:"warn"`
}

// Denied reports whether any deny finding blocks the run.
func (r Result) Denied() bool { return len(r.Deny) > 0 }

// Set is a compiled set of policies, ready to evaluate. It is safe for
// concurrent use.
type Set struct {
	rules   []*findingRule
	timeout time.Duration
	onRule  func(file string, line int)
}

// findingRule is one definition of a deny or warn rule, evaluated on its own
// so that its messages can be attributed to its file and line.
type findingRule struct {
	deny    bool
	rule    string // "data.main.deny"
	file    string
	line    int
	builtin string
	query   rego.PreparedEvalQuery
}

// Builtins returns the names of the built-in policies, sorted.
func Builtins() []string {
	ents, err := builtinFS.ReadDir("builtin")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".rego"); ok && !isTestFile(e.Name()) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// loaded is the parsed material of a Compile or Test.
type loaded struct {
	modules map[string]*ast.Module // by file path
	builtin map[string]string      // file path -> built-in name
	store   storage.Store
	caps    *ast.Capabilities
	timeout time.Duration
}

// load validates the options, parses the repo's files (tests included or
// not) and the enabled built-ins, and checks the sandbox rules.
func load(repo []File, opts Options, withTests bool) (*loaded, error) {
	known := Builtins()
	off := map[string]bool{}
	for _, d := range opts.Disabled {
		if !slices.Contains(known, d) {
			return nil, fmt.Errorf("policy: unknown built-in policy %q in disabled list (built-ins: %s)", d, strings.Join(known, ", "))
		}
		off[d] = true
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("policy: negative timeout %s", opts.Timeout)
	}
	var sizes []FileSize
	for _, f := range repo {
		if strings.HasSuffix(f.Path, ".rego") {
			sizes = append(sizes, FileSize{Path: f.Path, Size: int64(len(f.Source))})
		}
	}
	if err := opts.CheckSizes(sizes); err != nil {
		return nil, err
	}
	l := &loaded{
		modules: map[string]*ast.Module{},
		builtin: map[string]string{},
		caps:    capabilities(),
		timeout: opts.Timeout,
	}
	if l.timeout == 0 {
		l.timeout = DefaultTimeout
	}
	cfg, err := opts.Config.data()
	if err != nil {
		return nil, err
	}
	l.store = inmem.NewFromObject(map[string]any{"runner": map[string]any{"config": cfg}})

	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: l.caps, ProcessAnnotation: true}
	var errs ast.Errors
	var mods []*ast.Module
	parse := func(name string, src []byte) *ast.Module {
		if _, dup := l.modules[name]; dup {
			errs = append(errs, ast.NewError(ast.CompileErr, &ast.Location{File: name}, "file given twice"))
			return nil
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), popts)
		var pe ast.Errors
		switch {
		case err == nil && m != nil:
		case m == nil && (err == nil || strings.Contains(err.Error(), "empty module")):
			errs = append(errs, ast.NewError(ast.ParseErr, &ast.Location{File: name}, "empty file: a policy file needs a package declaration"))
			return nil
		case errors.As(err, &pe):
			errs = append(errs, pe...)
			return nil
		default:
			errs = append(errs, ast.NewError(ast.ParseErr, &ast.Location{File: name}, "%v", err))
			return nil
		}
		l.modules[name] = m
		mods = append(mods, m)
		return m
	}
	for _, name := range known {
		if off[name] {
			continue
		}
		file := builtinPrefix + name + ".rego"
		src, err := builtinFS.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("policy: built-in %s: %w", name, err)
		}
		if parse(file, src) != nil {
			l.builtin[file] = name
		}
	}
	for _, f := range repo {
		if !strings.HasSuffix(f.Path, ".rego") || (!withTests && isTestFile(f.Path)) {
			continue
		}
		if opts.OnRule != nil {
			opts.OnRule(f.Path, 0)
		}
		m := parse(f.Path, f.Source)
		if m == nil {
			continue
		}
		// data.runner holds the runner's config and built-ins; a repo
		// package there could shadow or change them.
		if p := m.Package.Path; len(p) > 1 && p[1].Equal(ast.StringTerm("runner")) {
			errs = append(errs, ast.NewError(ast.CompileErr, m.Package.Location,
				"package %s is reserved: data.runner holds the runner's built-in policies and config", strings.TrimPrefix(p.String(), "data.")))
		}
	}
	ce := &CompileError{}
	if len(errs) > 0 {
		ce = newCompileError(errs)
	}
	ce.Positions = append(ce.Positions, scanRefused(mods)...)
	if len(ce.Positions) > 0 {
		sortPositions(ce.Positions)
		return nil, ce
	}
	return l, nil
}

// findingName reports whether a rule name is a finding rule, and whether it
// denies (deny, deny_*) or warns (warn, warn_*), like conftest.
func findingName(name string) (isFinding, deny bool) {
	switch {
	case name == "deny" || strings.HasPrefix(name, "deny_"):
		return true, true
	case name == "warn" || strings.HasPrefix(name, "warn_"):
		return true, false
	}
	return false, false
}

// generatedName matches the names Compile gives to copies of finding rules.
var generatedName = regexp.MustCompile(`__runner_finding_[0-9]+__`)

// Compile parses and compiles the repo's policies (files ending in
// _test.rego and files not ending in .rego are left out) together with the
// enabled built-ins. A policy that does not compile, or that calls a refused
// built-in, gives a *CompileError with file:line:col.
func Compile(ctx context.Context, repo []File, opts Options) (*Set, error) {
	l, err := load(repo, opts, false)
	if err != nil {
		return nil, err
	}

	// Each definition of a finding rule gets a copy under a generated name
	// in its own module. Evaluating the copies one by one attributes every
	// message to the definition (file:line) that produced it, which
	// evaluating data.pkg.deny as a whole cannot.
	s := &Set{timeout: l.timeout, onRule: opts.OnRule}
	type copied struct {
		fr   *findingRule
		path ast.Ref
	}
	var copies []copied
	originals := map[string]string{} // generated name -> rule name
	names := make([]string, 0, len(l.modules))
	for n := range l.modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m := l.modules[name]
		var extra []*ast.Rule
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(r.Head.Args) > 0 {
				continue // a function, not a document
			}
			head, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			isFinding, deny := findingName(string(head))
			if !isFinding {
				continue
			}
			gen := ast.Var(fmt.Sprintf("__runner_finding_%d__", len(copies)))
			originals[string(gen)] = string(head)
			c := r.Copy()
			c.Annotations = nil
			for e := c; e != nil; e = e.Else {
				nref := e.Head.Ref().Copy()
				nref[0] = ast.VarTerm(string(gen))
				e.Head.Name = gen
				e.Head.SetRef(nref)
			}
			c.Module = m
			extra = append(extra, c)
			loc := r.Loc()
			copies = append(copies, copied{
				fr: &findingRule{
					deny:    deny,
					rule:    m.Package.Path.Append(ast.StringTerm(string(head))).String(),
					file:    loc.File,
					line:    loc.Row,
					builtin: l.builtin[name],
				},
				path: m.Package.Path.Append(ast.StringTerm(string(gen))),
			})
		}
		m.Rules = append(m.Rules, extra...)
	}

	compiler := ast.NewCompiler().
		WithCapabilities(l.caps).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(false)
	if opts.OnRule != nil {
		// Parsing is done; a child killed while compiling names this
		// step, not the last file parsed.
		opts.OnRule(CompileStep, 0)
	}
	if compiler.Compile(l.modules); compiler.Failed() {
		// A broken finding rule fails twice, as itself and as its copy:
		// name the copy like the original so that the two errors merge.
		for _, e := range compiler.Errors {
			e.Message = generatedName.ReplaceAllStringFunc(e.Message, func(g string) string {
				return originals[g]
			})
		}
		return nil, newCompileError(compiler.Errors)
	}
	for _, c := range copies {
		q, err := rego.New(
			rego.Compiler(compiler),
			rego.Store(l.store),
			rego.Capabilities(l.caps),
			rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(c.path)))),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy: prepare %s (%s:%d): %w", c.fr.rule, c.fr.file, c.fr.line, err)
		}
		c.fr.query = q
		s.rules = append(s.rules, c.fr)
	}
	return s, nil
}

// Eval evaluates every deny and warn rule on the input document (see
// README.md; version InputVersion), within the time limit. The input is a
// *pipeline.PolicyInput, an OPA value (ast.Value) or anything that encodes
// to the document's JSON. Rules run on up to GOMAXPROCS goroutines; the
// result is the one evaluating them in order gives. A rule that fails at
// run time, yields a bad message or runs out of time gives an error
// (errors.Join of *EvalError); the run must then be treated as denied.
func (s *Set) Eval(ctx context.Context, input any) (Result, error) {
	in, err := inputValue(input)
	if err != nil {
		return Result{}, fmt.Errorf("policy input: %w", err)
	}
	obj, ok := in.(ast.Object)
	if !ok {
		return Result{}, fmt.Errorf("policy input must be an object, got %s", ast.ValueName(in))
	}
	if v := obj.Get(ast.StringTerm("version")); v == nil || !v.Equal(ast.IntNumberTerm(InputVersion)) {
		return Result{}, fmt.Errorf("policy input: version must be %d, got %v", InputVersion, v)
	}

	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	outs := s.evalRules(tctx, in)
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("policy evaluation: %w", ctx.Err())
	}
	res := Result{Deny: []Finding{}, Warn: []Finding{}} // [] in JSON, not null
	var errs []error
	seen := map[[2]string]bool{} // rule, message: a rule's messages are a set
	// In the rules' order, as if evaluated one after the other.
	for i, r := range s.rules {
		o := outs[i]
		if !o.done {
			break // not started: after a rule that ran out of time
		}
		rs, err := o.rs, o.err
		if err != nil {
			if o.late {
				errs = append(errs, &EvalError{File: r.file, Line: r.line, Rule: r.rule,
					Err: fmt.Errorf("evaluation stopped at the time limit of %s (does the rule iterate over a huge range?): %w", s.timeout, context.DeadlineExceeded)})
				break // every later rule would fail the same way
			}
			errs = append(errs, &EvalError{File: r.file, Line: r.line, Rule: r.rule, Err: err})
			continue
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			continue // undefined: no findings
		}
		fs, err := r.findings(rs[0].Expressions[0].Value)
		if err != nil {
			errs = append(errs, &EvalError{File: r.file, Line: r.line, Rule: r.rule, Err: err})
			continue
		}
		for _, f := range fs {
			k := [2]string{f.Rule, f.Message}
			if seen[k] {
				continue
			}
			seen[k] = true
			if r.deny {
				res.Deny = append(res.Deny, f)
			} else {
				res.Warn = append(res.Warn, f)
			}
		}
	}
	sortFindings(res.Deny)
	sortFindings(res.Warn)
	return res, errors.Join(errs...)
}

// ruleOutcome is what evaluating one rule gave.
type ruleOutcome struct {
	rs   rego.ResultSet
	err  error
	late bool // err came after the time limit
	done bool // evaluated (none is started after the time limit)
}

// evalRules evaluates every rule on in, on up to GOMAXPROCS goroutines
// (the rules are independent queries; a PreparedEvalQuery is safe for
// concurrent use). OnRule is called as each rule starts and, when a
// goroutine runs out of rules, again for the first rule still running, so
// that the last call names a rule at work (what a killed child reports).
func (s *Set) evalRules(tctx context.Context, in ast.Value) []ruleOutcome {
	outs := make([]ruleOutcome, len(s.rules))
	var mu sync.Mutex
	next := 0
	running := make([]bool, len(s.rules))
	// claim ends rule prev (-1: none) and takes the next one, or reports
	// the first rule still running and returns -1.
	claim := func(prev int) int {
		mu.Lock()
		defer mu.Unlock()
		if prev >= 0 {
			running[prev] = false
		}
		if next < len(s.rules) && tctx.Err() == nil {
			i := next
			next++
			running[i] = true
			if s.onRule != nil {
				s.onRule(s.rules[i].file, s.rules[i].line)
			}
			return i
		}
		if s.onRule != nil {
			if i := slices.Index(running, true); i >= 0 {
				s.onRule(s.rules[i].file, s.rules[i].line)
			}
		}
		return -1
	}
	work := func() {
		for i := claim(-1); i >= 0; i = claim(i) {
			rs, err := s.rules[i].query.Eval(tctx, rego.EvalParsedInput(in))
			outs[i] = ruleOutcome{rs: rs, err: err, late: err != nil && tctx.Err() != nil, done: true}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(s.rules)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return outs
}

// findings turns a rule's value into findings. Like conftest, a rule's value
// is a set (or array) of messages, each a string or an object with a string
// "msg" field (its other fields become Details).
func (r *findingRule) findings(v any) ([]Finding, error) {
	items, ok := v.([]any)
	if !ok {
		hint := ""
		if _, obj := v.(map[string]any); obj {
			hint = "; in Rego v1, `deny[msg] if` builds an object"
		}
		return nil, fmt.Errorf("must be a set of messages (`%s contains msg if {...}`), got %s%s",
			r.rule[strings.LastIndex(r.rule, ".")+1:], jsonKind(v), hint)
	}
	fs := make([]Finding, 0, len(items))
	for _, it := range items {
		f := Finding{File: r.file, Line: r.line, Rule: r.rule, Builtin: r.builtin}
		switch it := it.(type) {
		case string:
			f.Message = it
		case map[string]any:
			msg, ok := it["msg"].(string)
			if !ok {
				return nil, fmt.Errorf("a message object must have a string \"msg\" field, got %s", short(it))
			}
			f.Message = msg
			for k, x := range it {
				if k == "msg" {
					continue
				}
				if f.Details == nil {
					f.Details = map[string]any{}
				}
				f.Details[k] = x
			}
		default:
			return nil, fmt.Errorf("a message must be a string (or an object with a string \"msg\"), got %s %s", jsonKind(it), short(it))
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// jsonKind names the JSON type of a value as rego returns it.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, float64, int:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// short renders a value as JSON, cut to a readable length.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const limit = 80
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.Builtin == "") != (b.Builtin == "") {
			return a.Builtin == ""
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Message < b.Message
	})
}
