package proxmox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
	"github.com/gitops-runner/gitops-runner/steps"
)

// The observation store: the config of each guest as the last full read
// saw it, with its /cluster/resources summary, so that the next push reads
// live only the guests that can have changed (Observe). It is a cache: a
// store that is missing, corrupt, of another version or too old is as good
// as none, and every guest is read live.
const (
	// observedFile is the store's name in steps.ObserveOptions.Dir.
	observedFile = "proxmox-observed.json"
	// forgottenFile lists, one VMID a line, the guests of the store the
	// runner has changed since it was written: their kept reads are void.
	forgottenFile = "proxmox-observed.forgotten"
	// observedVersion changes whenever the stored shape or meaning does.
	observedVersion = 1
	// observedMaxAge bounds how old a kept read may be: older ones are read
	// again whatever the summary says.
	observedMaxAge = 24 * time.Hour
	// observedMaxGuests and observedMaxBytes bound the store: a cluster
	// with more guests keeps none (every read live), a bigger file is not
	// read.
	observedMaxGuests = 20000
	observedMaxBytes  = 64 << 20
)

// observation is the store's content: one entry per guest, by VMID.
type observation struct {
	Version int                    `json:"version"`
	Guests  map[int]*observedGuest `json:"guests"`
}

// observedGuest is one guest's last full read.
type observedGuest struct {
	// At is when the guest's config was read live.
	At time.Time `json:"at"`
	// Summary is the guest's /cluster/resources entry at that read.
	Summary guestSummary `json:"summary"`
	// Last is specDigest of the spec the inventory said was last applied
	// at that read: once the runner applies another, the read is stale.
	Last    string            `json:"last"`
	Config  map[string]string `json:"config"`
	Current map[string]string `json:"current"`
	Pending []string          `json:"pending,omitempty"`
}

// guestSummary holds the fields of a /cluster/resources entry that follow a
// guest's config or state (pve-apidata.json, /cluster/resources returns:
// name, node, status, maxmem, maxdisk, maxcpu, lock, template, pool, tags,
// hastate); usage counters (cpu, mem, disk, netin, uptime, …) are left
// out, they change all the time.
type guestSummary struct {
	Type     string `json:"type"`
	Node     string `json:"node"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	MaxMem   uint64 `json:"maxmem"`
	MaxDisk  uint64 `json:"maxdisk"`
	MaxCPU   uint64 `json:"maxcpu"`
	Lock     string `json:"lock,omitempty"`
	Template uint64 `json:"template,omitempty"`
	Pool     string `json:"pool,omitempty"`
	Tags     string `json:"tags,omitempty"`
	HAState  string `json:"hastate,omitempty"`
}

func summaryOf(r *clusterResource) guestSummary {
	return guestSummary{Type: r.Type, Node: r.Node, Name: r.Name, Status: r.Status, MaxMem: r.MaxMem, MaxDisk: r.MaxDisk,
		MaxCPU: r.MaxCPU, Lock: r.Lock, Template: r.Template, Pool: r.Pool, Tags: r.Tags, HAState: r.HAstate}
}

// specDigest identifies a spec: the SHA-256 of its JSON ("" for none).
// Proxmox specs hold no secret (the inventory keeps them as they are).
func specDigest(s steps.Spec) string {
	if s == nil {
		return ""
	}
	b, err := json.Marshal(s)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keepable reports whether a guest's config may be stored: not when it
// holds a secret (qemu's cipassword, secretKeys), which then stays on the
// Proxmox server only and the guest is read live every time.
func keepable(conf, current map[string]string) bool {
	for k := range secretKeys {
		if _, ok := conf[k]; ok {
			return false
		}
		if _, ok := current[k]; ok {
			return false
		}
	}
	return true
}

// loadObserved reads the store in dir: the file is a SHA-256 of the JSON
// that follows it, in hex, then a newline. Anything wrong gives nil.
func loadObserved(dir string) *observation {
	if dir == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, observedFile))
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, observedMaxBytes+1))
	if err != nil || len(b) > observedMaxBytes {
		return nil
	}
	sum, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil
	}
	got := sha256.Sum256(body)
	if hex.EncodeToString(got[:]) != string(sum) {
		return nil
	}
	var o observation
	if json.Unmarshal(body, &o) != nil || o.Version != observedVersion || o.Guests == nil {
		return nil
	}
	gone, err := os.ReadFile(filepath.Join(dir, forgottenFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) || len(gone) > observedMaxBytes {
		return nil
	}
	for _, line := range strings.Fields(string(gone)) {
		vmid, err := strconv.Atoi(line)
		if err != nil {
			return nil
		}
		delete(o.Guests, vmid)
	}
	return &o
}

// saveObserved replaces the store in dir with o (mode 0600, atomically).
func saveObserved(dir string, o *observation) error {
	if dir == "" {
		return nil
	}
	if len(o.Guests) > observedMaxGuests {
		return removeObserved(dir)
	}
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if len(body) > observedMaxBytes-65 {
		return removeObserved(dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	out := make([]byte, 0, len(body)+65)
	out = append(append(append(out, hex.EncodeToString(sum[:])...), '\n'), body...)
	if err := atomicfile.Write(filepath.Join(dir, observedFile), out, 0o600); err != nil {
		return err
	}
	// The new store holds no read of a guest changed since: a guest changed
	// after it is forgotten again.
	if err := os.Remove(filepath.Join(dir, forgottenFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func removeObserved(dir string) error {
	if err := os.Remove(filepath.Join(dir, observedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// appendForgotten adds vmid to the forgotten list of the store in dir,
// durably (the list is small: one line per guest changed since the store
// was written, so a change costs an append, not a rewrite of the store).
func appendForgotten(dir string, vmid int) (err error) {
	f, err := os.OpenFile(filepath.Join(dir, forgottenFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = f.WriteString(strconv.Itoa(vmid) + "\n"); err != nil {
		return err
	}
	return f.Sync()
}

// keptReads is the backend's copy of the store, from its last Observe.
type keptReads struct {
	mu  sync.Mutex
	dir string       // steps.ObserveOptions.Dir of that Observe
	obs *observation // nil: none
}

// set records the store an Observe wrote (obs nil: none).
func (k *keptReads) set(dir string, obs *observation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dir, k.obs = dir, obs
}

// forget drops a guest's kept read before the runner changes it, so that
// a change that fails half way is never hidden by a read from before it:
// the next Observe reads the guest live.
func (k *keptReads) forget(vmid int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.obs == nil || k.obs.Guests[vmid] == nil {
		return
	}
	delete(k.obs.Guests, vmid)
	if err := appendForgotten(k.dir, vmid); err != nil {
		// Unable to drop the entry: drop the whole store instead.
		_ = removeObserved(k.dir)
		k.obs = nil
	}
}
