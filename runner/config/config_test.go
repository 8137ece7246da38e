package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadReportsEveryProblem: a configuration with several mistakes gets
// one line for each, naming the file and the field; a mistyped key gets the
// key it most likely means; no hint about `runner eval`, which reads infra
// repos, not config files (issue 17, item 3).
func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "runner.jsonnet")
	src := `{
  concurency: 8,
  repos: [{path: 'a.git'}, {path: 'b/a.git', branch: 'status'}],
  log: {format: 'yaml', levl: 'warn'},
  limits: {evalTimeout: 'soon'},
}`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	if err == nil {
		t.Fatal("Load accepted a bad config")
	}
	msg := err.Error()
	for _, want := range []string{
		`field concurency: unknown field (did you mean "concurrency"?)`,
		`field log.levl: unknown field (did you mean "level"?)`,
		`field limits.evalTimeout: `,
		`field log.format: "yaml" is not text or json`,
		`field repos[1].name: "a" is used twice`,
		`field repos[1].statusBranch: must differ from branch "status"`,
	} {
		if !strings.Contains(msg, "config "+file+": "+want) {
			t.Errorf("the error lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 6 {
		t.Errorf("%d lines, want 6 (one per problem):\n%s", n, msg)
	}
	if strings.Contains(msg, "runner eval") {
		t.Errorf("the error points at `runner eval`, which does not read config files:\n%s", msg)
	}
}
