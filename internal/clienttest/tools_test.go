package clienttest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// debianPython is the interpreter Debian's python3-* packages install for;
// a python3 earlier in PATH (pyenv, a virtualenv) does not see them.
const debianPython = "/usr/bin/python3"

// needPython fails or skips (testenv.Missing) unless Debian's python3 can import
// module, and returns that interpreter.
func needPython(t *testing.T, module, debianPackage string) string {
	t.Helper()
	py := debianPython
	if _, err := os.Stat(py); err != nil {
		py = testenv.Program(t, "python3", "python3")
	}
	out, err := exec.Command(py, "-c", "import "+module).CombinedOutput()
	if err == nil {
		return py
	}
	testenv.Missing(t, "python3 cannot import %s: apt-get install -y %s\n%s", module, debianPackage, out)
	return ""
}

// result is what a finished command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a program with exactly env (plus PATH) and a one-minute limit. It
// fails the test only if the program could not be started or timed out; the
// caller judges the exit code.
func run(t *testing.T, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), ctx.Err(), r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// mustRun is run that fails the test unless the program exits 0.
func mustRun(t *testing.T, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	r := run(t, env, stdin, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}
