package proxmox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/gitops-runner/gitops-runner/steps"
)

// APIError is an error answer of the Proxmox API: its status, the message
// PVE puts in the reason phrase, and the per-parameter errors of a 400.
type APIError struct {
	Status  int
	Message string
	// Params maps parameter names to PVE's complaint (400 only).
	Params map[string]string
}

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
		keys := make([]string, 0, len(e.Params))
		for k := range e.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + strings.TrimSpace(e.Params[k])
		}
		b.WriteString(" [" + strings.Join(parts, "; ") + "]")
	}
	return b.String()
}

// Transient reports whether the error may pass on a retry: lock contention
// ("can't lock file … got timeout", a guest locked by a running task) and
// pveproxy's 595/596 (api-facts §1).
func (e *APIError) Transient() bool {
	switch e.Status {
	case 595, 596, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return isLockMessage(e.Message)
}

func isLockMessage(msg string) bool {
	return (strings.Contains(msg, "can't lock file") && strings.Contains(msg, "got timeout")) ||
		strings.Contains(msg, "is locked (")
}

// classifier turns every HTTP error answer into an *APIError before
// go-proxmox sees it: go-proxmox reduces 500 to its status line, 400 to a
// string and lets 595/596 fall into JSON decoding (api-facts §2), which would
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
		return isLockMessage(te.exit)
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
// WARNINGS: N.
type taskError struct {
	upid string
	exit string
}

func (e *taskError) Error() string { return fmt.Sprintf("task %s failed: %s", e.upid, e.exit) }
