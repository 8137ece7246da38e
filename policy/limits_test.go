package policy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
)

func TestFileLimits(t *testing.T) {
	t.Parallel()
	small := func(path string) policy.File { return rego(path, "package p\n") }
	padded := func(path string, size int) policy.File {
		src := "package p\n"
		return rego(path, src+strings.Repeat("#", size-len(src)))
	}
	many := func(n int) []policy.File {
		var fs []policy.File
		for i := range n {
			fs = append(fs, small(fmt.Sprintf("policy/p%03d.rego", i)))
		}
		return fs
	}
	tests := []struct {
		name    string
		repo    []policy.File
		opts    policy.Options
		want    *policy.SizeError // nil: accepted
		wantMsg string
	}{
		{name: "200 files by default", repo: many(200)},
		{
			name:    "201 files",
			repo:    many(201),
			want:    &policy.SizeError{Option: "MaxFiles", Limit: 200, File: "policy/p200.rego", Size: 201},
			wantMsg: "policy: 201 policy files, more than the limit of 200 (a fixed limit of the runner); policy/p200.rego is file 201",
		},
		{
			name: "tests count too",
			repo: []policy.File{small("policy/a.rego"), small("policy/a_test.rego"), small("policy/b_test.rego")},
			opts: policy.Options{MaxFiles: 2},
			want: &policy.SizeError{Option: "MaxFiles", Limit: 2, File: "policy/b_test.rego", Size: 3},
		},
		{
			name: "non-rego files do not count",
			repo: append(many(2), policy.File{Path: "policy/README.md", Source: make([]byte, 2<<20)}),
			opts: policy.Options{MaxFiles: 2},
		},
		{name: "1 MiB file by default", repo: []policy.File{padded("policy/big.rego", 1<<20)}},
		{
			name:    "file over 1 MiB",
			repo:    []policy.File{small("policy/a.rego"), padded("policy/huge.rego", 3<<19)},
			want:    &policy.SizeError{Option: "MaxFileBytes", Limit: 1 << 20, File: "policy/huge.rego", Size: 3 << 19},
			wantMsg: "policy: policy/huge.rego is 1.5 MiB, more than the limit of 1 MiB per policy file (a fixed limit of the runner)",
		},
		{
			name: "configured file limit",
			repo: []policy.File{padded("policy/a.rego", 2000)},
			opts: policy.Options{MaxFileBytes: 1000},
			want: &policy.SizeError{Option: "MaxFileBytes", Limit: 1000, File: "policy/a.rego", Size: 2000},
		},
		{
			name: "total over 8 MiB",
			repo: func() []policy.File {
				var fs []policy.File
				for i := range 9 {
					fs = append(fs, padded(fmt.Sprintf("policy/p%d.rego", i), 1<<20))
				}
				return fs
			}(),
			want:    &policy.SizeError{Option: "MaxTotalBytes", Limit: 8 << 20, File: "policy/p8.rego", Size: 9 << 20},
			wantMsg: "policy: the policy files total 9 MiB, more than the limit of 8 MiB (a fixed limit of the runner); the total went over at policy/p8.rego",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Disabled = policy.Builtins()
			_, cerr := policy.Compile(context.Background(), tc.repo, opts)
			_, terr := policy.Test(context.Background(), tc.repo, opts)
			for _, err := range []error{cerr, terr} {
				if tc.want == nil {
					if err != nil {
						t.Errorf("err = %v, want accepted", err)
					}
					continue
				}
				var se *policy.SizeError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v (%T), want *SizeError", err, err)
				}
				if *se != *tc.want {
					t.Errorf("SizeError = %+v, want %+v", *se, *tc.want)
				}
				if tc.wantMsg != "" && err.Error() != tc.wantMsg {
					t.Errorf("err = %q\nwant  %q", err, tc.wantMsg)
				}
			}
		})
	}
}

func TestFileLimitsCheckedBeforeParsing(t *testing.T) {
	t.Parallel()
	// Not Rego at all: a parse would fail with a CompileError.
	repo := []policy.File{rego("policy/x.rego", strings.Repeat("{", 2000))}
	_, err := policy.Compile(context.Background(), repo, policy.Options{MaxFileBytes: 1000})
	var se *policy.SizeError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *SizeError", err, err)
	}
}

func TestNegativeFileLimit(t *testing.T) {
	t.Parallel()
	if _, err := policy.Compile(context.Background(), nil, policy.Options{MaxTotalBytes: -1}); err == nil || !strings.Contains(err.Error(), "negative file limit") {
		t.Errorf("err = %v, want a negative file limit error", err)
	}
}

func TestOnRule(t *testing.T) {
	t.Parallel()
	repo := []policy.File{
		rego("policy/a.rego", `package a

deny contains "a" if true

warn contains "w" if true
`),
		rego("policy/b.rego", `package b

helper := 1

deny contains "b" if helper == 1
`),
	}
	var calls []string
	opts := policy.Options{Disabled: policy.Builtins(), OnRule: func(file string, line int) {
		calls = append(calls, fmt.Sprintf("%s:%d", file, line))
	}}
	s, err := policy.Compile(context.Background(), repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "policy/a.rego:0 policy/b.rego:0 " + policy.CompileStep + ":0"; strings.Join(calls, " ") != want {
		t.Errorf("OnRule calls while compiling = %v, want %s", calls, want)
	}
	calls = nil
	res, err := s.Eval(context.Background(), doc(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deny) != 2 {
		t.Errorf("deny = %v, want a and b", res.Deny)
	}
	// Rules are evaluated in parallel: a rule still running when another
	// goroutine runs out of rules is named again.
	var first []string
	for _, c := range calls {
		if !slices.Contains(first, c) {
			first = append(first, c)
		}
	}
	if want := "policy/a.rego:3 policy/a.rego:5 policy/b.rego:5"; strings.Join(first, " ") != want || len(calls) > 2*len(first) {
		t.Errorf("OnRule calls while evaluating = %v, want %s, each once and maybe again", calls, want)
	}
}

func TestOnRuleNamesBuiltins(t *testing.T) {
	t.Parallel()
	var files []string
	s, err := policy.Compile(context.Background(), nil, policy.Options{OnRule: func(file string, _ int) { files = append(files, file) }})
	if err != nil {
		t.Fatal(err)
	}
	files = nil // compiling names CompileStep; evaluating names the rules
	if _, err := s.Eval(context.Background(), doc(nil)); err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 || !strings.HasPrefix(files[0], "builtin/") {
		t.Errorf("OnRule files = %v, want the built-ins' files", files)
	}
}
