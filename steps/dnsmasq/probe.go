package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Probe checks every site for `runner doctor`, sites in parallel, changing
// nothing: it reads the three files (over SSH: the connection, the key and
// the pinned host key), checks that their directories exist and that the
// runner's user can write them (the new file is written next to the old),
// and runs `dnsmasq --test` with the site's configuration. Every site is
// probed; when some fail, the error is a *ProbeError naming each, with a
// fix for each. The time is zero: there is no server clock (see Clockless).
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if b.sites == nil {
		return "", time.Time{}, ErrNotConfigured
	}
	names := slices.Sorted(maps.Keys(b.sites))
	fails := make([]*SiteFailure, len(names))
	var g errgroup.Group // not WithContext: every site is probed
	g.SetLimit(8)
	for i, name := range names {
		g.Go(func() error {
			fails[i] = b.sites[name].probe(ctx, name)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	pe := &ProbeError{}
	for i, name := range names {
		where := fmt.Sprintf("%s (%s)", name, b.sites[name].tr.where())
		if fails[i] != nil {
			pe.Failures = append(pe.Failures, fails[i])
		} else {
			pe.OK = append(pe.OK, where)
		}
	}
	if len(pe.Failures) > 0 {
		return "", time.Time{}, pe
	}
	return "files readable, their directories writable and dnsmasq --test passes at " + strings.Join(pe.OK, ", "), time.Time{}, nil
}

// Clockless tells runner doctor there is no clock to compare: dnsmasq's
// files are read and written with no server time involved.
func (b *Backend) Clockless() {}

// ProbeError is a probe in which some sites failed.
type ProbeError struct {
	Failures []*SiteFailure
	OK       []string // the sites that passed, "name (where)"
}

// SiteFailure is one site's failed probe and what to do about it.
type SiteFailure struct {
	Site, Where string
	Err         error
	FixText     string
}

func (e *ProbeError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = fmt.Sprintf("site %s (%s): %v", f.Site, f.Where, f.Err)
	}
	s := strings.Join(parts, "; ")
	if len(e.OK) > 0 {
		s += " (the other sites pass: " + strings.Join(e.OK, ", ") + ")"
	}
	return s
}

// Fix says what to do, per failed site (runner doctor shows it after →).
func (e *ProbeError) Fix() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Site + ": " + f.FixText
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives the sites' errors (errors.As finds a *HostKeyError).
func (e *ProbeError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// dirCheck prints "missing DIR" or "unwritable DIR" for the first
// directory of its arguments that does not exist or that the user cannot
// write (test -d, test -w: POSIX test), and exits 1 then.
const dirCheck = `for d; do if [ ! -d "$d" ]; then echo "missing $d"; exit 1; elif [ ! -w "$d" ]; then echo "unwritable $d $(id -un)"; exit 1; fi; done`

// probe checks one site; nil when it passes.
func (s *Site) probe(ctx context.Context, name string) *SiteFailure {
	fail := func(err error, fix string) *SiteFailure {
		return &SiteFailure{Site: name, Where: s.tr.where(), Err: err, FixText: fix}
	}
	files := []string{s.AddnHosts, s.DHCPHostsfile, s.ServersFile}
	if _, err := s.tr.read(ctx, files); err != nil {
		var he *HostKeyError
		switch {
		case errors.As(err, &he):
			return fail(err, "compare the host's key with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it, then correct its line in "+he.KnownHostsFile)
		case s.SSH != nil:
			return fail(fmt.Errorf("read its files: %w", err), fmt.Sprintf("check backends.dnsmasq.sites.%s.ssh (host, port, user, identityFile) and that this host can reach it, and that the user can read %s", name, strings.Join(files, ", ")))
		default:
			return fail(fmt.Errorf("read its files: %w", err), "let the runner's user read "+strings.Join(files, ", "))
		}
	}
	var dirs []string
	for _, f := range files {
		if d := path.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	if out, err := s.tr.run(ctx, append([]string{"sh", "-c", dirCheck, "sh"}, dirs...)); err != nil {
		what, rest, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		switch what {
		case "missing":
			return fail(fmt.Errorf("directory %s does not exist", rest),
				fmt.Sprintf("create %s there, writable by the runner's user (it writes the new files next to the old), and name its files in dnsmasq's configuration", rest))
		case "unwritable":
			dir, user, _ := strings.Cut(rest, " ")
			return fail(fmt.Errorf("directory %s is not writable by %s", dir, user),
				fmt.Sprintf("let %s write %s (e.g. chown %s %s): the runner writes the new files next to the old and renames them", user, dir, user, dir))
		}
		return fail(fmt.Errorf("check the files' directories: %w", err), "check that the host has a POSIX sh")
	}
	if _, err := s.tr.run(ctx, []string{s.Dnsmasq, "--test", "--conf-file=" + s.ConfFile}); err != nil {
		return fail(fmt.Errorf("dnsmasq --test --conf-file=%s: %w", s.ConfFile, err),
			fmt.Sprintf("if dnsmasq is not found, install it there or set backends.dnsmasq.sites.%s.dnsmasq to its path (a login shell's PATH may lack /usr/sbin); otherwise correct dnsmasq's configuration %s", name, s.ConfFile))
	}
	return nil
}
