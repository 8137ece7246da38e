package main

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// testBackend is the steptest backend, configured from backends.test:
// {stateFile, fail: [IDs], delay}. Its world lives in stateFile so that
// separate runner processes share it.
var testBackend = backendFactory{name: "test", build: func(raw json.RawMessage, _ *steps.Redactor) (steps.Backend, error) {
	var c struct {
		StateFile string   `json:"stateFile"`
		Fail      []string `json:"fail"`
		Delay     string   `json:"delay"`
	}
	if raw != nil {
		if err := steps.DecodeStrict(raw, &c); err != nil {
			return nil, err
		}
	}
	b := steptest.New()
	if c.StateFile != "" {
		b = steptest.NewFile(c.StateFile)
	}
	for _, s := range c.Fail {
		id, err := steps.ParseID(s)
		if err != nil {
			return nil, err
		}
		b.Fail(id, steptest.Fault{Times: -1})
	}
	if c.Delay != "" {
		d, err := time.ParseDuration(c.Delay)
		if err != nil {
			return nil, err
		}
		b.Delay = d
	}
	return b, nil
}}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"runner": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, []backendFactory{testBackend})) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script: real git, real
// runner processes, one readable file per scenario.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("GIT_AUTHOR_NAME", "Alice")
			env.Setenv("GIT_AUTHOR_EMAIL", "alice@example.org")
			env.Setenv("GIT_COMMITTER_NAME", "Alice")
			env.Setenv("GIT_COMMITTER_EMAIL", "alice@example.org")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
	})
}
