package proxmox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The kinds of Proxmox failure the backend decides on. They are classified
// once, where the error is made (the HTTP classifier and the task poll), from
// the status and PVE's fixed wording; decision sites use errors.Is.
var (
	// ErrGuestLocked is lock contention on a guest: its config file lock
	// timed out ("can't lock file '/var/lock/qemu-server/lock-100.conf' -
	// got timeout", pve-common Tools.pm lock_file_full, docs/api-facts.md §1) or a
	// running task holds the guest's config lock ("CT is locked (backup)",
	// pve-guest-common AbstractConfig.pm check_lock). It passes on a retry.
	ErrGuestLocked = errors.New("guest is locked")
	// ErrGuestNotFound is a guest whose config does not exist on the node
	// of the path: "Configuration file 'nodes/pve/lxc/101.conf' does not
	// exist" (pve-guest-common AbstractConfig.pm load_config), a 500.
	ErrGuestNotFound = errors.New("guest does not exist")
	// ErrVMIDTaken is a create or clone whose VMID another guest holds:
	// "CT 101 already exists on node 'pve'" (pve-cluster Cluster.pm
	// check_vmid_unused), "unable to create VM 104: config file already
	// exists" (qemu-server clone), or nextid's 400 with errors.vmid "VM 101
	// already exists" (docs/api-facts.md §1 nextid).
	ErrVMIDTaken = errors.New("VMID is taken")
	// ErrNodeUnreachable is pveproxy failing to reach the node of the path:
	// the AnyEvent::HTTP pseudo-statuses 595 and 596 (docs/api-facts.md §1).
	ErrNodeUnreachable = errors.New("node is unreachable")
)

// PVE's fixed wordings (see the sentinels above for their sources).
var (
	lockTimeoutRE  = regexp.MustCompile(`can't lock file '[^']*' - got timeout`)
	lockedRE       = regexp.MustCompile(`\b(VM|CT) is locked \(`)
	noConfigRE     = regexp.MustCompile(`Configuration file '[^']*' does not exist`)
	vmidInUseRE    = regexp.MustCompile(`(VM|CT) \d+ already exists on node '`)
	cloneExistsRE  = regexp.MustCompile(`unable to create (VM|CT) \d+: config file already exists`)
	nextIDExistsRE = regexp.MustCompile(`^VM \d+ already exists$`)
)

// classifyMessage maps one PVE error message (a reason phrase or a task's
// exit status) to its sentinel, or nil.
func classifyMessage(msg string) error {
	msg = strings.TrimSpace(msg)
	switch {
	case lockTimeoutRE.MatchString(msg), lockedRE.MatchString(msg):
		return ErrGuestLocked
	case noConfigRE.MatchString(msg):
		return ErrGuestNotFound
	case vmidInUseRE.MatchString(msg), cloneExistsRE.MatchString(msg):
		return ErrVMIDTaken
	}
	return nil
}

// classifyAPI maps an API error answer to its sentinel, or nil.
func classifyAPI(status int, msg string, params map[string]string) error {
	switch status {
	case 595, 596:
		return ErrNodeUnreachable
	case http.StatusBadRequest:
		for _, k := range []string{"vmid", "newid"} {
			if nextIDExistsRE.MatchString(strings.TrimSpace(params[k])) {
				return ErrVMIDTaken
			}
		}
		return nil
	}
	return classifyMessage(msg)
}

// APIError is an error answer of the Proxmox API: its status, the message
// PVE puts in the reason phrase, and the per-parameter errors of a 400.
// errors.Is matches it against the sentinel it was classified as
// (ErrGuestLocked …).
type APIError struct {
	Status  int
	Message string
	// Params maps parameter names to PVE's complaint (400 only).
	Params map[string]string
	// Kind is the sentinel the error was classified as (nil: none).
	Kind error
}

// Unwrap returns the sentinel the error was classified as.
func (e *APIError) Unwrap() error { return e.Kind }

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString(" (check tokenId and tokenSecret in backends.proxmox)")
	case 595, 596:
		b.WriteString(" (pveproxy could not reach the node)")
	}
	if len(e.Params) > 0 {
		keys := slices.Sorted(maps.Keys(e.Params))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + strings.TrimSpace(e.Params[k])
		}
		b.WriteString(" [" + strings.Join(parts, "; ") + "]")
	}
	return b.String()
}

// Transient reports whether the error may pass on a retry: lock contention
// (ErrGuestLocked), an unreachable node (595/596) and gateway errors.
func (e *APIError) Transient() bool {
	switch e.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return errors.Is(e.Kind, ErrNodeUnreachable) || errors.Is(e.Kind, ErrGuestLocked)
}

// classifier turns every HTTP error answer into an *APIError before
// go-proxmox sees it: go-proxmox reduces 500 to its status line, 400 to a
// string and lets 595/596 fall into JSON decoding (docs/api-facts.md §2), which would
// lose the status and the parameter names.
type classifier struct{ next http.RoundTripper }

func (c classifier) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 400 {
		return res, nil
	}
	defer func() { _ = res.Body.Close() }()
	e := &APIError{Status: res.StatusCode, Message: strings.TrimSpace(strings.TrimPrefix(res.Status, strconv.Itoa(res.StatusCode)))}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var env struct {
		Message string            `json:"message"`
		Errors  map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Params = env.Errors
		if env.Message != "" && (e.Message == "" || e.Message == http.StatusText(res.StatusCode)) {
			e.Message = strings.TrimSpace(env.Message)
		}
	}
	e.Kind = classifyAPI(e.Status, e.Message, e.Params)
	return nil, e
}

// isTransient classifies any error of an API call.
func isTransient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Transient()
	}
	var te *taskError
	if errors.As(err, &te) {
		return errors.Is(te, ErrGuestLocked)
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classify marks transient errors for the executor's retry.
func classify(err error) error {
	if err != nil && isTransient(err) && !steps.IsTransient(err) {
		return steps.Transient(err)
	}
	return err
}

// taskError is a task that ended with an exit status other than OK or
// WARNINGS: N (the worker's error text, docs/api-facts.md §1 task status). errors.Is
// matches it against the sentinel its exit status was classified as.
type taskError struct {
	upid string
	exit string
	kind error
}

func newTaskError(upid, exit string) *taskError {
	return &taskError{upid: upid, exit: exit, kind: classifyMessage(exit)}
}

func (e *taskError) Error() string { return fmt.Sprintf("task %s failed: %s", e.upid, e.exit) }

// Unwrap returns the sentinel the exit status was classified as.
func (e *taskError) Unwrap() error { return e.kind }
