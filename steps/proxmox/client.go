package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	goprox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps"
)

// callAttempts is how often one API call is tried when its error is
// transient, before the error goes to the executor (which retries the whole
// change). Retrying the single call keeps a create that already happened
// from being repeated.
const callAttempts = 4

// do runs one API call with retries of transient errors and wraps its error
// with the method and path. A 400's parameter names stay in the message.
func (b *Backend) do(ctx context.Context, method, path string, call func() error) error {
	wait := b.retryWait
	var err error
	for attempt := 1; ; attempt++ {
		err = call()
		if err == nil {
			return nil
		}
		err = unwrapURLError(err)
		if l := limiterFrom(ctx); l != nil && strained(err) {
			l.strain()
		}
		if !isTransient(err) || attempt >= callAttempts || ctx.Err() != nil {
			break
		}
		if serr := steps.Sleep(ctx, wait); serr != nil {
			break
		}
		wait = min(wait*2, 5*time.Second)
	}
	msg := fmt.Sprintf("%s %s", method, path)
	if b.red != nil {
		msg = b.red.Redact(msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// unwrapURLError drops net/http's `Get "https://…":` prefix around our
// *APIError (the path is added by do).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ae *APIError
		if errors.As(ue.Err, &ae) {
			return ae
		}
		return ue.Err
	}
	return err
}

func (b *Backend) get(ctx context.Context, path string, v any) error {
	return b.do(ctx, "GET", path, func() error { return b.client.Get(ctx, path, v) })
}

func (b *Backend) put(ctx context.Context, path string, params map[string]any) error {
	return b.do(ctx, "PUT", path, func() error { return b.client.Put(ctx, path, params, nil) })
}

// post calls an async endpoint and returns the task's UPID.
func (b *Backend) post(ctx context.Context, path string, params map[string]any) (goprox.UPID, error) {
	var upid goprox.UPID
	err := b.do(ctx, "POST", path, func() error { return b.client.Post(ctx, path, params, &upid) })
	return upid, err
}

func (b *Backend) del(ctx context.Context, path string, params map[string]any) (goprox.UPID, error) {
	var upid goprox.UPID
	err := b.do(ctx, "DELETE", path, func() error { return b.client.DeleteWithParams(ctx, path, params, &upid) })
	return upid, err
}

// wait polls a task until it stops and checks its exit status: go-proxmox's
// Task.Wait returns nil for a failed task and counts "WARNINGS: N" as a
// failure, although PVE's status_is_error treats it as success (api-facts
// §1–2). It returns the exit status.
func (b *Backend) wait(ctx context.Context, upid goprox.UPID) (string, error) {
	if upid == "" {
		return "OK", nil // a synchronous answer (e.g. background_delay finished)
	}
	task := goprox.NewTask(upid, b.client)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(b.cfg.TaskTimeout))
	defer cancel()
	interval := min(10*time.Millisecond, time.Duration(b.cfg.PollInterval))
	path := fmt.Sprintf("/nodes/%s/tasks/%s/status", task.Node, upid)
	for {
		var st struct {
			Status     string `json:"status"`
			ExitStatus string `json:"exitstatus"`
		}
		if err := b.get(ctx, path, &st); err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("task %s: no result within taskTimeout %s: %w", upid, time.Duration(b.cfg.TaskTimeout), err)
			}
			return "", err
		}
		if st.Status == "stopped" {
			if st.ExitStatus == "OK" || strings.HasPrefix(st.ExitStatus, "WARNINGS: ") {
				return st.ExitStatus, nil
			}
			return st.ExitStatus, newTaskError(string(upid), st.ExitStatus)
		}
		if err := steps.Sleep(ctx, interval); err != nil {
			return "", fmt.Errorf("task %s: no result within taskTimeout %s: %w", upid, time.Duration(b.cfg.TaskTimeout), err)
		}
		// Short tasks are common (config, start); back off to the
		// configured interval for long ones.
		interval = min(interval*2, time.Duration(b.cfg.PollInterval))
	}
}

// task posts (or deletes) and waits, printing "what: task UPID… OK".
//
// A task that failed on a busy guest's lock ("can't lock file … got
// timeout" in the worker) is started again, like a call.
func (b *Backend) task(ctx context.Context, p steps.Progress, what string, start func() (goprox.UPID, error)) error {
	wait := b.retryWait
	for attempt := 1; ; attempt++ {
		upid, err := start()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		exit, err := b.wait(ctx, upid)
		if err == nil {
			progressf(p, "%s: task %s %s", what, upid, exit)
			return nil
		}
		progressf(p, "%s: task %s %s", what, upid, orFailed(exit))
		var te *taskError
		if !errors.As(err, &te) || !errors.Is(te, ErrGuestLocked) || attempt >= callAttempts {
			return fmt.Errorf("%s: %w", what, err)
		}
		if serr := steps.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// putTask calls a PUT that answers with a UPID (resize).
func (b *Backend) putTask(ctx context.Context, path string, params map[string]any) (goprox.UPID, error) {
	var upid goprox.UPID
	err := b.do(ctx, "PUT", path, func() error { return b.client.Put(ctx, path, params, &upid) })
	return upid, err
}

func orFailed(exit string) string {
	if exit == "" {
		return "failed"
	}
	return "failed: " + exit
}

// progressf is a Progress that may be nil.
func progressf(p steps.Progress, format string, args ...any) {
	if p != nil {
		p.Printf(format, args...)
	}
}
