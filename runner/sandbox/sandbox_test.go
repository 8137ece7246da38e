package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Serve()
	os.Exit(m.Run())
}

// sink keeps allocations alive in the child.
var sink [][]byte

func init() {
	sandbox.Register("echo", func(_ context.Context, req []byte, progress func(string)) ([]byte, error) {
		progress("echoing")
		fmt.Println("stray output that must not reach the result")
		return append([]byte("echo: "), req...), nil
	})
	sandbox.Register("fail", func(_ context.Context, req []byte, progress func(string)) ([]byte, error) {
		progress("main.jsonnet")
		return nil, fmt.Errorf("main.jsonnet:3:1: %s", req)
	})
	sandbox.Register("loop", func(_ context.Context, _ []byte, progress func(string)) ([]byte, error) {
		progress("policy/fast.rego:1")
		progress("policy/slow.rego:2")
		for { //nolint:staticcheck // spinning is the point: the parent must kill it
		}
	})
	sandbox.Register("grow", func(_ context.Context, _ []byte, progress func(string)) ([]byte, error) {
		progress("policy/big.rego:7")
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page: resident, not only mapped
			}
			sink = append(sink, b)
		}
	})
	sandbox.Register("recurse", func(_ context.Context, _ []byte, progress func(string)) ([]byte, error) {
		progress("main.jsonnet:1")
		return nil, fmt.Errorf("depth %d", recurse(0))
	})
	sandbox.Register("big", func(_ context.Context, _ []byte, _ func(string)) ([]byte, error) {
		return bytes.Repeat([]byte("x"), 1<<20), nil
	})
	sandbox.Register("env", func(_ context.Context, req []byte, _ func(string)) ([]byte, error) {
		return []byte(os.Getenv(string(req))), nil
	})
	sandbox.Register("crash", func(_ context.Context, _ []byte, progress func(string)) ([]byte, error) {
		progress("decode")
		go func() { panic("boom in a goroutine") }()
		select {}
	})
	sandbox.Register("noop", func(_ context.Context, req []byte, _ func(string)) ([]byte, error) {
		return req, nil
	})
}

// recurse grows the goroutine stack without bound (each frame holds 1 KiB).
func recurse(n int) int {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	return recurse(n+1) + int(pad[(n+1)%1024]) //nolint:staticcheck // unbounded on purpose
}

var testLimits = sandbox.Limits{
	Task:       "policy evaluation",
	Timeout:    10 * time.Second,
	Memory:     256 << 20,
	MaxResult:  64 << 10,
	TimeoutKey: "limits.policyTimeout", MemoryKey: "limits.policyMemory", MaxResultKey: "limits.policyResult",
}

func TestRunReturnsOutput(t *testing.T) {
	res, err := sandbox.Run(context.Background(), "echo", []byte("hello"), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Output); got != "echo: hello" {
		t.Errorf("output = %q, want %q", got, "echo: hello")
	}
	if res.Usage.MaxRSS == 0 {
		t.Errorf("usage has no peak RSS: %+v", res.Usage)
	}
}

func TestRunFuncError(t *testing.T) {
	_, err := sandbox.Run(context.Background(), "fail", []byte("unknown field \"spce\""), testLimits)
	var fe *sandbox.FuncError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *FuncError", err, err)
	}
	if want := `main.jsonnet:3:1: unknown field "spce"`; fe.Message != want || fe.LastStep != "main.jsonnet" {
		t.Errorf("FuncError = %+v, want message %q, last step main.jsonnet", fe, want)
	}
}

func TestRunTimeout(t *testing.T) {
	lim := testLimits
	lim.Timeout = time.Second
	start := time.Now()
	_, err := sandbox.Run(context.Background(), "loop", nil, lim)
	wantReturnedBy(t, start, lim.Timeout)
	asLimit(t, err, sandbox.LimitTime)
	wantError(t, err, "policy evaluation killed after 1s (limits.policyTimeout); the last step started was policy/slow.rego:2")
}

