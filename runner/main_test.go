package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

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
