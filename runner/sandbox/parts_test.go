package sandbox_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

func init() {
	// "parts" joins its request's parts with "|", after working (sleeping)
	// the milliseconds that each part's first byte names ('0' + ms/100),
	// as a compile of the first part and an evaluation of the last would.
	sandbox.RegisterParts("parts", func(_ context.Context, parts *sandbox.Parts, progress func(string)) ([]byte, error) {
		var got []string
		for {
			p, err := parts.Next()
			if errors.Is(err, io.EOF) {
				return []byte(strings.Join(got, "|")), nil
			}
			if err != nil {
				return nil, err
			}
			progress("part " + string(p))
			if len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
				time.Sleep(time.Duration(p[0]-'0') * 100 * time.Millisecond)
			}
			got = append(got, string(p))
		}
	})
	// "failfirst" fails on its first part, as a policy that does not
	// compile does, without asking for the next.
	sandbox.RegisterParts("failfirst", func(_ context.Context, parts *sandbox.Parts, progress func(string)) ([]byte, error) {
		p, err := parts.Next()
		if err != nil {
			return nil, err
		}
		progress("policy/typo.rego")
		return nil, errors.New("policy does not compile: " + string(p))
	})
	// "gather" reads its parts to the end, then works 0.9 s.
	sandbox.RegisterParts("gather", func(_ context.Context, parts *sandbox.Parts, progress func(string)) ([]byte, error) {
		for {
			if _, err := parts.Next(); err != nil {
				break
			}
		}
		progress("working")
		time.Sleep(900 * time.Millisecond)
		return []byte("done"), nil
	})
}

// A request in parts reaches the function whole and in order, the parts
// sent with Send ahead of Run's last one.
func TestPartsRequest(t *testing.T) {
	lim := testLimits
	lim.MaxResult = 1 << 20
	c, err := sandbox.Start(context.Background(), "parts", lim)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"a", "", strings.Repeat("b", 200<<10)} { // an empty one, one beyond a pipe's buffer
		if err := c.Send([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Run([]byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a||" + strings.Repeat("b", 200<<10) + "|c"; string(res.Output) != want {
		t.Errorf("output %.40q (%d bytes), want %.40q (%d bytes)", res.Output, len(res.Output), want, len(want))
	}
	if err := c.Send([]byte("late")); err == nil {
		t.Error("Send after Run succeeded, want an error")
	}
	e, err := sandbox.Start(context.Background(), "echo", testLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Send([]byte("x")); err == nil {
		t.Error("Send to a function of Register succeeded, want an error")
	}
}

// The wall-clock limit counts the child's work on all parts, and not the
// time it waits for the parent's next part: 0.3 s + 0.3 s of work within a
// 1 s limit passes though the parent sends the last part 1.5 s after the
// first; 0.7 s + 0.7 s does not.
func TestPartsTimeoutCountsWork(t *testing.T) {
	lim := testLimits
	lim.Timeout = time.Second
	run := func(work byte) error {
		c, err := sandbox.Start(context.Background(), "parts", lim)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Send([]byte{work}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		_, err = c.Run([]byte{work})
		return err
	}
	if err := run('3'); err != nil {
		t.Errorf("0.3 s + 0.3 s of work, 1.5 s apart: %v, want success", err)
	}
	err := run('7')
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime || le.LastStep != "part 7" {
		t.Errorf("0.7 s + 0.7 s of work: %v, want the time limit at step \"part 7\"", err)
	}
}

// A child that works on the first part beyond the limit is killed while the
// parent has not sent the last part yet; Run then reports the limit.
func TestPartsTimeoutBeforeLastPart(t *testing.T) {
	lim := testLimits
	lim.Timeout = 300 * time.Millisecond
	c, err := sandbox.Start(context.Background(), "parts", lim)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send([]byte("9")); err != nil { // 0.9 s of work
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	_, err = c.Run([]byte("0"))
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime {
		t.Fatalf("Run: %v, want the time limit", err)
	}
	if le.Usage.Wall < 900*time.Millisecond {
		t.Errorf("wall %s, want it counted from the first part (≥ 0.9 s)", le.Usage.Wall)
	}
}

// After the last part the child waits for nothing: its work after reading
// to the end counts.
func TestPartsTimeoutAfterLastPart(t *testing.T) {
	lim := testLimits
	lim.Timeout = 300 * time.Millisecond
	c, err := sandbox.Start(context.Background(), "gather", lim)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send([]byte("a")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Run([]byte("b"))
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime || le.LastStep != "working" {
		t.Fatalf("Run: %v, want the time limit at step \"working\"", err)
	}
}

// A child that fails on its first part ends without asking for the next;
// the parent sends the last part only later, after the time limit (the
// check's policy child whose policy does not compile, while the commit
// takes longer than policy.timeout to evaluate). Run reports the child's
// own error, not the time limit: the clock counts work, and there was none
// after the error.
func TestPartsErrorBeforeLastPartIsNotATimeout(t *testing.T) {
	lim := testLimits
	lim.Timeout = 300 * time.Millisecond
	c, err := sandbox.Start(context.Background(), "failfirst", lim)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send([]byte("undefined function no_such_fn")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * lim.Timeout)
	_, err = c.Run([]byte("input"))
	var fe *sandbox.FuncError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "policy does not compile: undefined function no_such_fn") {
		t.Fatalf("Run: %v, want the child's own error", err)
	}
}
