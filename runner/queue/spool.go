package queue

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
)

// Job is one push to deploy. It is written durably by the post-receive hook
// and taken by a worker.
type Job struct {
	ID       string    `json:"id"`
	Repo     string    `json:"repo"` // the repository's git directory
	Ref      string    `json:"ref"`
	Old      string    `json:"old"`
	New      string    `json:"new"`
	Pusher   string    `json:"pusher"`
	PushedAt time.Time `json:"pushedAt"`
	// PlanOnly records a plan without applying (git push -o runner.plan-only).
	PlanOnly bool `json:"planOnly,omitempty"`
	// Attempts counts the workers that took the job and did not come back
	// from running it: a worker that returns (done, failed to record, or
	// stopped by a signal it handles) gives its attempt back. Written
	// durably before each run, so a worker killed mid-run leaves it counted.
	Attempts int `json:"attempts,omitempty"`
	// TakenBy is the process ID of the worker that last took the job, and
	// TakenAt when.
	TakenBy int       `json:"takenBy,omitempty"`
	TakenAt time.Time `json:"takenAt,omitzero"`
	// Died says how the worker that last took the job ended, when whoever
	// started it saw that (e.g. "killed by signal 9"; see RecordDeath).
	Died string `json:"died,omitempty"`
}

// Spool is the durable job queue of one repository: a directory with
// pending/ (waiting), running/ (taken by a worker) and logs/ (progress for
// followers). Every state change is a rename, so a crash leaves each job in
// exactly one place.
type Spool struct{ dir string }

// Open opens (and creates) the spool in dir.
func Open(dir string) (*Spool, error) {
	for _, d := range []string{"pending", "running", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, fmt.Errorf("queue %s: %w (check stateDir in the runner config and its permissions)", dir, err)
		}
	}
	return &Spool{dir: dir}, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// NewJobID returns an ID that sorts by time.
func NewJobID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%020d-%s", now.UnixNano(), hex.EncodeToString(b[:]))
}

// Add writes a job durably: temp file, fsync, rename into pending/, fsync
// the directory. When Add returns, the job survives a crash.
func (s *Spool) Add(j *Job) error {
	if j.ID == "" {
		j.ID = NewJobID(time.Now())
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.dir, "pending", j.ID+".json"), b, 0o640); err != nil {
		return fmt.Errorf("queue job: %w", err)
	}
	return nil
}

// Pending lists waiting jobs, oldest first.
func (s *Spool) Pending() ([]*Job, error) { return s.list("pending") }

// Running lists jobs a worker took and did not finish (after a crash).
func (s *Spool) Running() ([]*Job, error) { return s.list("running") }

func (s *Spool) list(state string) ([]*Job, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, state))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []*Job
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.dir, state, n))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // taken meanwhile
			}
			return nil, err
		}
		j := &Job{}
		if err := json.Unmarshal(b, j); err != nil {
			return nil, fmt.Errorf("queue %s/%s: %w (move the file away to unblock the queue)", state, n, err)
		}
		out = append(out, j)
	}
	return out, nil
}

// Take moves a pending job to running/ (the worker owns it now), counting
// the attempt durably first: if the worker dies running it, the next worker
// sees the count.
func (s *Spool) Take(j *Job) error {
	j.Attempts++
	j.TakenBy, j.TakenAt, j.Died = os.Getpid(), time.Now().UTC(), ""
	if err := s.write("pending", j); err != nil {
		j.Attempts--
		return err
	}
	return s.move(j, "pending", "running")
}

// Survived gives back the attempt of a taken job whose run returned (it
// failed or was stopped, but the worker did not die): the job stays in
// running/ for the next worker, which does not count it as a death.
func (s *Spool) Survived(j *Job) error {
	if j.Attempts > 0 {
		j.Attempts--
	}
	return s.write("running", j)
}

// RecordDeath notes how the worker with process ID pid ended (e.g. "killed
// by signal 9") on the jobs it left in running/, so that giving up on a job
// can say why. Call it with the repo lock held (TryLockRepo), so no worker
// moves the jobs meanwhile.
func (s *Spool) RecordDeath(pid int, how string) error {
	js, err := s.Running()
	if err != nil {
		return err
	}
	for _, j := range js {
		if j.TakenBy == pid {
			j.Died = how
			if err := s.write("running", j); err != nil {
				return err
			}
		}
	}
	return nil
}

// write replaces the job's file in state durably.
func (s *Spool) write(state string, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.dir, state, j.ID+".json"), b, 0o640); err != nil {
		return fmt.Errorf("queue: update job %s in %s: %w", j.ID, state, err)
	}
	return nil
}

// Requeue moves a job a dead worker left in running/ back to pending/.
func (s *Spool) Requeue(j *Job) error { return s.move(j, "running", "pending") }

// Finish removes a taken job: its run is recorded.
func (s *Spool) Finish(j *Job) error {
	err := os.Remove(filepath.Join(s.dir, "running", j.ID+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, "running"))
}

// Drop removes a pending job that a newer one superseded.
func (s *Spool) Drop(j *Job) error {
	err := os.Remove(filepath.Join(s.dir, "pending", j.ID+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, "pending"))
}

func (s *Spool) move(j *Job, from, to string) error {
	if err := os.Rename(filepath.Join(s.dir, from, j.ID+".json"), filepath.Join(s.dir, to, j.ID+".json")); err != nil {
		return fmt.Errorf("queue: move job %s from %s to %s: %w", j.ID, from, to, err)
	}
	if err := atomicfile.SyncDir(filepath.Join(s.dir, to)); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, from))
}

// LogPath is the progress log of a job, which followers tail.
func (s *Spool) LogPath(id string) string { return filepath.Join(s.dir, "logs", id+".log") }

// PruneLogs removes progress logs older than age.
func (s *Spool) PruneLogs(age time.Duration) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "logs"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(s.dir, "logs", e.Name()))
		}
	}
}
