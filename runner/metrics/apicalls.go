package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
)

// APICall is one row of the API-call counts: the calls one backend made
// with one method and one outcome.
type APICall struct {
	// Backend is the backend's name (proxmox, route53, freeipa, acme).
	Backend string `json:"backend"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Outcome is the response's status class ("2xx", "3xx", "4xx", "5xx")
	// or "error" when no response came (connection refused, timeout, TLS).
	Outcome string `json:"outcome"`
	// Count is the number of calls.
	Count float64 `json:"count"`
}

type apiKey struct{ backend, method, outcome string }

// APICalls counts the backend API calls of one process (its Observe is the
// steps.APICallObserver the runner sets) until Flush adds them to the
// state directory's file, where the metrics endpoint reads them: deploy
// runs happen in other processes than the one serving /metrics (the
// hook's workers, serve's children), so the counts meet in a file.
type APICalls struct {
	mu sync.Mutex
	n  map[apiKey]float64
}

// Observe counts one call (a steps.APICallObserver).
func (a *APICalls) Observe(backend, method string, status int, err error) {
	outcome := "error"
	if err == nil && status >= 100 && status < 600 {
		outcome = strconv.Itoa(status/100) + "xx"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[apiKey]float64{}
	}
	a.n[apiKey{backend, method, outcome}]++
}

// Flush adds the calls counted since the last Flush to the file at path
// (JSON, created with its directory when missing) and forgets them. The
// read-add-write holds an flock(2) on path+".lock", so processes flushing
// at once add up; the file is replaced atomically. Nothing counted: the
// file is not touched.
func (a *APICalls) Flush(path string) error {
	a.mu.Lock()
	n := a.n
	a.n = nil
	a.mu.Unlock()
	if len(n) == 0 {
		return nil
	}
	err := addAPICalls(path, n)
	if err != nil {
		// Keep them for the next flush.
		a.mu.Lock()
		if a.n == nil {
			a.n = map[apiKey]float64{}
		}
		for k, v := range n {
			a.n[k] += v
		}
		a.mu.Unlock()
	}
	return err
}

func addAPICalls(path string, n map[apiKey]float64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("API call counts: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the runner's state directory
	if err != nil {
		return fmt.Errorf("API call counts: %w", err)
	}
	defer lock.Close() //nolint:errcheck // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("API call counts: lock %s: %w", lock.Name(), err)
	}
	rows, err := ReadAPICalls(path)
	if err != nil {
		return err
	}
	sum := map[apiKey]float64{}
	for _, r := range rows {
		sum[apiKey{r.Backend, r.Method, r.Outcome}] += r.Count
	}
	for k, v := range n {
		sum[k] += v
	}
	out := make([]APICall, 0, len(sum))
	for k, v := range sum {
		out = append(out, APICall{Backend: k.backend, Method: k.method, Outcome: k.outcome, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Backend != b.Backend {
			return a.Backend < b.Backend
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Outcome < b.Outcome
	})
	b, err := json.MarshalIndent(struct {
		Calls []APICall `json:"calls"`
	}{out}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("API call counts: %w", err)
	}
	return nil
}

// ReadAPICalls reads the counts Flush wrote (none when the file does not
// exist yet).
func ReadAPICalls(path string) ([]APICall, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the runner's state directory
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("API call counts: %w", err)
	}
	var f struct {
		Calls []APICall `json:"calls"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("API call counts %s: %w (delete the file to start counting afresh)", path, err)
	}
	return f.Calls, nil
}

// APICallsFile is where a runner with state directory stateDir keeps its
// API call counts.
func APICallsFile(stateDir string) string {
	return filepath.Join(stateDir, "metrics", "api-calls.json")
}
