package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// recorder is a worker whose runs, supersedes and give-ups are recorded.
type recorder struct {
	mu         sync.Mutex
	ran        []string
	superseded map[string]string
	gaveUp     map[string]string
	fail       error
}

func (r *recorder) runs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.ran)
}

func (r *recorder) worker(sp *queue.Spool, gitDir string) *queue.Worker {
	r.superseded, r.gaveUp = map[string]string{}, map[string]string{}
	return &queue.Worker{Spool: sp, GitDir: gitDir, Wait: true,
		GiveUp: func(_ context.Context, j *queue.Job, reason string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.gaveUp[j.New] = reason
			return nil
		},
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

// drain runs a recording worker over the spool until nothing is left that it
// can run, and returns what it recorded. A Drain error fails the test.
func drain(t *testing.T, sp *queue.Spool, gitDir string) *recorder {
	t.Helper()
	rec := &recorder{}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rec
}

// wantNoJobs fails the test if a job is left pending or running.
func wantNoJobs(t *testing.T, sp *queue.Spool) {
	t.Helper()
	for _, list := range []func() ([]*queue.Job, error){sp.Pending, sp.Running} {
		if js, _ := list(); len(js) != 0 {
			t.Errorf("jobs left: %v", js)
		}
	}
}

func TestNewestDeploySupersedesOlder(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	add(t, sp, "c2", false)
	add(t, sp, "p1", true)
	add(t, sp, "c3", false)
	rec := drain(t, sp, gitDir)
	if fmt.Sprint(rec.ran) != "[plan p1 deploy c3]" {
		t.Errorf("ran %v, want the plan-only job and the newest deploy", rec.ran)
	}
	if rec.superseded["c1"] != "c3" || rec.superseded["c2"] != "c3" || len(rec.superseded) != 2 {
		t.Errorf("superseded = %v", rec.superseded)
	}
	wantNoJobs(t, sp)
}

func TestKilledWorkersJobRunsAgain(t *testing.T) {
	sp, gitDir := newSpool(t)
	j := add(t, sp, "c1", false)
	// A worker took the job and died (its lock died with it).
	must(t, sp.Take(j))
	rec := drain(t, sp, gitDir)
	if fmt.Sprint(rec.ran) != "[deploy c1]" {
		t.Errorf("ran %v, want the orphaned job run again", rec.ran)
	}
	// An orphan and a newer push: the newer one supersedes it.
	j = add(t, sp, "c2", false)
	must(t, sp.Take(j))
	add(t, sp, "c3", false)
	rec = drain(t, sp, gitDir)
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

// TestMain doubles as a worker that dies running its job (SIGKILL to
// itself, as the OOM killer would) when QUEUE_TEST_DIE names a spool.
func TestMain(m *testing.M) {
	if spool := os.Getenv("QUEUE_TEST_DIE"); spool != "" {
		sp, err := queue.Open(spool)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rec := &recorder{}
		w := rec.worker(sp, os.Getenv("QUEUE_TEST_GITDIR"))
		w.Run = func(context.Context, *queue.Job) error {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		fmt.Fprintln(os.Stderr, w.Drain(context.Background()))
		os.Exit(1) // not reached when a job ran
	}
	os.Exit(m.Run())
}

// dyingWorker runs a worker process that dies running the job it takes,
// and returns its process ID.
func dyingWorker(t *testing.T, sp *queue.Spool, gitDir string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "QUEUE_TEST_DIE="+sp.Dir(), "QUEUE_TEST_GITDIR="+gitDir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("worker did not die: %v\n%s", err, out)
	}
	return cmd.Process.Pid
}

func TestJobThatKillsItsWorkersIsGivenUp(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	dyingWorker(t, sp, gitDir)
	js, err := sp.Running()
	if err != nil || len(js) != 1 || js[0].Attempts != 1 {
		t.Fatalf("after one death: running %v (%v), want c1 with 1 attempt", js, err)
	}
	// The second worker runs it again, and dies too; whoever started it
	// saw how.
	pid := dyingWorker(t, sp, gitDir)
	l, ok, err := queue.TryLockRepo(gitDir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := sp.RecordDeath(pid, "killed by signal 9"); err != nil {
		t.Fatal(err)
	}
	must(t, l.Unlock())
	add(t, sp, "c2", false)
	add(t, sp, "p1", true)

	rec := drain(t, sp, gitDir)
	want := "the worker running this job died twice (last: killed by signal 9); not retried"
	if rec.gaveUp["c1"] != want || len(rec.gaveUp) != 1 {
		t.Errorf("gave up %v, want c1: %q", rec.gaveUp, want)
	}
	if fmt.Sprint(rec.ran) != "[plan p1 deploy c2]" {
		t.Errorf("ran %v, want the queue to move on to p1 and c2, not c1", rec.ran)
	}
	wantNoJobs(t, sp)
}

func TestDeathWithoutWitnessSaysWhichWorker(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	dyingWorker(t, sp, gitDir)
	pid := dyingWorker(t, sp, gitDir)
	rec := drain(t, sp, gitDir)
	if r := rec.gaveUp["c1"]; !strings.Contains(r, fmt.Sprintf("died twice (last: worker pid %d, which took it at ", pid)) {
		t.Errorf("reason %q", r)
	}
	if len(rec.ran) != 0 {
		t.Errorf("ran %v", rec.ran)
	}
}

func TestStoppedRunsAreNotDeaths(t *testing.T) {
	sp, gitDir := newSpool(t)
	add(t, sp, "c1", false)
	// Stopped (SIGTERM cancels the context) three times, and one run that
	// could not be recorded: the worker lived each time, so the job is
	// resumed, never given up.
	for _, fail := range []error{context.Canceled, context.Canceled, errors.New("status branch unwritable"), context.Canceled} {
		rec := &recorder{fail: fail}
		if err := rec.worker(sp, gitDir).Drain(context.Background()); err == nil {
			t.Fatal("Drain hid the failure")
		}
		if len(rec.gaveUp) != 0 {
			t.Fatalf("gave up %v after %v", rec.gaveUp, fail)
		}
	}
	js, err := sp.Running()
	if err != nil || len(js) != 1 || js[0].Attempts != 0 {
		t.Fatalf("running %v (%v), want c1 with no attempt counted", js, err)
	}
	rec := &recorder{}
	if err := rec.worker(sp, gitDir).Drain(context.Background()); err != nil || fmt.Sprint(rec.ran) != "[deploy c1]" {
		t.Errorf("resume: %v, ran %v", err, rec.ran)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
