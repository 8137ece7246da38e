// Package monitor reads what the runner left behind — the status history,
// the queue, the deployed certificates — into a State, and judges it the
// way a Nagios plugin does (Check): `runner monitor --nagios`. It reads
// durable state only, so it works from any process (Nagios, NRPE, ssh) and
// never needs the service to be up.
package monitor

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Source is where one repo's durable state lives.
type Source struct {
	// Name is the repo's name (config repos[].name).
	Name         string
	Repo         *gitstore.Repo
	StatusBranch string
	// Spool is the repo's job queue (stateDir/queue/<name>).
	Spool *queue.Spool
	// CertRoot is backends.acme.certRoot ("" when the config has no ACME
	// backend: no certificates are read).
	CertRoot string
	// MaxHistory bounds how many status commits are read to find the last
	// deployment (default 1000).
	MaxHistory int
}

// Run is one recorded run, from its status.json.
type Run struct {
	Kind     pipeline.RunKind
	Result   pipeline.Result
	Summary  string
	Commit   string // the source commit
	Finished time.Time
	Duration time.Duration
}

// Failed reports whether the run failed or was denied.
func (r *Run) Failed() bool {
	return r != nil && (r.Result == pipeline.ResultFailed || r.Result == pipeline.ResultDenied)
}

// Drift is the drift recorded since the last deployment.
type Drift struct {
	// Resources is how many resources the newest drift record found
	// changed.
	Resources int
	// Since is when the first drift record after the last deployment was
	// made; Summary is the newest record's summary.
	Since   time.Time
	Summary string
}

// Cert is one deployed certificate.
type Cert struct {
	// Name is the acme.certificate resource's name; Path its cert.pem.
	Name, Path string
	// NotAfter is the leaf certificate's expiry; zero when Err is set.
	NotAfter time.Time
	// Err says why the certificate could not be read (e.g. the file the
	// inventory names is missing).
	Err error
}

// Queue is the state of the job queue.
type Queue struct {
	Pending, Running int
	// Oldest is when the oldest queued job was pushed (zero: empty).
	Oldest time.Time
}

// State is what the monitor knows about one repo.
type State struct {
	Name string
	// LastDeploy is the last deploy or replay that ran (superseded and
	// plan-only pushes do not count); nil: none yet.
	LastDeploy *Run
	// LastPass is the last unattended pass recorded after LastDeploy: a
	// drift check, renew or self-heal run (a check in sync is recorded
	// only after one that failed); nil: none.
	LastPass *Run
	// Drift is the drift recorded after LastDeploy; nil: none.
	Drift *Drift
	Certs []Cert
	Queue Queue
}

