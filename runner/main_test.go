package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	sandbox.Serve() // the runner's evaluation children are this binary too
	// A configuration without stateDir must not write into the system's
	// /var/lib/gitops-runner (CI runs as root: files left there broke the
	// Debian package test). A script's runner uses its $WORK, the tests in
	// this process a directory removed after them.
	if work := os.Getenv("WORK"); work != "" {
		config.DefaultStateDir = filepath.Join(work, ".runner-state")
	} else {
		dir, err := os.MkdirTemp("", "runner-state-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		config.DefaultStateDir = dir
		stateDir = dir
	}
	testscript.Main(cleaningM{m}, map[string]func(){
		"runner": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, []backendFactory{testBackend})) },
		// enqueue SPOOL REPO REV: queue a deploy job as the post-receive
		// hook does, without starting a worker (scripts start their own).
		"enqueue": func() {
			if len(os.Args) != 4 {
				fmt.Fprintln(os.Stderr, "usage: enqueue SPOOL REPO REV")
				os.Exit(2)
			}
			repo, err := gitstore.Open(os.Args[2])
			if err == nil {
				var h plumbing.Hash
				if h, err = repo.Resolve(os.Args[3]); err == nil {
					var sp *queue.Spool
					if sp, err = queue.Open(os.Args[1]); err == nil {
						err = sp.Add(&queue.Job{Repo: repo.Path(), Ref: "refs/heads/main", New: h.String(), Pusher: "alice", PushedAt: time.Now()})
					}
				}
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		},
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
		// [root]: the test runs as root (CI does); a script that needs it
		// fails, not skips, in CI when it is not.
		Condition: func(cond string) (bool, error) {
			if cond != "root" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			if os.Geteuid() != 0 && os.Getenv("CI") == "true" {
				return false, fmt.Errorf("[root]: CI must run the tests as root")
			}
			return os.Geteuid() == 0, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// chown UID PATH...: give files to another user (needs root).
			"chown": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: chown UID PATH...")
				}
				uid, err := strconv.Atoi(args[0])
				ts.Check(err)
				for _, p := range args[1:] {
					ts.Check(os.Chown(ts.MkAbs(p), uid, -1))
				}
			},
		},
	})
}

// cleaningM runs the tests, then removes what they shared across tests
// (the runner binary plugin builds once).
type cleaningM struct{ m *testing.M }

// stateDir is the default state directory of this process's tests.
var stateDir string

func (c cleaningM) Run() int {
	code := c.m.Run()
	if stateDir != "" {
		_ = os.RemoveAll(stateDir)
	}
	if pluginBuild.dir != "" {
		_ = os.RemoveAll(pluginBuild.dir)
	}
	return code
}
