// Package doctor checks a runner installation end to end, the way an
// operator would by hand: the configuration, the user the runner runs as,
// its state directories, the git hooks of each configured repo, and each
// configured backend (reachable with its credentials, TLS trusted, clocks
// agreeing). `runner doctor` prints every check; the pre-receive hook
// (`runner check`) runs the local ones and refuses a push that could not be
// deployed.
package doctor

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gitops-runner/gitops-runner/runner/config"
)

// Status is the outcome of one check.
type Status string

// The outcomes: OK passed, FAIL must be fixed (the runner cannot deploy, or
// not safely), WARN works but deserves a look, SKIP was not checked (it
// depends on an earlier check that failed, or does not apply).
const (
	OK   Status = "OK"
	Fail Status = "FAIL"
	Warn Status = "WARN"
	Skip Status = "SKIP"
)

// Result is the outcome of one check: what was checked, what was found and,
// unless it passed, what to do.
type Result struct {
	// Check names what was checked: "config", "state directory", "hooks infra".
	Check  string
	Status Status
	// Detail says what was found (a path, an owner, a version).
	Detail string
	// Fix says what to do about a FAIL or WARN ("" for OK).
	Fix string
}

// String renders the result as one line: "OK    config: /etc/… (2 repos)"
// or "FAIL  state directory: … → chown gitolite3: /var/lib/gitops-runner".
func (r Result) String() string {
	s := fmt.Sprintf("%-5s %s: %s", r.Status, r.Check, r.Detail)
	if r.Fix != "" {
		s += " → " + r.Fix
	}
	return s
}

// Failed reports whether any result is a FAIL.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// SystemConfig is where the runner looks for its configuration when neither
// --config nor $RUNNER_CONFIG names one.
const SystemConfig = "/etc/gitops-runner/runner.jsonnet"

// Install is what the local checks look at.
type Install struct {
	// ConfigFile is the configuration file in use ("" when none was found).
	ConfigFile string
	// ConfigFrom says how ConfigFile was chosen ("--config", "$RUNNER_CONFIG",
	// "the default path"), or, when none was found, where the runner looked.
	ConfigFrom string
	// Config is the loaded configuration (nil when not found or invalid).
	Config *config.Config
	// ConfigErr is why loading failed.
	ConfigErr error
	// Repo is the repository a hook runs for (its git directory); "" checks
	// every configured repo.
	Repo string
}

// NotFound is ConfigFrom when no configuration file was found: where the
// runner looked, for the message.
func NotFound(envVar string) string {
	return fmt.Sprintf("$%s is not set and %s does not exist", envVar, SystemConfig)
}

// ConfigCheck reports whether a configuration was found and is valid.
func ConfigCheck(in Install) Result {
	r := Result{Check: "config"}
	switch {
	case in.ConfigFile == "":
		r.Status, r.Detail = Fail, "no runner configuration: "+in.ConfigFrom
		r.Fix = fmt.Sprintf("write %s (the package installs a commented example there), or set RUNNER_CONFIG for the hooks", SystemConfig)
	case in.ConfigErr != nil:
		r.Status, r.Detail = Fail, fmt.Sprintf("%v (from %s)", in.ConfigErr, in.ConfigFrom)
		r.Fix = "correct the file (field names and types are in README.md, Configuration)"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("%s (from %s): %d repos, backends: %s", in.ConfigFile, in.ConfigFrom, len(in.Config.Repos), backendNames(in.Config))
	}
	return r
}