// Read reads a repo's state: the status history back to the last
// deployment, the queue, and the certificates the inventory says are
// deployed.
func Read(src Source) (*State, error) {
	st := &State{Name: src.Name}
	max := src.MaxHistory
	if max <= 0 {
		max = 1000
	}
	// settled: a later reconcile pass (renew, heal) applied part of the
	// drift and held back the rest; older drift records no longer count.
	settled := false
	err := History(src.Repo, src.StatusBranch, plumbing.ZeroHash, max, func(_ plumbing.Hash, rep *pipeline.Report) bool {
		r := runOf(rep)
		if (rep.Kind == pipeline.KindRenew || rep.Kind == pipeline.KindHeal) && rep.Result == pipeline.ResultOK && !settled {
			settled = true
			if st.Drift == nil {
				if n := held(rep); n > 0 {
					st.Drift = &Drift{Resources: n, Summary: rep.Summary, Since: rep.Finished}
				}
			}
		}
		if st.LastPass == nil && (rep.Kind == pipeline.KindDrift || rep.Kind == pipeline.KindRenew || rep.Kind == pipeline.KindHeal) {
			st.LastPass = r
		}
		switch {
		case rep.Kind == pipeline.KindDrift && rep.Result == pipeline.ResultPlanned && !settled:
			n := rep.ToChange()
			if st.Drift == nil {
				st.Drift = &Drift{Resources: n, Summary: rep.Summary}
			}
			st.Drift.Since = rep.Finished
		case (rep.Kind == pipeline.KindDeploy || rep.Kind == pipeline.KindReplay) &&
			rep.Result != pipeline.ResultSuperseded && rep.Result != pipeline.ResultPlanned:
			st.LastDeploy = r
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if st.Drift != nil && st.Drift.Resources == 0 {
		st.Drift = nil
	}
	if src.Spool != nil {
		if st.Queue, err = readQueue(src.Spool); err != nil {
			return nil, err
		}
	}
	if src.CertRoot != "" {
		if st.Certs, err = readCerts(src.Repo, src.StatusBranch, src.CertRoot); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// History calls fn with the status.json of each commit of the status
// branch, newest first, following first parents, until fn returns false,
// max commits were read, or the commit stop is reached (not read). Commits
// without a readable status.json are skipped.
func History(repo *gitstore.Repo, branch string, stop plumbing.Hash, max int, fn func(plumbing.Hash, *pipeline.Report) bool) error {
	tip, err := repo.Ref(gitstore.BranchRef(branch))
	if err != nil || tip.IsZero() {
		return nil //nolint:nilerr // no status branch yet: no history
	}
	h := tip
	for i := 0; i < max && !h.IsZero() && h != stop; i++ {
		c, err := repo.Commit(h)
		if err != nil {
			return fmt.Errorf("status history of branch %s: %w", branch, err)
		}
		next := plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			next = c.ParentHashes[0]
		}
		snap, err := repo.Snapshot(h)
		if err != nil {
			return fmt.Errorf("status commit %s: %w", gitstore.Short(h.String()), err)
		}
		if b, err := snap.ReadFile("status.json"); err == nil {
			var rep pipeline.Report
			if json.Unmarshal(b, &rep) == nil && !fn(h, &rep) {
				return nil
			}
		}
		h = next
	}
	return nil
}

func runOf(rep *pipeline.Report) *Run {
	return &Run{Kind: rep.Kind, Result: rep.Result, Summary: rep.Summary, Commit: rep.Source.Commit,
		Finished: rep.Finished, Duration: time.Duration(rep.DurationMS) * time.Millisecond}
}

// held counts the changes a reconcile pass left for a push: plan
// entries it noted pipeline.HeldNote.
func held(rep *pipeline.Report) int {
	n := 0
	for _, p := range rep.Plan {
		if p.Action == steps.NoOp {
			continue
		}
		for _, note := range p.Notes {
			if strings.HasPrefix(note, pipeline.HeldNote) {
				n++
				break
			}
		}
	}
	return n
}

func readQueue(sp *queue.Spool) (Queue, error) {
	var q Queue
	pending, err := sp.Pending()
	if err != nil {
		return q, err
	}
	running, err := sp.Running()
	if err != nil {
		return q, err
	}
	q.Pending, q.Running = len(pending), len(running)
	for _, j := range append(pending, running...) {
		if q.Oldest.IsZero() || j.PushedAt.Before(q.Oldest) {
			q.Oldest = j.PushedAt
		}
	}
	return q, nil
}

// readCerts reads the certificates the inventory (inventory.json on the
// status branch) lists as acme.certificate resources, from their deploy
// directories: spec.deploy.dir, else live/<name>, under certRoot — the
// certbot layout the ACME backend writes (steps/acme/README.md).
func readCerts(repo *gitstore.Repo, branch, certRoot string) ([]Cert, error) {
	inv, err := pipeline.ReadInventory(repo, branch)
	if err != nil {
		return nil, err
	}
	var out []Cert
	for _, r := range inv.Resources {
		if r.ID.Kind != "acme.certificate" {
			continue
		}
		var spec struct {
			Deploy struct {
				Dir string `json:"dir"`
			} `json:"deploy"`
		}
		_ = json.Unmarshal(r.Spec, &spec)
		dir := spec.Deploy.Dir
		if dir == "" {
			dir = filepath.Join("live", r.ID.Name)
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(certRoot, dir)
		}
		c := Cert{Name: r.ID.Name, Path: filepath.Join(dir, "cert.pem")}
		c.NotAfter, c.Err = notAfter(c.Path)
		out = append(out, c)
	}
	return out, nil
}

// notAfter is the expiry of the first certificate in a PEM file.
func notAfter(path string) (time.Time, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a deploy directory the inventory names
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return time.Time{}, fmt.Errorf("%s is missing (the inventory says it is deployed)", path)
		}
		return time.Time{}, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return time.Time{}, fmt.Errorf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return c.NotAfter, nil
}
