package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/gitops-runner/gitops-runner/steps"
)

// A certificate the CA issued is kept in the state directory
// (stateDir/issued/<name>/, the key 0600) until its deploy succeeds: a
// deploy that fails (a full disk, a directory made read-only, a worker
// killed between the order and the deploy) is finished by the next run
// from there, without a new order. Each order counts against the CA's
// limits: Let's Encrypt allows 5 certificates for the same set of names
// per 7 days (https://letsencrypt.org/docs/rate-limits/, "New
// Certificates per Exact Set of Hostnames").
const issuedDir = "issued"

// Undeployed is a certificate that was issued but whose deploy has not
// succeeded yet (Live.Undeployed).
type Undeployed struct {
	Domains   []string  `json:"domains"` // sorted
	KeyType   string    `json:"keyType"`
	Serial    string    `json:"serial"`             // hexadecimal
	NotBefore time.Time `json:"notBefore,omitzero"` // absent in files of before 2026-11
	NotAfter  time.Time `json:"notAfter"`
	// Directory is the ACME directory that issued it.
	Directory string    `json:"directory"`
	IssuedAt  time.Time `json:"issuedAt"`
	CertURL   string    `json:"certURL,omitempty"`
}

// undeployedMeta is the file that completes a kept certificate: written
// last, so a directory without it is an interrupted write and ignored.
const undeployedMeta = "issued.json"

func (b *Backend) issuedPath(name string) string {
	return filepath.Join(b.cfg.stateDir, issuedDir, url.PathEscape(name))
}

// keepIssued stores an issued certificate until its deploy succeeds: the
// PEM files as they will be deployed (all 0600: the state directory is
// the runner's alone) and the metadata last.
func (b *Backend) keepIssued(name string, st *issued, v validated) error {
	dir := b.issuedPath(name)
	// An older kept certificate (one no longer usable) goes first, so its
	// metadata never describes the new files.
	if err := b.dropIssued(name); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range st.files(v) {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return err
		}
	}
	u := Undeployed{Domains: sortedDomains(v.domains), KeyType: v.keyType, Serial: st.Serial, NotBefore: st.notBefore, NotAfter: st.NotAfter,
		Directory: b.cfg.directory, IssuedAt: b.now().UTC(), CertURL: st.CertURL}
	data, err := json.MarshalIndent(u, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, undeployedMeta), data, 0o600)
}

// readUndeployed returns the kept certificate of name, or nil.
func (b *Backend) readUndeployed(name string) (*Undeployed, error) {
	var u Undeployed
	ok, err := readJSON(filepath.Join(b.issuedPath(name), undeployedMeta), &u)
	if err != nil || !ok {
		return nil, err
	}
	return &u, nil
}

// loadIssued reads the kept certificate of name for deploying it.
func (b *Backend) loadIssued(name string, u *Undeployed) (*issued, error) {
	dir := b.issuedPath(name)
	st := &issued{State: State{Serial: u.Serial, NotAfter: u.NotAfter, CertURL: u.CertURL}}
	for _, f := range []struct {
		name string
		data *[]byte
	}{{certFile, &st.cert}, {chainFile, &st.chain}, {fullchainFile, &st.fullchain}, {keyFile, &st.key}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name)) //nolint:gosec // the runner's state directory
		if err != nil {
			return nil, fmt.Errorf("read the kept certificate: %w", err)
		}
		*f.data = b
	}
	if _, err := certcrypto.ParsePEMCertificate(st.cert); err != nil {
		return nil, fmt.Errorf("the kept certificate %s: %w", filepath.Join(dir, certFile), err)
	}
	return st, nil
}

// dropIssued removes the kept certificate of name (it is deployed).
func (b *Backend) dropIssued(name string) error {
	return os.RemoveAll(b.issuedPath(name))
}

// usable reports whether a kept certificate can be deployed instead of
// ordering one: same names, key type and CA, and not due for renewal
// itself (renewBefore clamped to its lifetime as renewAt does, else 30
// days before expiry).
func (u *Undeployed) usable(want view, v validated, directory string, now time.Time) bool {
	if u == nil || !slices.Equal(u.Domains, want.Domains) || u.KeyType != want.KeyType || u.Directory != directory {
		return false
	}
	before := defaultRenewBefore
	if v.renewBefore > 0 {
		notBefore := u.NotBefore
		if notBefore.IsZero() {
			notBefore = u.IssuedAt // a little after notBefore: a shorter lifetime, clamped sooner
		}
		before, _ = renewBeforeWithin(v.renewBefore, notBefore, u.NotAfter)
	}
	return now.Before(u.NotAfter.Add(-before))
}

// preflight checks, before anything is ordered, that this process can do
// what the deploy of s needs, so that a deploy that cannot succeed does
// not cost an order on every run:
//   - it can write the deploy directory (or create it);
//   - it may give the files deploy.owner and deploy.group: only root may
//     change a file's owner, and a file's owner may change its group only
//     to a group it is a member of (chown(2), "only a privileged process
//     (Linux: one with the CAP_CHOWN capability) may change the owner of a
//     file. The owner of a file may change the group of the file to any
//     group of which that owner is a member");
//   - the reload program exists and is executable.
//
// Errors are *steps.FieldError naming the field and saying what to do.
func preflight(s Spec, dir string, own ownership) error {
	me := userName(os.Geteuid())
	if err := probeWritable(dir); err != nil {
		return steps.FieldErrorf("deploy.dir", "%s: the runner's user %s cannot write there (%v); give %s write access to it or choose a deploy directory it can write (inside backends.acme.certRoot)", dir, me, err, me)
	}
	if os.Geteuid() != 0 {
		if own.uid >= 0 && own.uid != os.Geteuid() {
			return steps.FieldErrorf("deploy.owner", "%q: the runner runs as %s, and only root may give a file to another user (chown(2)); remove deploy.owner (the files then belong to %s; let the service read them through deploy.group and deploy.keyMode '0640'), or run the runner as root",
				s.Deploy.Owner, me, me)
		}
		if own.gid >= 0 && !inGroup(own.gid) {
			return steps.FieldErrorf("deploy.group", "%q: the runner's user %s is not a member of this group, and a file's owner may give it only to a group it is a member of (chown(2)); add it (usermod -aG %s %s, then restart the runner's service) or remove deploy.group",
				s.Deploy.Group, me, s.Deploy.Group, me)
		}
	}
	if r := s.Deploy.Reload; r != nil {
		if _, err := exec.LookPath(r.Command[0]); err != nil {
			return steps.FieldErrorf("deploy.reload.command", "program %q: %v; install it or fix the path", r.Command[0], err)
		}
	}
	return nil
}

// probeWritable creates and removes a file in dir, or in its deepest
// existing ancestor when dir does not exist yet (the deploy creates it):
// the one test that also sees read-only mounts and ACLs.
func probeWritable(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(p) == p {
			return err
		}
		p = filepath.Dir(p)
	}
	f, err := os.CreateTemp(p, ".runner-write-check-*")
	if err != nil {
		return err
	}
	_ = f.Close()
	return os.Remove(f.Name())
}

// inGroup reports whether this process may give files group gid: its
// effective group or one of its supplementary groups.
func inGroup(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	gs, err := os.Getgroups()
	return err == nil && slices.Contains(gs, gid)
}

// userName is uid's login name, or "uid N".
func userName(uid int) string {
	if u, err := osuser.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
