package policy_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
)

func TestRefusedBuiltins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, call string
	}{
		{"http.send", `http.send({"method": "GET", "url": "http://169.254.169.254/"})`},
		{"net.lookup_ip_addr", `net.lookup_ip_addr("example.com")`},
		{"opa.runtime", `opa.runtime()`},
		{"rego.parse_module", `rego.parse_module("x.rego", "package x")`},
		{"json.match_schema", `json.match_schema({}, {"$ref": "file:///etc/passwd"})`},
		{"json.verify_schema", `json.verify_schema({"$ref": "file:///etc/passwd"})`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := "package main\n\ndeny contains msg if {\n\tx := " + tc.call + "\n\tmsg := sprintf(\"%v\", [x])\n}\n"
			for _, run := range []func([]policy.File) error{
				func(r []policy.File) error {
					_, err := policy.Compile(context.Background(), r, policy.Options{})
					return err
				},
				func(r []policy.File) error {
					_, err := policy.Test(context.Background(), r, policy.Options{})
					return err
				},
			} {
				err := run([]policy.File{rego("policy/escape.rego", src)})
				var ce *policy.CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("error = %v, want a *CompileError", err)
				}
				want := policy.Position{File: "policy/escape.rego", Line: 4, Col: 7}
				p := ce.Positions[0]
				if p.File != want.File || p.Line != want.Line || p.Col != want.Col ||
					!containsAll(p.Message, "builtin "+tc.name+" is refused") {
					t.Errorf("position = %+v, want %s:%d:%d and a refusal of %s", p, want.File, want.Line, want.Col, tc.name)
				}
				if !strings.Contains(err.Error(), "policy/escape.rego:4:7: builtin "+tc.name+" is refused") {
					t.Errorf("Error() = %q", err)
				}
			}
		})
	}
}

func TestRefusedBuiltinMockedInTest(t *testing.T) {
	t.Parallel()
	repo := []policy.File{rego("policy/x_test.rego", "package x_test\n\ntest_mock if {\n\ttrue with http.send as {\"status_code\": 200}\n}\n")}
	_, err := policy.Test(context.Background(), repo, policy.Options{})
	if err == nil || !strings.Contains(err.Error(), "policy/x_test.rego:4:7: builtin http.send is refused") {
		t.Errorf("error = %v, want http.send refused at 4:7", err)
	}
}

func TestPureNetBuiltinsAllowed(t *testing.T) {
	t.Parallel()
	repo := []policy.File{rego("policy/net.rego", `package main

deny contains "private" if net.cidr_contains("10.0.0.0/8", "10.1.2.3")
`)}
	got := eval(t, repo, allBuiltinsOff, doc(nil))
	if !reflect.DeepEqual(messages(got.Deny), []string{"private"}) {
		t.Errorf("deny = %q", messages(got.Deny))
	}
}

func TestRefusedBuiltinsList(t *testing.T) {
	t.Parallel()
	got := policy.RefusedBuiltins()
	for _, name := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime"} {
		found := false
		for _, g := range got {
			found = found || g == name
		}
		if !found {
			t.Errorf("RefusedBuiltins() = %q lacks %s", got, name)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	type compileCase struct {
		name string
		repo []policy.File
		want []policy.Position // Message is matched as a substring
	}
	// inFile is a case of one file whose errors are all in that file.
	inFile := func(name, path, src string, want ...policy.Position) compileCase {
		for i := range want {
			want[i].File = path
		}
		return compileCase{name: name, repo: []policy.File{rego(path, src)}, want: want}
	}
	tests := []compileCase{
		inFile("syntax error", "policy/a.rego", "package main\n\ndeny contains msg if {\n\tmsg := \"x\" +\n}\n",
			policy.Position{Line: 5, Col: 1, Message: "rego_parse_error"}),
		inFile("v0 syntax", "policy/old.rego", "package main\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n",
			policy.Position{Line: 3, Col: 1, Message: "`if` keyword is required"},
			policy.Position{Line: 3, Col: 1, Message: "`contains` keyword is required"}),
		inFile("unsafe variable", "policy/b.rego", "package main\n\ndeny contains msg if {\n\tinput.x == y\n\tmsg := \"x\"\n}\n",
			policy.Position{Line: 4, Col: 2, Message: "var y is unsafe in rule deny"}),
		inFile("unknown function", "policy/c.rego", "package main\n\ndeny contains msg if {\n\tmsg := no.such_fn(1)\n}\n",
			policy.Position{Line: 4, Col: 9, Message: "undefined function no.such_fn"}),
		{
			name: "parse errors in two files, sorted",
			repo: []policy.File{
				rego("policy/z.rego", "package main\n\nwarn contains msg if {\n\tmsg := \n}\n"),
				rego("policy/y.rego", "package main\n\ndeny contains \"x\" if {\n"),
			},
			want: []policy.Position{
				{File: "policy/y.rego", Line: 4, Message: "unexpected eof"},
				{File: "policy/z.rego", Line: 5, Message: "rego_parse_error"},
			},
		},
		{
			name: "compile errors in two files, sorted",
			repo: []policy.File{
				rego("policy/z.rego", "package main\n\nwarn contains msg if {\n\tmsg := q\n}\n"),
				rego("policy/y.rego", "package main\n\ndeny contains msg if {\n\tmsg := r\n}\n"),
			},
			want: []policy.Position{
				{File: "policy/y.rego", Line: 4, Col: 2, Message: "var r is unsafe in rule deny"},
				{File: "policy/z.rego", Line: 4, Col: 2, Message: "var q is unsafe in rule warn"},
			},
		},
		inFile("reserved package", "policy/r.rego", "package runner.config\n\novercommit := 9\n",
			policy.Position{Line: 1, Col: 1, Message: "package runner.config is reserved"}),
		inFile("empty file", "policy/e.rego", "# nothing here\n", policy.Position{Message: "needs a package"}),
		{
			name: "file given twice",
			repo: []policy.File{rego("policy/d.rego", "package main\n"), rego("policy/d.rego", "package main\n")},
			want: []policy.Position{{File: "policy/d.rego", Message: "file given twice"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.Compile(context.Background(), tc.repo, policy.Options{})
			var ce *policy.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a *CompileError", err)
			}
			if len(ce.Positions) != len(tc.want) {
				t.Fatalf("positions = %+v, want %d", ce.Positions, len(tc.want))
			}
			for i, w := range tc.want {
				p := ce.Positions[i]
				if p.File != w.File || p.Line != w.Line || (w.Col != 0 && p.Col != w.Col) || !strings.Contains(p.Message, w.Message) {
					t.Errorf("position %d = %+v, want %+v", i, p, w)
				}
			}
		})
	}
}
