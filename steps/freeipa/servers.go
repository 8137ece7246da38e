package freeipa

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Which of several replicas serves, across runs: each run is a new
// process, so a replica that hangs would cost every run its timeout
// before the next one takes over. The replica that took over is kept in
// preferFile, in the runner's observe directory
// (steps.ObserveOptions.Dir), and the next run starts there; the others
// keep their turn after it, so none is skipped for good. The file counts
// for preferHold after it was written: then the configured order is tried
// again (a replica that recovered is used again within an hour).
const (
	preferFile = "freeipa-server"
	preferHold = time.Hour
)

// usePreferred makes the client start at the replica in preferFile under
// the observe directory of ctx, when the file is fresh and names one of the
// configured servers, and no call was answered yet in this process.
func (b *Backend) usePreferred(ctx context.Context) {
	dir := steps.ObserveOptionsFrom(ctx).Dir
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == dir {
		return
	}
	b.dir, b.onFile = dir, ""
	if dir == "" || len(b.client.servers) < 2 {
		return
	}
	path := filepath.Join(dir, preferFile)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if time.Since(fi.ModTime()) > preferHold {
		_ = os.Remove(path) // the configured order again
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return
	}
	base := strings.TrimSpace(string(raw))
	if b.client.prefer(base) {
		b.onFile = base
		b.Infof("freeipa: trying %s first: it served an earlier run when the servers before it failed (%s)", base, path)
	}
}

// rememberServer keeps the server that answered last in preferFile when
// it is not the first configured one, and removes the file when it is; it
// writes only when that changes. A file that cannot be written is warned
// about: the next run then tries the first server again.
func (b *Backend) rememberServer() {
	served := b.client.Served()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == "" || served == "" || served == b.onFile || len(b.client.servers) < 2 {
		return
	}
	path := filepath.Join(b.dir, preferFile)
	if served == b.client.servers[0].base {
		if err := os.Remove(path); err == nil || errors.Is(err, fs.ErrNotExist) {
			b.onFile = served
		}
		return
	}
	err := os.MkdirAll(b.dir, 0o700)
	if err == nil {
		err = atomicfile.Write(path, []byte(served+"\n"), 0o600)
	}
	if err != nil {
		b.Warnf("freeipa: cannot keep the server that served for the next run: %v (the next run tries %s first again)", err, b.client.servers[0].base)
	}
	b.onFile = served
}

// logServed says in the run's log which server served the reads of an
// Observe, and which could not be reached.
func (b *Backend) logServed() {
	served := b.client.Served()
	if served == "" {
		return
	}
	if down := b.client.Unreachable(); len(down) > 0 {
		b.Warnf("freeipa: served by %s; could not reach %s", served, strings.Join(down, ", "))
		return
	}
	b.Infof("freeipa: served by %s", served)
}

// Warnings implements steps.Warner: the servers that could not be reached
// (in STATUS.md's warnings), with the one that served instead.
func (b *Backend) Warnings() []string {
	if b.client == nil {
		return nil
	}
	down := b.client.Unreachable()
	if len(down) == 0 {
		return nil
	}
	msg := "could not reach " + strings.Join(down, ", ")
	if s := b.client.Served(); s != "" {
		msg += "; served by " + s
	}
	return []string{msg}
}

// LiveSummary implements steps.LiveSummarizer: the server that answered
// the last call (live.freeipa.server in status.json and the policy input),
// and those that could not be reached (live.freeipa.unreachable);
// empty before any call was answered.
func (b *Backend) LiveSummary() any {
	out := map[string]any{}
	if b.client == nil {
		return out
	}
	if s := b.client.Served(); s != "" {
		out["server"] = s
	}
	if down := b.client.Unreachable(); len(down) > 0 {
		out["unreachable"] = down
	}
	return out
}