func backendNames(c *config.Config) string {
	var names []string
	for n := range c.Backends {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

// repos are the configured repos the checks look at: the hook's repo only
// when one is given.
func repos(in Install) []config.Repo {
	if in.Repo == "" {
		return in.Config.Repos
	}
	if r, ok := FindRepo(in.Config, in.Repo); ok {
		return []config.Repo{r}
	}
	return nil
}

// FindRepo finds the configured repo named dir, or whose path is dir
// (compared as absolute paths with symlinks resolved).
func FindRepo(c *config.Config, dir string) (config.Repo, bool) {
	want := canonical(dir)
	for _, r := range c.Repos {
		if r.Name == dir || canonical(r.Path) == want {
			return r, true
		}
	}
	return config.Repo{}, false
}

func canonical(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return filepath.Clean(p)
}

// RepoCheck reports whether the hook's repository is in the configuration:
// the post-receive hook queues a push only for a configured repo.
func RepoCheck(in Install) Result {
	r := Result{Check: "repo"}
	if in.Repo == "" {
		if len(in.Config.Repos) == 0 {
			r.Status, r.Detail = Fail, "the configuration lists no repos"
			r.Fix = fmt.Sprintf("add repos: [{ path: '/var/lib/gitolite3/repositories/infra.git' }] to %s", in.ConfigFile)
			return r
		}
		var names []string
		for _, c := range in.Config.Repos {
			names = append(names, c.Name+" ("+c.Path+")")
		}
		r.Status, r.Detail = OK, strings.Join(names, ", ")
		return r
	}
	if c, ok := FindRepo(in.Config, in.Repo); ok {
		r.Status, r.Detail = OK, fmt.Sprintf("%s is repo %s (branch %s)", c.Path, c.Name, c.Branch)
		return r
	}
	r.Status, r.Detail = Fail, fmt.Sprintf("%s is not in the configuration %s", canonical(in.Repo), in.ConfigFile)
	r.Fix = fmt.Sprintf("add { path: '%s' } to repos in %s", canonical(in.Repo), in.ConfigFile)
	return r
}

// WritableCheck reports whether this process can write dir, or create it
// (then its nearest existing parent must be writable). Nothing is created.
func WritableCheck(check, dir, configKey string) Result {
	r := Result{Check: check}
	me := currentUser()
	existing := dir
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				r.Status, r.Detail = Fail, fmt.Sprintf("%s is not a directory", existing)
				r.Fix = fmt.Sprintf("remove it, or point %s elsewhere", configKey)
				return r
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			r.Status, r.Detail = Fail, err.Error()
			r.Fix = fmt.Sprintf("make %s reachable by %s", dir, me)
			return r
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if err := unix.Access(existing, unix.W_OK|unix.X_OK); err != nil {
		r.Status = Fail
		if existing == dir {
			r.Detail = fmt.Sprintf("%s (owner %s) is not writable by %s: %v", dir, owner(dir), me, err)
			r.Fix = fmt.Sprintf("chown %s: %s (or set %s in the config to a directory %s owns)", userName(), dir, configKey, me)
		} else {
			r.Detail = fmt.Sprintf("%s does not exist and %s (owner %s) is not writable by %s: %v", dir, existing, owner(existing), me, err)
			r.Fix = fmt.Sprintf("install -d -o %s %s (or set %s in the config to a directory %s owns)", userName(), dir, configKey, me)
		}
		return r
	}
	r.Status = OK
	if existing == dir {
		r.Detail = fmt.Sprintf("%s writable by %s", dir, me)
	} else {
		r.Detail = fmt.Sprintf("%s will be created (in %s, writable by %s)", dir, existing, me)
	}
	return r
}

// PreReceive runs the checks the pre-receive hook makes before it checks
// a push: a push the post-receive hook could not queue is refused. They are
// local and fast (no network): configuration found and valid, this repo
// configured, state and queue directories writable.
func PreReceive(in Install) []Result {
	rs := []Result{ConfigCheck(in)}
	if rs[0].Status == Fail {
		return rs
	}
	rs = append(rs, RepoCheck(in))
	return append(rs, dirChecks(in)...)
}

// PostReceive runs the checks the post-receive hook makes before it queues
// a push: PreReceive's, except that a repo missing from the configuration
// is deployed with default settings (as `runner apply --repo PATH` does).
func PostReceive(in Install) []Result {
	rs := []Result{ConfigCheck(in)}
	if rs[0].Status == Fail {
		return rs
	}
	return append(rs, dirChecks(in)...)
}

// dirChecks checks the state directory and the queue of each repo.
func dirChecks(in Install) []Result {
	rs := []Result{WritableCheck("state directory", in.Config.StateDir, "stateDir")}
	rr := repos(in)
	if len(rr) == 0 && in.Repo != "" {
		if r, err := in.Config.Repo(in.Repo); err == nil {
			rr = append(rr, r)
		}
	}
	for _, c := range rr {
		rs = append(rs, WritableCheck("queue "+c.Name, QueueDir(in.Config, c), "stateDir"))
	}
	return rs
}

// QueueDir is a repo's job queue under the state directory (as runner/hook
// opens it).
func QueueDir(c *config.Config, r config.Repo) string {
	return filepath.Join(c.StateDir, "queue", r.Name)
}

// Local runs every check that needs no network: PreReceive's, then the
// user against each repo's owner, each repo's hooks and push options, and
// the ACME certificate root.
func Local(in Install) []Result {
	rs := PreReceive(in)
	if in.Config == nil {
		return rs
	}
	for _, c := range repos(in) {
		rs = append(rs, OwnerCheck(c), HooksCheck(c), PushOptionsCheck(c))
	}
	if cr := CertRootCheck(in.Config); cr.Check != "" {
		rs = append(rs, cr)
	}
	return rs
}

// OwnerCheck compares the user this process runs as with the owner of the
// repository: the runner writes the status branch and notes into it, and
// files it creates as another user (root) break the hosting user's git.
func OwnerCheck(c config.Repo) Result {
	r := Result{Check: "user " + c.Name}
	fi, err := os.Stat(c.Path)
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "create the repo (Gitolite: declare it in gitolite.conf and push gitolite-admin), or correct its path in the config"
		return r
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		r.Status, r.Detail = Skip, "no owner information on this system"
		return r
	}
	if st.Uid == uint32(os.Getuid()) { //nolint:gosec // uids fit in uint32
		r.Status, r.Detail = OK, fmt.Sprintf("runs as %s, the owner of %s", currentUser(), c.Path)
		return r
	}
	own := lookupUID(st.Uid)
	r.Status, r.Detail = Fail, fmt.Sprintf("runs as %s, but %s belongs to %s", currentUser(), c.Path, own)
	r.Fix = fmt.Sprintf("run the runner as %s (runuser -u %s -- runner …); the hooks and the service already do", own, own)
	return r
}

// HooksCheck reports whether the repo's pre-receive and post-receive hooks
// run the runner: directly (plain git) or through Gitolite's
// repo-specific-hooks driver, which links hooks/<hook> to its driver and
// hooks/<hook>.h00-<name> to $LOCAL_CODE/hooks/repo-specific/<name>
// (gitolite3 src/triggers/repo-specific-hooks).
func HooksCheck(c config.Repo) Result {
	r := Result{Check: "hooks " + c.Name}
	want := map[string]string{"pre-receive": "runner check", "post-receive": "runner hook post-receive"}
	var found, missing []string
	for _, hook := range []string{"pre-receive", "post-receive"} {
		how, ok := hookRuns(filepath.Join(c.Path, "hooks", hook), want[hook])
		if ok {
			found = append(found, hook+" "+how)
		} else {
			missing = append(missing, hook+" ("+how+")")
		}
	}
	if len(missing) == 0 {
		r.Status, r.Detail = OK, strings.Join(found, "; ")
		return r
	}
	r.Status, r.Detail = Fail, "not installed: "+strings.Join(missing, ", ")
	r.Fix = "link /usr/share/gitops-runner/hooks/{pre-receive,post-receive} into ~/local/hooks/repo-specific as runner-check and runner-deploy, add the option hook.* lines to the repo in gitolite.conf, and run `gitolite setup` as the hosting user (hooks/README.md)"
	return r
}

// hookRuns reports whether the hook at path, or a Gitolite repo-specific
// hook beside it (path.*), is executable and runs cmd.
func hookRuns(path, cmd string) (string, bool) {
	cands := []string{path}
	more, _ := filepath.Glob(path + ".*")
	for _, m := range more {
		if !strings.HasSuffix(m, ".sample") { // git's own examples
			cands = append(cands, m)
		}
	}
	why := "no hook at " + path
	for _, p := range cands {
		fi, err := os.Stat(p) // follows Gitolite's symlinks
		if err != nil {
			if p != path {
				why = fmt.Sprintf("%s: %v", p, err)
			}
			continue
		}
		if fi.Mode()&0o111 == 0 {
			why = p + " is not executable"
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			why = err.Error()
			continue
		}
		if runsRunner(string(b), cmd) {
			if target, err := filepath.EvalSymlinks(p); err == nil && target != p {
				return fmt.Sprintf("→ %s", target), true
			}
			return "at " + p, true
		}
		why = p + " does not run `" + cmd + "`"
	}
	return why, false
}

// PushOptionsCheck reports whether the repo lets pushers send push options
// (git push -o runner.queue-only): git-receive-pack advertises them only
// when receive.advertisePushOptions is true (git-config(1)).
func PushOptionsCheck(c config.Repo) Result {
	r := Result{Check: "push options " + c.Name}
	v, err := gitConfigBool(filepath.Join(c.Path, "config"), "receive.advertisePushOptions")
	switch {
	case err != nil:
		r.Status, r.Detail = Warn, err.Error()
	case v:
		r.Status, r.Detail = OK, "receive.advertisePushOptions = true"
		return r
	default:
		r.Status, r.Detail = Warn, "receive.advertisePushOptions is not true: git push -o runner.queue-only and -o runner.plan-only are refused"
	}
	r.Fix = "add `config receive.advertisePushOptions = true` to the repo in gitolite.conf (and allow it with GIT_CONFIG_KEYS in the rc file)"
	return r
}

// CertRootCheck checks the ACME backend's certRoot: writable by this user
// and not writable by others (it holds private keys). Check is "" when the
// configuration has no acme section.
func CertRootCheck(c *config.Config) Result {
	raw, ok := c.Backends["acme"]
	if !ok {
		return Result{}
	}
	var sec struct {
		CertRoot string `json:"certRoot"`
	}
	if err := jsonUnmarshal(raw, &sec); err != nil || sec.CertRoot == "" {
		return Result{Check: "certRoot", Status: Skip, Detail: "backends.acme has no certRoot"}
	}
	r := WritableCheck("certRoot", sec.CertRoot, "backends.acme.certRoot")
	if r.Status != OK {
		return r
	}
	if fi, err := os.Stat(sec.CertRoot); err == nil && fi.Mode().Perm()&0o002 != 0 {
		r.Status, r.Detail = Fail, fmt.Sprintf("%s is writable by every user (mode %v): anyone could replace a certificate", sec.CertRoot, fi.Mode().Perm())
		r.Fix = "chmod o-w " + sec.CertRoot
	}
	return r
}

// runsRunner reports whether a hook script runs the runner's command cmd
// ("runner check"): the packaged hook says exactly that; others call the
// binary by path ('/usr/local/bin/runner' check) or with global flags first.
func runsRunner(script, cmd string) bool {
	prog, args, _ := strings.Cut(cmd, " ")
	for line := range strings.Lines(script) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.Index(line, prog); i >= 0 && strings.Contains(line[i:], " "+args) {
			return true
		}
	}
	return false
}

// currentUser names this process's user: "gitolite3 (uid 110)".
func currentUser() string {
	return fmt.Sprintf("%s (uid %d)", userName(), os.Getuid())
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func lookupUID(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

func owner(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return lookupUID(st.Uid)
	}
	return "?"
}
