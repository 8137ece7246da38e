package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/lib"
)

// The evaluation cache keeps a commit's evaluated JSON between the
// pre-receive check and the worker, so a push is evaluated once. An entry
// is addressed by everything the output depends on — the commit, the entry
// file, the ext vars, the limits, the embedded lib and go-jsonnet's
// version — and carries the SHA-256 of its output, checked on read. A
// missing, stale or damaged entry just means evaluating again.

// evalCacheMaxAge is how long an entry is kept: a push's check and its
// deploy are minutes apart; a replay of an old commit evaluates again.
const evalCacheMaxAge = 7 * 24 * time.Hour

// An entry is a file <key>.eval: the line "gitops-runner eval <key>
// <sha256 of the output>", then the output as it is (no JSON string
// around it: escaping and unescaping 0.5 MB cost ~8 ms per push at 1000
// guests).
const evalCacheMagic = "gitops-runner eval "

// evaluatorID names what, besides the commit, decides an evaluation's
// output: go-jsonnet's version and the embedded lib's contents.
var evaluatorID = sync.OnceValue(func() string {
	h := sha256.New()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/google/go-jsonnet" {
				h.Write([]byte(d.Path + "@" + d.Version + "\n"))
			}
		}
	}
	for _, p := range libFiles(lib.FS) {
		b, _ := fs.ReadFile(lib.FS, p)
		h.Write([]byte(p + "\n"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
})

// evalKey is the cache key of an evaluation.
func evalKey(commit, entry string, vars Vars, lim Limits) string {
	b, _ := json.Marshal(struct {
		Evaluator, Commit, Entry string
		Vars                     Vars
		MaxStack, MaxOutput      int
	}{evaluatorID(), commit, entry, vars, lim.MaxStack, lim.MaxOutput})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cachedEval returns the cached output of an evaluation, if there is a
// sound entry.
func (r *Runner) cachedEval(key string) ([]byte, bool) {
	if r.EvalCache == "" || key == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(r.EvalCache, key+".eval"))
	if err != nil {
		return nil, false
	}
	head, out, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, false
	}
	fields := strings.Fields(strings.TrimPrefix(string(head), evalCacheMagic))
	if !bytes.HasPrefix(head, []byte(evalCacheMagic)) || len(fields) != 2 || fields[0] != key {
		return nil, false
	}
	sum := sha256.Sum256(out)
	if hex.EncodeToString(sum[:]) != fields[1] {
		return nil, false
	}
	return out, true
}

// storeEval keeps an evaluation's output and drops entries older than
// evalCacheMaxAge. Failing to cache is not an error: the next reader
// evaluates again.
func (r *Runner) storeEval(key string, out []byte) {
	if r.EvalCache == "" {
		return
	}
	if err := os.MkdirAll(r.EvalCache, 0o700); err != nil {
		r.Log.WithField("dir", r.EvalCache).Debug("evaluation cache: " + err.Error())
		return
	}
	sum := sha256.Sum256(out)
	head := evalCacheMagic + key + " " + hex.EncodeToString(sum[:]) + "\n"
	if err := writeUnsynced(filepath.Join(r.EvalCache, key+".eval"), []byte(head), out); err != nil {
		r.Log.WithField("dir", r.EvalCache).Debug("evaluation cache: " + err.Error())
	}
	ents, _ := os.ReadDir(r.EvalCache)
	for _, d := range ents {
		if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > evalCacheMaxAge {
			_ = os.Remove(filepath.Join(r.EvalCache, d.Name()))
		}
	}
}

// writeUnsynced writes the parts, one after the other, to path (mode 0600)
// through a temporary file renamed over it, without fsync: an entry lost
// or torn by a crash fails its SHA-256 check and the commit is evaluated
// again, so the push-time check does not wait for the disk (an fsync took
// 5–20 ms on the test VM).
func writeUnsynced(path string, parts ...[]byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	for _, b := range parts {
		if err == nil {
			_, err = f.Write(b)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
