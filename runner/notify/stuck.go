package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// DefaultStuckAfter is how long a job may wait before it is reported stuck.
const DefaultStuckAfter = time.Hour

// Stuck mails once about each job of the spool that has waited (pending, or
// taken by a worker and not finished) longer than mail.stuckAfter since it
// was pushed. markDir remembers which jobs were reported (one empty file per
// job ID), so a job is reported once however often Stuck runs; marks of jobs
// no longer queued are removed. It returns how many mails it sent.
func (n *Notifier) Stuck(ctx context.Context, sp *queue.Spool, markDir string) (int, error) {
	if !n.Mail.Wants(QueueStuck) {
		return 0, nil
	}
	after := DefaultStuckAfter
	if n.Mail.StuckAfter > 0 {
		after = time.Duration(n.Mail.StuckAfter)
	}
	pending, err := sp.Pending()
	if err != nil {
		return 0, err
	}
	running, err := sp.Running()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(markDir, 0o750); err != nil {
		return 0, err
	}
	queued := map[string]bool{}
	sent := 0
	now := n.now()
	for _, js := range []struct {
		state string
		jobs  []*queue.Job
	}{{"pending", pending}, {"running", running}} {
		for _, j := range js.jobs {
			queued[j.ID] = true
			if now.Sub(j.PushedAt) < after {
				continue
			}
			mark := filepath.Join(markDir, j.ID)
			if _, err := os.Stat(mark); err == nil {
				continue
			}
			if err := n.Send(ctx, n.stuckMessage(j, js.state, now, sp.Dir())); err != nil {
				return sent, err
			}
			sent++
			if err := atomicfile.Write(mark, nil, 0o640); err != nil {
				return sent, err
			}
		}
	}
	entries, err := os.ReadDir(markDir)
	if err != nil {
		return sent, err
	}
	for _, e := range entries {
		if !queued[e.Name()] {
			if err := os.Remove(filepath.Join(markDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return sent, err
			}
		}
	}
	return sent, nil
}

// stuckMessage renders the mail about a job that waits too long.
func (n *Notifier) stuckMessage(j *queue.Job, state string, now time.Time, spoolDir string) Message {
	age := now.Sub(j.PushedAt).Round(time.Second)
	subject := fmt.Sprintf("[%s] queue: push of %s waiting for %s", n.Repo, gitstore.Short(j.New), age)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", strings.TrimPrefix(subject, "["+n.Repo+"] "))
	fmt.Fprintf(&b, "Repository: %s (%s)\n", n.Repo, n.RepoPath)
	fmt.Fprintf(&b, "Job:        %s (%s), %s of %s pushed by %s at %s\n", j.ID, state, strings.TrimPrefix(j.Ref, "refs/heads/"), gitstore.Short(j.New), j.Pusher, j.PushedAt.UTC().Format(time.RFC3339))
	if state == "running" {
		fmt.Fprintf(&b, "Taken by:   worker pid %d at %s (attempt %d)\n", j.TakenBy, j.TakenAt.UTC().Format(time.RFC3339), j.Attempts)
	}
	fmt.Fprintf(&b, "\nNo run has recorded this push yet. A worker may hang (an apply waiting on a\nbackend), or none runs: is `runner serve` up? What to look at:\n")
	fmt.Fprintf(&b, "  ls %s/pending %s/running\n", spoolDir, spoolDir)
	fmt.Fprintf(&b, "  tail %s\n", filepath.Join(spoolDir, "logs", j.ID+".log"))
	fmt.Fprintf(&b, "  runner work --repo %s          # drain the queue now (waits for the lock)\n", n.Repo)
	return Message{Event: QueueStuck, Subject: subject, Body: b.String(), ID: j.ID}
}
