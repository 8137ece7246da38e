// Package config reads the runner configuration: one Jsonnet (or JSON) file
// on the runner host naming the repos to deploy, state directories, limits,
// policy settings and each backend's endpoint and secret sources. It is
// validated strictly, with errors naming the field.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	jsonnet "github.com/google/go-jsonnet"

	"github.com/gitops-runner/gitops-runner/runner/notify"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Duration is a duration string in the config ("10s", "30d").
type Duration = steps.Duration

// Repo is one infra repository the runner deploys.
type Repo struct {
	// Name identifies the repo in commands (default: the path's base name
	// without .git).
	Name string `json:"name,omitempty"`
	// Path is the bare repository on disk.
	Path string `json:"path"`
	// Branch is the deployed branch (default main).
	Branch string `json:"branch,omitempty"`
	// StatusBranch holds the status history (default status).
	StatusBranch string `json:"statusBranch,omitempty"`
	// Entrypoint is the file evaluated (default main.jsonnet).
	Entrypoint string `json:"entrypoint,omitempty"`
}

// Config is the runner configuration.
type Config struct {
	Repos []Repo `json:"repos,omitempty"`
	// StateDir holds the queue and other runner state (default
	// /var/lib/gitops-runner).
	StateDir string `json:"stateDir,omitempty"`
	// Concurrency bounds how many changes apply at once (default 4).
	Concurrency int `json:"concurrency,omitempty"`
	Retry       struct {
		Attempts   int      `json:"attempts,omitempty"`
		Backoff    Duration `json:"backoff,omitempty"`
		MaxBackoff Duration `json:"maxBackoff,omitempty"`
	} `json:"retry"`
	Limits struct {
		EvalTimeout  Duration `json:"evalTimeout,omitempty"`
		MaxStack     int      `json:"maxStack,omitempty"`
		MaxOutputMiB int      `json:"maxOutputMiB,omitempty"`
		MaxMemoryMiB int      `json:"maxMemoryMiB,omitempty"`
	} `json:"limits"`
	Policy struct {
		// Disabled lists built-in policies switched off.
		Disabled []string `json:"disabled,omitempty"`
		// Overcommit is the memory overcommit ratio the capacity policy
		// allows (default 1.0).
		Overcommit float64 `json:"overcommit,omitempty"`
		// Zones are the DNS zones records and certificates may be in.
		Zones   []string `json:"zones,omitempty"`
		Timeout Duration `json:"timeout,omitempty"`
	} `json:"policy"`
	// Backends holds each backend's settings by backend name; each backend
	// decodes its own section strictly.
	Backends map[string]json.RawMessage `json:"backends,omitempty"`
	Hook     struct {
		// QueueOnly makes the post-receive hook return as soon as the push
		// is queued, instead of streaming the deployment.
		QueueOnly bool `json:"queueOnly,omitempty"`
	} `json:"hook"`
	// Reconcile says what `runner serve` (and `runner reconcile`) apply
	// of the deployed commit without a push.
	Reconcile struct {
		// Renewals: renew certificates that time made due (default true).
		Renewals *bool `json:"renewals,omitempty"`
		// SelfHeal lists the kinds whose drift is applied (default none:
		// drift is only recorded).
		SelfHeal []string `json:"selfHeal,omitempty"`
	} `json:"reconcile"`
	Log struct {
		Format string `json:"format,omitempty"` // text or json
		Level  string `json:"level,omitempty"`
	} `json:"log"`
	// Notify says whom to tell about failed or denied deployments, drift,
	// failed renewals and stuck jobs, and how (package notify).
	Notify notify.Config `json:"notify"`

	// File is where the configuration was read from ("" for defaults).
	File string `json:"-"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// DefaultStateDir is the stateDir of a configuration that names none
// (the Debian package creates it, owned by the hosting user). Tests point
// it at a directory of their own, so a test run as root never leaves files
// in the system's state directory.
var DefaultStateDir = "/var/lib/gitops-runner"

func (c *Config) applyDefaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Policy.Overcommit == 0 {
		c.Policy.Overcommit = 1.0
	}
	if c.Reconcile.Renewals == nil {
		on := true
		c.Reconcile.Renewals = &on
	}
	for i := range c.Repos {
		c.Repos[i].fill()
	}
}

func (r *Repo) fill() {
	if r.Branch == "" {
		r.Branch = "main"
	}
	if r.StatusBranch == "" {
		r.StatusBranch = "status"
	}
	if r.Entrypoint == "" {
		r.Entrypoint = "main.jsonnet"
	}
	if r.Name == "" {
		r.Name = strings.TrimSuffix(filepath.Base(r.Path), ".git")
	}
}

// Load reads and validates a configuration file (Jsonnet; JSON is valid
// Jsonnet). Imports resolve next to the file, std.extVar('configDir') is the
// file's directory, and relative stateDir and repo paths are relative to it.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{dir}})
	vm.ExtVar("configDir", dir)
	out, err := vm.EvaluateAnonymousSnippet(path, string(src))
	if err != nil {
		return nil, fmt.Errorf("config %s: %s", path, strings.TrimSpace(err.Error()))
	}
	c := &Config{}
	var p steps.Problems
	p.Add(steps.DecodeStrict(json.RawMessage(out), c))
	c.File = path
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(dir, c.StateDir)
	}
	for i := range c.Repos {
		if c.Repos[i].Path != "" && !filepath.IsAbs(c.Repos[i].Path) {
			c.Repos[i].Path = filepath.Join(dir, c.Repos[i].Path)
		}
	}
	c.applyDefaults()
	var checked steps.Problems
	c.validate(&checked)
	p.AddNew(checked.Err())
	if err := configError(path, p.Err()); err != nil {
		return nil, err
	}
	return c, nil
}

// configError names the file in each of the problems in err, one line
// each ("config FILE: field F: MSG"); nil when err is nil.
func configError(path string, err error) error {
	var lines []error
	for _, fe := range steps.FieldErrors(err) {
		if fe.Field == "" {
			lines = append(lines, fmt.Errorf("config %s: %s", path, fe.Msg))
			continue
		}
		lines = append(lines, fmt.Errorf("config %s: field %s: %s", path, fe.Field, fe.Msg))
	}
	return errors.Join(lines...)
}

// validate adds every bad value of c (defaults applied) to p.
func (c *Config) validate(p *steps.Problems) {
	names := map[string]bool{}
	for i, r := range c.Repos {
		if r.Path == "" {
			p.Addf(fmt.Sprintf("repos[%d].path", i), "is required (the bare repository on disk)")
		}
		if names[r.Name] {
			p.Addf(fmt.Sprintf("repos[%d].name", i), "%q is used twice; give each repo a unique name", r.Name)
		}
		names[r.Name] = true
		if r.Branch == r.StatusBranch {
			p.Addf(fmt.Sprintf("repos[%d].statusBranch", i), "must differ from branch %q", r.Branch)
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		p.Addf("concurrency", "%d is out of range 1–256", c.Concurrency)
	}
	if c.Policy.Overcommit < 0 {
		p.Addf("policy.overcommit", "must be positive")
	}
	if err := c.Notify.Validate(); err != nil {
		// "mail.to[0]: msg": the field inside notify, then the problem
		field, msg, _ := strings.Cut(err.Error(), ": ")
		p.Addf("notify."+field, "%s", msg)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		p.Addf("log.format", "%q is not text or json", c.Log.Format)
	}
}

// Repo picks the repo a command works on: by --repo (a path or a name), or
// the only configured one. A path not in the configuration is used with
// default settings.
func (c *Config) Repo(flag string) (Repo, error) {
	if flag == "" {
		switch len(c.Repos) {
		case 0:
			return Repo{}, errors.New("no repo given: pass --repo PATH.git, or list repos in the config file (--config)")
		case 1:
			return c.Repos[0], nil
		default:
			return Repo{}, fmt.Errorf("the config lists %d repos; pick one with --repo NAME", len(c.Repos))
		}
	}
	abs, _ := filepath.Abs(flag)
	for _, r := range c.Repos {
		if r.Name == flag {
			return r, nil
		}
		if p, _ := filepath.Abs(r.Path); p == abs {
			return r, nil
		}
	}
	r := Repo{Path: flag}
	r.fill()
	return r, nil
}