func TestRunMemoryLimit(t *testing.T) {
	// margin: what the child may have resident beyond Limits.Memory, which
	// the limit does not count: what an idle child has resident (the
	// executable's text and data, the runtime) plus 8 MiB of slack.
	margin := idleRSS(t) + 8<<20
	lim := testLimits
	// Small, because first-touching a page costs ~0.1 ms on some CI VMs;
	// the timeout is generous: this test is about the memory limit.
	lim.Memory = 64 << 20
	lim.Timeout = 2 * time.Minute
	for _, fn := range []string{"grow", "recurse"} {
		t.Run(fn, func(t *testing.T) {
			_, err := sandbox.Run(context.Background(), fn, nil, lim)
			le := asLimit(t, err, sandbox.LimitMemory)
			if !strings.HasPrefix(err.Error(), "policy evaluation killed at the memory limit of 64 MiB (limits.policyMemory); the last step started was ") {
				t.Errorf("err = %q", err)
			}
			wantPeakRSS(t, le.Usage, lim.Memory, margin)
			if le.Usage.MaxRSS < lim.Memory/2 {
				t.Errorf("peak RSS %d B: the child did not come near the limit %d B", le.Usage.MaxRSS, lim.Memory)
			}
		})
	}
}

// asLimit fails the test unless err is a *LimitError of the given limit
// (sandbox.LimitTime, ...), and returns it.
func asLimit(t *testing.T, err error, limit string) *sandbox.LimitError {
	t.Helper()
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != limit {
		t.Fatalf("err = %v (%T), want a %s *LimitError", err, err, limit)
	}
	return le
}

// wantError fails the test unless err's message is want.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

// wantReturnedBy fails the test unless a run started at start and stopped
// at its timeout returned within a second of it.
func wantReturnedBy(t *testing.T, start time.Time, timeout time.Duration) {
	t.Helper()
	if elapsed := time.Since(start); elapsed > timeout+time.Second {
		t.Errorf("Run returned after %s, more than the limit %s + 1s", elapsed, timeout)
	}
}

// wantPeakRSS fails the test unless a child stopped at its memory limit
// had at most margin more resident than the limit.
func wantPeakRSS(t *testing.T, u sandbox.Usage, limit, margin uint64) {
	t.Helper()
	t.Logf("peak RSS %.1f MiB at a limit of %d MiB; CPU %s, wall %s", float64(u.MaxRSS)/(1<<20), limit>>20, u.CPU, u.Wall)
	if u.MaxRSS > limit+margin {
		t.Errorf("peak RSS %d B, more than the limit %d B + margin %d B", u.MaxRSS, limit, margin)
	}
}

// idleRSS is the peak RSS of a child that does nothing.
func idleRSS(t *testing.T) uint64 {
	t.Helper()
	res, err := sandbox.Run(context.Background(), "noop", nil, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idle child: peak RSS %.1f MiB", float64(res.Usage.MaxRSS)/(1<<20))
	return res.Usage.MaxRSS
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel) // long after the child started its step
	_, err := sandbox.Run(ctx, "loop", nil, testLimits)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var le *sandbox.LimitError
	if errors.As(err, &le) {
		t.Errorf("a cancelled run is not a limit: %v", err)
	}
	if !strings.Contains(err.Error(), "policy/slow.rego:2") {
		t.Errorf("err = %q, want the last step", err)
	}
}

func TestRunResultTooBig(t *testing.T) {
	_, err := sandbox.Run(context.Background(), "big", nil, testLimits)
	asLimit(t, err, sandbox.LimitResult)
	wantError(t, err, "policy evaluation stopped: its result is larger than the limit of 64 KiB (limits.policyResult)")
}

func TestRunCrash(t *testing.T) {
	_, err := sandbox.Run(context.Background(), "crash", nil, testLimits)
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v (%T), want *ExitError", err, err)
	}
	wantError(t, err, "policy evaluation failed: child process ended with exit status 2; the last step started was decode: panic: boom in a goroutine")
}

