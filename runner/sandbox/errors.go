package sandbox

import (
	"fmt"
	"strings"
)

// The limits a LimitError names.
const (
	LimitTime   = "time"        // the wall clock: Limits.Timeout
	LimitCPU    = "cpu time"    // RLIMIT_CPU, the backstop behind Timeout
	LimitMemory = "memory"      // Limits.Memory
	LimitResult = "result size" // Limits.MaxResult
)

// LimitError says that a child was stopped because it hit a limit.
type LimitError struct {
	Task     string // "policy evaluation"
	Limit    string // LimitTime, LimitCPU, LimitMemory or LimitResult
	Value    string // the configured value: "5s", "512 MiB"
	Key      string // the configuration key, "policy.timeout"; may be empty
	LastStep string // the last step the child started; may be empty
	Usage    Usage  // what the child had used when it died
}

func (e *LimitError) Error() string {
	var b strings.Builder
	switch e.Limit {
	case LimitTime:
		fmt.Fprintf(&b, "%s killed after %s", e.Task, e.Value)
	case LimitCPU:
		fmt.Fprintf(&b, "%s killed after %s of CPU time", e.Task, e.Value)
	case LimitMemory:
		fmt.Fprintf(&b, "%s killed at the memory limit of %s", e.Task, e.Value)
	case LimitResult:
		fmt.Fprintf(&b, "%s stopped: its result is larger than the limit of %s", e.Task, e.Value)
	default:
		fmt.Fprintf(&b, "%s stopped at the %s limit of %s", e.Task, e.Limit, e.Value)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, " (%s)", e.Key)
	}
	b.WriteString(stepSuffix(e.LastStep))
	return b.String()
}

// ExitError says that a child died of something other than a limit: a
// crash, a signal from elsewhere, or no result.
type ExitError struct {
	Task     string
	Status   string // "exit status 2", "signal: segmentation fault"
	LastStep string
	Stderr   string // the start and end of the child's stderr, at most 8 KiB
	Usage    Usage
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("%s failed: child process ended with %s%s", e.Task, e.Status, stepSuffix(e.LastStep))
	if l := firstFatalLine(e.Stderr); l != "" {
		s += ": " + l
	}
	return s
}

// FuncError is the error the function returned in the child.
type FuncError struct {
	Message  string
	LastStep string
}

func (e *FuncError) Error() string { return e.Message }

func stepSuffix(step string) string {
	if step == "" {
		return ""
	}
	return "; the last step started was " + step
}

// firstFatalLine finds the line of a Go runtime's crash output that says
// what happened ("panic: ...", "fatal error: ..."), or else the first line.
func firstFatalLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return l
		}
	}
	return lines[0]
}
