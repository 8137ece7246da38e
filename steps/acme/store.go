package acme

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
)

// The files of a deployed certificate, in the certbot layout.
const (
	certFile      = "cert.pem"
	chainFile     = "chain.pem"
	fullchainFile = "fullchain.pem"
	keyFile       = "privkey.pem"
)

var deployFiles = []string{certFile, chainFile, fullchainFile, keyFile}

// Staging directories of a deploy inside the deploy directory: files are
// written to .pending; renaming .pending to .commit is the commit point;
// then the files are moved into place. A crash before the commit point
// leaves the old files; after it, the next run finishes the move.
const (
	pendingDir = ".pending"
	commitDir  = ".commit"
)

// record is the store's per-certificate state (stateDir/certs/<name>.json).
type record struct {
	// Directory is the ACME directory that issued the deployed certificate.
	Directory string `json:"directory,omitempty"`
	CertURL   string `json:"certURL,omitempty"`
	// Failure is the last failed order; cleared by a successful one.
	Failure *Failure `json:"failure,omitempty"`
	// ReloadPending: the files changed but the reload command failed.
	ReloadPending bool `json:"reloadPending,omitempty"`
}

// Failure records a failed order so that retries back off.
type Failure struct {
	Time     time.Time `json:"time"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	Domains  []string  `json:"domains"`
	KeyType  string    `json:"keyType"`
}

func (b *Backend) recordPath(name string) string {
	return filepath.Join(b.cfg.stateDir, "certs", url.PathEscape(name)+".json")
}

func (b *Backend) readRecord(name string) (record, error) {
	var r record
	_, err := readJSON(b.recordPath(name), &r)
	return r, err
}

func (b *Backend) writeRecord(name string, r record) error {
	p := b.recordPath(name)
	if r == (record{}) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(p, data, 0o600)
}

// readJSON decodes a JSON file; a missing file leaves v unchanged.
func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// writeFileAtomic writes a file by temp + fsync + rename + fsync of the
// directory, so a crash leaves the old content or the new, never a mix.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // our own store directory
	if err != nil {
		return err
	}
	serr := d.Sync()
	if err := d.Close(); err != nil {
		return err
	}
	return serr
}

// fileMeta is the observed ownership and mode of a deployed file.
type fileMeta struct {
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Mode uint32 `json:"mode"`
}

// deployed is what Observe found in a deploy directory.
type deployed struct {
	leaf    *x509.Certificate
	keyType string
	files   map[string]fileMeta
	pending bool // a committed deploy is waiting to be moved into place
}

// readDeployed reads a deploy directory; nil when it holds no certificate.
// Files of a committed but unfinished deploy take precedence.
func readDeployed(dir string) (*deployed, error) {
	d := &deployed{files: map[string]fileMeta{}}
	if _, err := os.Stat(filepath.Join(dir, commitDir)); err == nil {
		d.pending = true
	}
	read := func(name string) ([]byte, error) {
		if d.pending {
			b, err := os.ReadFile(filepath.Join(dir, commitDir, name)) //nolint:gosec // inside the certificate root
			if err == nil {
				return b, nil
			}
		}
		return os.ReadFile(filepath.Join(dir, name)) //nolint:gosec // inside the certificate root
	}
	certPEM, err := read(certFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.leaf, err = certcrypto.ParsePEMCertificate(certPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, certFile), err)
	}
	keyPEM, err := read(keyFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		d.keyType = keyTypeOf(keyPEM)
	}
	for _, name := range deployFiles {
		p := filepath.Join(dir, name)
		if d.pending {
			if _, err := os.Lstat(filepath.Join(dir, commitDir, name)); err == nil {
				p = filepath.Join(dir, commitDir, name)
			}
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		m := fileMeta{Mode: uint32(fi.Mode().Perm())}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			m.UID, m.GID = int(st.Uid), int(st.Gid)
		}
		d.files[name] = m
	}
	return d, nil
}

// keyTypeOf names a PEM private key's type as the spec does ("" if unknown).
func keyTypeOf(keyPEM []byte) string {
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return ""
	}
	k, err := certcrypto.ParsePEMPrivateKey(keyPEM)
	if err != nil {
		return ""
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return fmt.Sprintf("ec%d", k.Curve.Params().BitSize)
	case *rsa.PrivateKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	}
	return ""
}

// file is one file of a deploy.
type file struct {
	name string
	data []byte
	mode os.FileMode
}

// ownership is who owns deployed files (-1: leave as created).
type ownership struct{ uid, gid int }

// writeDeploy writes a certificate's files through the .pending/.commit
// journal. hook, when set (tests), runs between writing and committing and
// can fail like a killed worker.
func writeDeploy(dir string, files []file, own ownership, hook func(stage string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // certificate directories are world-listable as certbot's are
		return err
	}
	// A leftover journal is from an interrupted deploy; this one supersedes it.
	for _, d := range []string{pendingDir, commitDir} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	pend := filepath.Join(dir, pendingDir)
	if err := os.Mkdir(pend, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(pend, f.name), f.data, f.mode, own); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	if err := syncDir(pend); err != nil {
		return err
	}
	if hook != nil {
		if err := hook("before-commit"); err != nil {
			return err
		}
	}
	if err := os.Rename(pend, filepath.Join(dir, commitDir)); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if hook != nil {
		if err := hook("after-commit"); err != nil {
			return err
		}
	}
	return finishDeploy(dir)
}

// finishDeploy moves committed files into place and removes the journal.
func finishDeploy(dir string) error {
	com := filepath.Join(dir, commitDir)
	ents, err := os.ReadDir(com)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(com, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(com); err != nil {
		return err
	}
	return syncDir(dir)
}

func writeNew(path string, data []byte, mode os.FileMode, own ownership) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // inside the certificate root
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if own.uid >= 0 || own.gid >= 0 {
		if err := f.Chown(own.uid, own.gid); err != nil {
			_ = f.Close()
			return err
		}
	}
	// Chmod after Chown: chown may clear set-id bits, and the mode must not
	// depend on the umask.
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// fixOwnership applies owner and modes to existing files.
func fixOwnership(dir string, modes map[string]os.FileMode, own ownership) error {
	for name, mode := range modes {
		p := filepath.Join(dir, name)
		if own.uid >= 0 || own.gid >= 0 {
			if err := os.Lchown(p, own.uid, own.gid); err != nil {
				return err
			}
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}

// removeDeploy deletes a certificate's files, its journal, and the
// directory if that leaves it empty.
func removeDeploy(dir string) error {
	for _, name := range deployFiles {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, d := range []string{pendingDir, commitDir} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
		return err
	}
	return nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// splitPEM splits lego's bundle into the leaf and the rest (the chain).
func splitPEM(bundle []byte) (leaf, rest []byte) {
	blk, rest := pem.Decode(bundle)
	if blk == nil {
		return nil, bundle
	}
	return pem.EncodeToMemory(blk), rest
}
