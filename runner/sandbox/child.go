package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Serve turns this process into a sandbox child when it was started as one
// by Run, and never returns then: it caps its own memory and CPU time, runs
// the registered function on stdin and exits. Otherwise it returns at once.
// Call it first thing in main, and in TestMain of tests that use Run.
func Serve() {
	name, ok := os.LookupEnv(envFunc)
	if !ok {
		return
	}
	os.Exit(serve(name))
}

func serve(name string) int {
	msg := os.NewFile(msgFD, "sandbox-messages")
	say := func(verb, arg string) {
		_, _ = msg.WriteString(verb + " " + strconv.Quote(arg) + "\n")
	}
	fail := func(format string, args ...any) int {
		s := fmt.Sprintf("sandbox child: "+format, args...)
		fmt.Fprintln(os.Stderr, s)
		say("error", s)
		return exitProtocol
	}
	reg, ok := lookup(name)
	if !ok {
		return fail("no function registered as %q", name)
	}
	mem, err := strconv.ParseUint(os.Getenv(envMemory), 10, 64)
	if err != nil || mem == 0 {
		return fail("bad %s: %q", envMemory, os.Getenv(envMemory))
	}
	timeout, err := time.ParseDuration(os.Getenv(envTimeout))
	if err != nil || timeout <= 0 {
		return fail("bad %s: %q", envTimeout, os.Getenv(envTimeout))
	}
	if err := applyLimits(mem, timeout); err != nil {
		return fail("%v", err)
	}

	// The result goes to the original stdout; fd 1 becomes stderr, so that
	// whatever else writes to os.Stdout cannot corrupt the result.
	outFD, err := syscall.Dup(1)
	if err != nil {
		return fail("dup stdout: %v", err)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		return fail("redirect stdout: %v", err)
	}
	out := os.NewFile(uintptr(outFD), "sandbox-result")

	progress := func(step string) { say("step", step) }
	var res []byte
	if reg.parts != nil {
		parts := &Parts{r: bufio.NewReaderSize(os.Stdin, 64<<10), say: say}
		res, err = reg.parts(context.Background(), parts, progress)
		if perr := parts.err; perr != nil { // the function may have dropped it
			return fail("read request: %v", perr)
		}
	} else {
		var req []byte
		if req, err = io.ReadAll(os.Stdin); err != nil {
			return fail("read request: %v", err)
		}
		res, err = reg.f(context.Background(), req, progress)
	}
	if err != nil {
		say("error", err.Error())
		return exitFuncError
	}
	if _, err := out.Write(res); err != nil {
		return fail("write result: %v", err)
	}
	if err := out.Close(); err != nil {
		return fail("write result: %v", err)
	}
	_, _ = msg.WriteString("ok\n")
	// Both pipes end here, before the exit: the parent takes the result
	// without waiting for the exit (Child.Run).
	_ = msg.Close()
	return exitOK
}

// Parts is a request that comes in parts, as a PartsFunc reads it.
type Parts struct {
	r   *bufio.Reader
	say func(verb, arg string)
	n   int   // parts asked for
	err error // a broken frame or pipe; sticky
}

// NewParts is a request of the given parts, for running a PartsFunc in
// this process (tests, benchmarks).
func NewParts(parts ...[]byte) *Parts {
	var b []byte
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	return &Parts{r: bufio.NewReader(bytes.NewReader(b)), say: func(string, string) {}}
}

// maxPart bounds one part's announced length, in bytes: above it the frame
// is broken (the memory limit bounds what a part can really be).
const maxPart = 1 << 40

// Next returns the next part of the request, waiting for the parent to send
// it (the child's wall-clock limit does not run meanwhile), or io.EOF after
// the last. Any other error means the parent's pipe broke or a frame was
// cut; the child then ends with a protocol error whatever the function
// returns.
func (p *Parts) Next() ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	p.n++
	p.say("wait", strconv.Itoa(p.n))
	var hdr [8]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		p.err = fmt.Errorf("part %d: %w", p.n, err)
		return nil, p.err
	}
	size := binary.BigEndian.Uint64(hdr[:])
	if size > maxPart {
		p.err = fmt.Errorf("part %d: bad length %d", p.n, size)
		return nil, p.err
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(p.r, b); err != nil {
		p.err = fmt.Errorf("part %d: %w", p.n, err)
		return nil, p.err
	}
	return b, nil
}

// applyLimits caps this process. Memory: RLIMIT_DATA, not RLIMIT_AS.
// Since Linux 4.7 RLIMIT_DATA counts private writable mappings (the Go heap,
// stacks, runtime metadata) and not the PROT_NONE ranges the Go runtime
// reserves (an idle Go process has ~1.2 GiB of address space, growing in
// 64 MiB steps with the heap). It is set to what is mapped now — mostly
// untouched runtime tables, ~70 MiB writable yet ~4 MiB resident in an idle
// child — plus mem, so the work itself gets mem. The GC's soft limit sits
// below so that the GC collects hard before the kernel refuses memory.
//
// With cgo (libc linked), threads started after this point get their stacks
// from pthread_create, which counts a whole stack (RLIMIT_STACK, 8 MiB) per
// thread against the limit though little is resident; such a thread start
// near the limit fails ("pthread_create failed"), reported as the memory
// limit too. An allowance for stacks would be spent by the heap instead and
// break the RSS bound, so there is none; build with CGO_ENABLED=0 to give
// the work the whole budget.
func applyLimits(mem uint64, timeout time.Duration) error {
	base, err := vmData()
	if err != nil {
		return err
	}
	// Free heap pages (also those returned to the OS but still mapped)
	// count in VmData and can be refilled without a new mapping: they are
	// part of the budget, not of the base.
	sm := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sm)
	for _, x := range sm {
		if x.Value.Kind() == metrics.KindUint64 {
			base -= min(base, x.Value.Uint64())
		}
	}
	data := base + mem
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: data, Max: data}); err != nil {
		return fmt.Errorf("set RLIMIT_DATA to %d: %w", data, err)
	}
	debug.SetMemoryLimit(int64(min(mem-mem/8, math.MaxInt64)))            //nolint:gosec // clamped
	cpu := uint64(cpuLimit(timeout, runtime.GOMAXPROCS(0)) / time.Second) //nolint:gosec // positive: timeout > 0
	// Soft = hard: at the hard limit the kernel sends SIGKILL; at a lower
	// soft limit it would send SIGXCPU, which the Go runtime ignores.
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: cpu, Max: cpu}); err != nil {
		return fmt.Errorf("set RLIMIT_CPU to %ds: %w", cpu, err)
	}
	// A crash must not leave a core file of untrusted input behind.
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		return fmt.Errorf("set RLIMIT_CORE to 0: %w", err)
	}
	return nil
}

// vmData is this process's private writable memory as the kernel counts it
// for RLIMIT_DATA (VmData in /proc/self/status), in bytes.
func vmData() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmData:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: bad VmData %q", v)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("/proc/self/status has no VmData")
}