func TestRunEnvironment(t *testing.T) {
	t.Setenv("RUNNER_TEST_SECRET", "s3cret")
	lim := testLimits
	lim.Env = []string{"RUNNER_TEST_PASSED=yes"}
	for _, tc := range []struct{ name, want string }{
		{"RUNNER_TEST_SECRET", ""}, // the parent's environment is not passed on
		{"RUNNER_TEST_PASSED", "yes"},
		{"PATH", os.Getenv("PATH")},
	} {
		res, err := sandbox.Run(context.Background(), "env", []byte(tc.name), lim)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Output) != tc.want {
			t.Errorf("child's %s = %q, want %q", tc.name, res.Output, tc.want)
		}
	}
}

func TestRunUnknown(t *testing.T) {
	if _, err := sandbox.Run(context.Background(), "nope", nil, testLimits); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("err = %v, want one naming the function", err)
	}
}

// BenchmarkRunNoop is the cost of one child round trip: fork, exec, Go
// runtime and package init of the test binary, limits, a tiny request. It
// also reports the child's own CPU time and peak RSS, which depend less on
// the machine's exec cost than ns/op.
func BenchmarkRunNoop(b *testing.B) {
	ctx := context.Background()
	req := []byte(`{"ok":true}`)
	var cpu time.Duration
	var rss uint64
	for b.Loop() {
		res, err := sandbox.Run(ctx, "noop", req, testLimits)
		if err != nil || !bytes.Equal(res.Output, req) {
			b.Fatalf("Run = %v, %v", res, err)
		}
		cpu += res.Usage.CPU
		rss = max(rss, res.Usage.MaxRSS)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "child-cpu-µs/op")
	b.ReportMetric(float64(rss)/(1<<20), "child-maxrss-MiB")
}

// A child started ahead waits for its request: its wall-clock limit counts
// from Run, not from Start, and it still answers and is still limited.
func TestStartedChildTimeoutCountsFromRun(t *testing.T) {
	lim := testLimits
	lim.Timeout = 300 * time.Millisecond
	c, err := sandbox.Start(context.Background(), "echo", lim)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * lim.Timeout) // longer than the limit, before the request
	res, err := c.Run([]byte("late"))
	if err != nil {
		t.Fatalf("Run after waiting: %v", err)
	}
	if string(res.Output) != "echo: late" {
		t.Errorf("output %q, want %q", res.Output, "echo: late")
	}
	if _, err := c.Run([]byte("again")); err == nil {
		t.Error("a second Run of one child succeeded, want an error")
	}

	c, err = sandbox.Start(context.Background(), "loop", lim)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Run(nil)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime {
		t.Fatalf("a started child that loops: %v, want the time limit", err)
	}
}

// Close ends a child that got no request, and a Run after Close fails.
func TestStartedChildClose(t *testing.T) {
	c, err := sandbox.Start(context.Background(), "echo", testLimits)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	c.Close()
	c.Close() // twice is fine
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the closed child %d is still there (kill -0: %v)", pid, err)
	}
	if _, err := c.Run([]byte("x")); err == nil {
		t.Error("Run after Close succeeded, want an error")
	}
}

// A started child dies with the context it was started with.
func TestStartedChildCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := sandbox.Start(ctx, "loop", testLimits)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = c.Run(nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
}

// A started child's result comes back as soon as the child has written it
// and said it is done, without waiting for its exit (which costs the
// kernel time in proportion to the memory it used); Close then reaps it.
func TestStartedChildResultBeforeExit(t *testing.T) {
	c, err := sandbox.Start(context.Background(), "echo", testLimits)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	res, err := c.Run([]byte("x"))
	if err != nil || string(res.Output) != "echo: x" {
		t.Fatalf("Run: %q, %v", res.Output, err)
	}
	if res.Usage.CPU != 0 || res.Usage.MaxRSS != 0 {
		t.Errorf("Run waited for the child's exit: usage %+v, want the wall time only", res.Usage)
	}
	c.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child %d was not reaped by Close (kill -0: %v)", pid, err)
	}
}
