package gitolitetest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// component is one program the harness runs, with the Debian package that
// provides it.
type component struct {
	program string
	pkg     string
	// alt are absolute fallbacks for programs outside a non-root PATH
	// (sshd, useradd and userdel live in /usr/sbin).
	alt []string
}

// components lists everything Start needs. The packages are the Debian
// bookworm ones (docs/api-facts.md §7); gitolite3 depends on openssh-server.
func components(root bool) []component {
	cs := []component{
		{program: "gitolite", pkg: "gitolite3"},
		{program: "sshd", pkg: "openssh-server", alt: []string{"/usr/sbin/sshd"}},
		{program: "ssh", pkg: "openssh-client"},
		{program: "ssh-keygen", pkg: "openssh-client"},
		{program: "git", pkg: "git"},
	}
	if root {
		cs = append(cs,
			component{program: "useradd", pkg: "passwd", alt: []string{"/usr/sbin/useradd"}},
			component{program: "userdel", pkg: "passwd", alt: []string{"/usr/sbin/userdel"}},
		)
	}
	return cs
}

// findPrograms resolves every component with lookPath (exec.LookPath in
// production). It returns the absolute paths by program name and, if some
// are missing, a message naming the Debian packages to install.
func findPrograms(cs []component, lookPath func(string) (string, error)) (map[string]string, string) {
	paths := make(map[string]string, len(cs))
	var missing, pkgs []string
	seen := map[string]bool{}
	for _, c := range cs {
		p, err := lookPath(c.program)
		for _, a := range c.alt {
			if err == nil {
				break
			}
			p, err = lookPath(a)
		}
		if err != nil {
			missing = append(missing, c.program)
			if !seen[c.pkg] {
				seen[c.pkg] = true
				pkgs = append(pkgs, c.pkg)
			}
			continue
		}
		paths[c.program] = p
	}
	if len(missing) == 0 {
		return paths, ""
	}
	return paths, fmt.Sprintf("gitolitetest: %s not installed; install the Debian packages: apt-get install -y %s",
		strings.Join(missing, ", "), strings.Join(pkgs, " "))
}

// requirePrograms stops the test when a component is missing
// (testenv.Missing: a failure when CI=true, CI must never silently skip
// end-to-end tests; a skip otherwise).
func requirePrograms(tb testing.TB, root bool) map[string]string {
	tb.Helper()
	paths, msg := findPrograms(components(root), exec.LookPath)
	if msg == "" {
		return paths
	}
	testenv.Missing(tb, "%s", msg)
	return nil
}
