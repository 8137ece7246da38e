// Package pipelinetest runs the real pipeline in a backend's tests: an infra
// repo made with gitrepotest and pushed with the real git, evaluated, planned
// and applied by a pipeline.Runner over the backends under test, the way a
// push reaches the runner.
package pipelinetest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/examples"
	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Lab is an infra repo (In) and a pipeline.Runner reading it. Runner's
// fields (Policy, Exec) may be changed between runs.
type Lab struct {
	tb     testing.TB
	In     *gitrepotest.Repo
	Runner *pipeline.Runner
}

// New makes an empty infra repo and a Runner over it applying to bs with
// exec; it has no policies (set Runner.Policy for them).
func New(tb testing.TB, exec steps.ExecOptions, bs ...steps.Backend) *Lab {
	tb.Helper()
	in := gitrepotest.New(tb)
	repo, err := gitstore.Open(in.Bare)
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := steps.NewRegistry(bs...)
	if err != nil {
		tb.Fatal(err)
	}
	return &Lab{tb: tb, In: in, Runner: &pipeline.Runner{Repo: repo, Registry: reg, Exec: exec}}
}

// Run runs the pipeline once, over what was last pushed; an error (as
// opposed to a report of a failed run) fails the test.
func (l *Lab) Run() *pipeline.Report {
	l.tb.Helper()
	rep, err := l.Runner.Run(context.Background(), pipeline.Request{})
	if err != nil {
		l.tb.Fatal(err)
	}
	return rep
}

// Status is a file of the status branch the runs committed.
func (l *Lab) Status(path string) string {
	l.tb.Helper()
	return l.In.Git(l.In.Bare, "show", "status:"+path)
}

// Homelab is the content of a file of the reference homelab
// (examples/homelab), e.g. "homelab.libsonnet".
func Homelab(tb testing.TB, name string) string {
	tb.Helper()
	b, err := fs.ReadFile(examples.Homelab, "homelab/"+name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Import runs `runner import` of sources into a new directory, checked
// against a registry of their backends, and returns what it wrote: the
// result and each file's content by name.
func Import(tb testing.TB, sources ...importer.Source) (*importer.Result, map[string]string) {
	tb.Helper()
	var bs []steps.Backend
	for _, s := range sources {
		b, ok := s.Backend.(steps.Backend)
		if !ok {
			tb.Fatalf("import source %s is not a backend", s.Name)
		}
		bs = append(bs, b)
	}
	reg, err := steps.NewRegistry(bs...)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "infra")
	res, err := importer.Run(tb.Context(), reg, importer.Request{Sources: sources, Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range res.Files {
		b, err := os.ReadFile(filepath.Join(dir, f)) //nolint:gosec // the test's own directory
		if err != nil {
			tb.Fatal(err)
		}
		files[f] = string(b)
	}
	return res, files
}

// FileHas fails the test unless the file name of files (as Import returns
// them) contains each of wants.
func FileHas(tb testing.TB, files map[string]string, name string, wants ...string) {
	tb.Helper()
	for _, want := range wants {
		if !strings.Contains(files[name], want) {
			tb.Errorf("%s lacks %q:\n%s", name, want, files[name])
		}
	}
}

// SameFiles fails the test unless again holds the files of first with the
// same content: a second import of an adopted import writes nothing new.
func SameFiles(tb testing.TB, first, again map[string]string) {
	tb.Helper()
	for name, b := range first {
		if again[name] != b {
			tb.Errorf("a second import wrote %s differently:\n%s\n---\n%s", name, b, again[name])
		}
	}
}
