package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/queue"
)

func newSpool(t *testing.T) (*queue.Spool, string) {
	t.Helper()
	dir := t.TempDir()
	sp, err := queue.Open(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	gitDir := filepath.Join(dir, "repo.git")
	if err := os.Mkdir(gitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return sp, gitDir
}

func add(t *testing.T, sp *queue.Spool, commit string, planOnly bool) *queue.Job {
	t.Helper()
	j := &queue.Job{New: commit, Ref: "refs/heads/main", PlanOnly: planOnly}
	if err := sp.Add(j); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // distinct, ordered IDs
	return j
}

// recorder is a worker whose runs and supersedes are recorded.
type recorder struct {
	mu         sync.Mutex
	ran        []string
	superseded map[string]string
	fail       error
}

func (r *recorder) runs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.ran)
}

func (r *recorder) worker(sp *queue.Spool, gitDir string) *queue.Worker {
	r.superseded = map[string]string{}
	return &queue.Worker{Spool: sp, GitDir: gitDir, Wait: true,
		Run: func(_ context.Context, j *queue.Job) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.fail != nil {
				return r.fail
			}
			kind := "deploy "
			if j.PlanOnly {
				kind = "plan "
			}
			r.ran = append(r.ran, kind+j.New)
			return nil
		},
		Supersede: func(_ context.Context, old, by *queue.Job) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.superseded[old.New] = by.New
			return nil
		},
	}
}

func TestNewestDeploySupersedesOlder(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	add(t, sp, "c2", false)
	add(t, sp, "p1", true)
	add(t, sp, "c3", false)
	rec := &recorder{}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.ran) != "[plan p1 deploy c3]" {
		t.Errorf("ran %v, want the plan-only job and the newest deploy", rec.ran)
	}
	if rec.superseded["c1"] != "c3" || rec.superseded["c2"] != "c3" || len(rec.superseded) != 2 {
		t.Errorf("superseded = %v", rec.superseded)
	}
	for _, list := range []func() ([]*queue.Job, error){sp.Pending, sp.Running} {
		if js, _ := list(); len(js) != 0 {
			t.Errorf("jobs left: %v", js)
		}
	}
}

func TestKilledWorkersJobRunsAgain(t *testing.T) {
	sp, gitDir := newSpool(t)
	j := add(t, sp, "c1", false)
	// A worker took the job and died (its lock died with it).
	if err := sp.Take(j); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.ran) != "[deploy c1]" {
		t.Errorf("ran %v, want the orphaned job run again", rec.ran)
	}
	// An orphan and a newer push: the newer one supersedes it.
	j = add(t, sp, "c2", false)
	if err := sp.Take(j); err != nil {
		t.Fatal(err)
	}
	add(t, sp, "c3", false)
	rec = &recorder{}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.ran) != "[deploy c3]" || rec.superseded["c2"] != "c3" {
		t.Errorf("ran %v, superseded %v", rec.ran, rec.superseded)
	}
}

func TestFailedRunStaysQueued(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	rec := &recorder{fail: errors.New("status branch unwritable")}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err == nil {
		t.Fatal("Drain hid the failure")
	}
	if js, _ := sp.Running(); len(js) != 1 {
		t.Fatalf("running = %v, want the job kept for the next worker", js)
	}
	rec.fail = nil
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil || fmt.Sprint(rec.ran) != "[deploy c1]" {
		t.Errorf("retry: %v, ran %v", err, rec.ran)
	}
}

func TestBusyLockLeavesWorkToHolder(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	held, ok, err := queue.TryLockRepo(gitDir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	rec := &recorder{}
	w := rec.worker(sp, gitDir)
	w.Wait = false
	if err := w.Drain(context.Background()); err != nil || len(rec.ran) != 0 {
		t.Fatalf("no-wait drain with a busy lock: %v, ran %v", err, rec.ran)
	}
	// A waiting worker runs once the holder lets go.
	done := make(chan error)
	go func() { done <- rec.worker(sp, gitDir).Drain(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if rec.runs() != "[]" {
		t.Fatal("ran while the lock was held")
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || rec.runs() != "[deploy c1]" {
		t.Errorf("after unlock: %v, ran %v", err, rec.ran)
	}
}
