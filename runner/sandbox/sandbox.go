// Package sandbox runs the evaluation of a push's untrusted code (Jsonnet,
// Rego) in a child process of the runner, with limits the kernel enforces:
// the parent kills the child at its wall-clock limit, and the child caps its
// own memory (RLIMIT_DATA) and CPU time (RLIMIT_CPU) before it starts the
// work. A hostile or buggy push then costs at most its limits, never the
// worker, its lock or the queue.
//
// The child is the runner's own executable, started again: a function is
// registered by name at init time (Register), the runner's main calls Serve
// first thing, and Run starts the child, hands it the request on stdin and
// reads the result from stdout. Linux only (/proc/self/exe, rlimits,
// Pdeathsig).
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
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/bytesize"
)

// Func is work that runs in the child. req is what the parent passed to Run;
// the returned bytes are Run's Result.Output. progress records the step the
// function starts (e.g. "policy/slow.rego:2"): when the child is killed, the
// parent names the last step in its error. An error is returned by Run as a
// *FuncError carrying its message; a caller that needs structured errors
// encodes them in the output instead.
type Func func(ctx context.Context, req []byte, progress func(step string)) ([]byte, error)

// PartsFunc is work whose request comes in parts (RegisterParts): the
// parent sends them one by one (Child.Send, then the last with Child.Run),
// and the function reads them as it needs them (Parts.Next), so that it can
// start on the first while the parent prepares the next. Otherwise as Func.
type PartsFunc func(ctx context.Context, parts *Parts, progress func(step string)) ([]byte, error)

// registered is a function of either kind.
type registered struct {
	f     Func
	parts PartsFunc
}

var (
	regMu    sync.Mutex
	registry = map[string]registered{}
)

// Register makes f runnable in a child under name. Call it at init time, so
// that the child process, which runs the same executable, knows it too. It
// panics if name is registered twice.
func Register(name string, f Func) { register(name, registered{f: f}) }

// RegisterParts is Register for a function whose request comes in parts.
func RegisterParts(name string, f PartsFunc) { register(name, registered{parts: f}) }

func register(name string, r registered) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("sandbox: " + name + " registered twice")
	}
	registry[name] = r
}

func lookup(name string) (registered, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	r, ok := registry[name]
	return r, ok
}

// The defaults for zero Limits fields.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultMemory    = 1 << 30  // 1 GiB
	DefaultMaxResult = 64 << 20 // 64 MiB
)

// Limits bound one child. Zero fields take the defaults above.
type Limits struct {
	// Task names the work in messages: "policy evaluation" gives
	// "policy evaluation killed after 5s (...)". Empty: "sandbox NAME".
	Task string
	// Timeout is the wall-clock limit on the child's work: its process
	// group is killed when it expires. It counts from the request (Run) to
	// the child's exit; for a function of RegisterParts, from when the
	// child starts on the first part to its exit, less the time it waits
	// for a part the parent has not sent yet (see Child.Send). The child's CPU time is also capped (RLIMIT_CPU) a
	// little above Timeout × GOMAXPROCS, in case the parent is gone.
	Timeout time.Duration
	// Memory caps the child's private writable memory (RLIMIT_DATA: heap,
	// stacks, runtime metadata), in bytes; the Go GC is told to work hard
	// as the child gets close to it. The child's peak RSS stays below
	// Memory plus its executable's resident text (see README.md).
	Memory uint64
	// MaxResult caps the output, in bytes; a child that writes more is
	// killed.
	MaxResult int
	// TimeoutKey, MemoryKey and MaxResultKey are the configuration keys of
	// the limits, named in messages ("policy.timeout").
	TimeoutKey, MemoryKey, MaxResultKey string
	// Env is added to the child's environment ("KEY=value"). The child
	// otherwise sees only PATH, HOME, TMPDIR, GOMAXPROCS, GODEBUG and
	// GOTRACEBACK (when set) and its protocol variables: the rest of the
	// parent's environment (which may hold secrets) is not passed on.
	Env []string
}

func (l Limits) withDefaults(name string) Limits {
	if l.Task == "" {
		l.Task = "sandbox " + name
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.MaxResult <= 0 {
		l.MaxResult = DefaultMaxResult
	}
	return l
}

// Usage is what the child cost, from the kernel's accounting.
type Usage struct {
	Wall   time.Duration // from the request (its first part) to exit, as the parent saw it
	CPU    time.Duration // user + system
	MaxRSS uint64        // peak resident set size, bytes
}

// Result is a child's output and cost.
type Result struct {
	Output []byte
	Usage  Usage
}

// The child's protocol: the function's name and limits in the environment,
// the request on stdin (for a PartsFunc: each part as an 8-byte big-endian
// length and its bytes, then EOF), the output on stdout, progress, the
// function's error and "wait N" (it waits for part N) as lines on fd 3
// (stderr stays free for the Go runtime's own fatal messages, which the
// parent reads).
const (
	envFunc    = "GITOPS_RUNNER_SANDBOX"
	envMemory  = "GITOPS_RUNNER_SANDBOX_MEMORY"
	envTimeout = "GITOPS_RUNNER_SANDBOX_TIMEOUT"
	msgFD      = 3
)

// exit statuses of the child
const (
	exitOK        = 0
	exitFuncError = 1
	exitProtocol  = 3 // unknown function, bad limits, unreadable request
)

// passEnv are the parent's variables the child gets, when set.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"}

// stderrKeep is how much of the child's stderr is kept, from its start and
// from its end: a Go fatal error names itself in its first line and is
// followed by goroutine dumps.
const stderrKeep = 4 << 10

// msgLineMax caps one progress or error line from the child.
const msgLineMax = 1 << 20

// Run runs the function registered under name in a child process, with req
// on its stdin, within lim. Besides the function's own error (*FuncError),
// it fails with a *LimitError when the child hit a limit, an *ExitError when
// it died otherwise, or ctx's error (wrapped) when ctx ended first; the
// child is killed in every case.
func Run(ctx context.Context, name string, req []byte, lim Limits) (*Result, error) {
	c, err := Start(ctx, name, lim)
	if err != nil {
		return nil, err
	}
	res, err := c.Run(req)
	if err != nil {
		return nil, err
	}
	c.Close() // reaps the child: its whole Usage
	if st := c.cmd.ProcessState; st != nil {
		res.Usage = usage(st, res.Usage.Wall)
	}
	return res, nil
}

// Child is a child process started ahead of its request (Start): it
// starts and initializes the runtime while the caller prepares the
// request, then waits for it on stdin. Its limits are in force from
// start (memory, CPU, killed with ctx and with the runner); the wall-clock
// Timeout counts from the request: from Run, or for a function of
// RegisterParts from its start on the first part (Send), less the time it
// waits for parts.
type Child struct {
	ctx      context.Context
	lim      Limits
	parts    bool // a PartsFunc: the request goes in frames
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out      *capWriter
	errTail  *headTail
	outR     io.ReadCloser // the result pipe, copied into out
	outDone  chan struct{} // closed at the result pipe's end
	msgR     *os.File
	msgs     childMessages
	msgDone  chan struct{}
	clock    *workClock
	killedBy atomic.Value // "" | "timeout" | "result" | "cancel" | "unused"
	once     sync.Once    // Run or Close, whichever comes first

	sendMu   sync.Mutex
	sendq    chan []byte   // frames for the writer; nil until the first Send
	sendDone chan struct{} // closed when the writer has ended
	sendShut bool          // sendq is closed
	// reaped is closed when a child whose result Run returned before it
	// exited has been waited for (nil otherwise).
	reaped chan struct{}
}

// Start starts a child for the function registered under name; Run hands
// it the request, Close ends it unused. The child lives at most as long as
// ctx: it is killed when ctx ends. Start fails when no function is
// registered under name, ctx has ended or the process cannot start.
func Start(ctx context.Context, name string, lim Limits) (*Child, error) {
	reg, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("sandbox: no function registered as %q", name)
	}
	lim = lim.withDefaults(name)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", lim.Task, err)
	}
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lim.Task, err)
	}
	c := &Child{ctx: ctx, lim: lim, parts: reg.parts != nil, msgR: msgR, out: &capWriter{max: lim.MaxResult},
		errTail: &headTail{keep: stderrKeep}, outDone: make(chan struct{}), msgDone: make(chan struct{})}
	// The clock measures the child's work: once the child has said it is
	// done ("ok", or its function's "error"), an expiry is not its doing.
	// (A PartsFunc that fails on its first part ends without asking for
	// the next, and its clock would otherwise run on until Run: its error
	// came back as the time limit.)
	c.clock = &workClock{parts: c.parts, left: lim.Timeout, expire: func() {
		if !c.msgs.finished() {
			c.kill("timeout")
		}
	}}
	c.msgs.onWait = c.clock.childWaits
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	// /proc/self/exe, not os.Executable(): it is the running binary even
	// when a package upgrade has replaced the file, so parent and child
	// always speak the same protocol. argv[0] is kept (test binaries,
	// testscript's commands).
	cmd.Args = []string{os.Args[0]}
	cmd.Env = childEnv(name, lim)
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		_ = msgR.Close()
		_ = msgW.Close()
		return nil, fmt.Errorf("%s: %w", lim.Task, err)
	}
	// The result pipe is read here, not by exec: Run takes the result when
	// the pipe ends, without waiting for the child's exit.
	if c.outR, err = cmd.StdoutPipe(); err != nil {
		_ = c.stdin.Close()
		_ = msgR.Close()
		_ = msgW.Close()
		return nil, fmt.Errorf("%s: %w", lim.Task, err)
	}
	cmd.Stderr = c.errTail
	cmd.ExtraFiles = []*os.File{msgW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // its own process group, killed as one
		Pdeathsig: syscall.SIGKILL, // dies with the runner
	}
	cmd.Cancel = func() error {
		c.kill("cancel")
		return nil
	}
	cmd.WaitDelay = time.Second
	c.out.overflow = func() { c.kill("result") }
	c.cmd = cmd
	if err := cmd.Start(); err != nil {
		_ = msgR.Close()
		_ = msgW.Close()
		return nil, fmt.Errorf("%s: start child: %w", lim.Task, err)
	}
	_ = msgW.Close() // the child has its copy
	go func() {
		defer close(c.msgDone)
		c.msgs.read(msgR)
		// The message pipe ends when the child is done or gone: no more
		// work to time.
		c.clock.stop()
	}()
	go func() {
		defer close(c.outDone)
		// After an overflow the rest is discarded: the child is being
		// killed, and must not block on a full pipe meanwhile.
		_, _ = io.Copy(c.out, c.outR)
		_, _ = io.Copy(io.Discard, c.outR)
	}()
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// kill kills the child's process group, recording why first.
func (c *Child) kill(why string) {
	c.killedBy.CompareAndSwap(nil, why)
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) // ESRCH when gone
	}
}

// Close kills a child that was not given its whole request and waits for
// it to end; after a Run that returned before the child exited, it waits
// for that exit. It is safe to call more than once.
func (c *Child) Close() {
	c.once.Do(func() {
		c.kill("unused")
		c.endSend()
		_ = c.stdin.Close()
		<-c.outDone
		<-c.msgDone
		_ = c.cmd.Wait()
		_ = c.msgR.Close()
	})
	if c.reaped != nil {
		<-c.reaped
	}
}

// Send hands a child of a function registered with RegisterParts the next
// part of its request, without waiting for the child to read it (a writer
// goroutine of the Child writes the parts in order); Run sends the last.
// The wall-clock Timeout runs while the child works on the request: from
// when it asks for the first part (Parts.Next, after its start-up) and
// that part is sent; when it asks for a part not sent yet, its clock stops
// until Send (or Run) sends it, since waiting for the parent is not the
// child's work; from Run on it runs in any case. It fails for a plain
// function and after Run or Close.
func (c *Child) Send(part []byte) error {
	if !c.parts {
		return fmt.Errorf("%s: Send: the child's function takes its request whole (Register, not RegisterParts)", c.lim.Task)
	}
	if !c.queue(part, false) {
		return fmt.Errorf("%s: Send: the child was already used or closed", c.lim.Task)
	}
	return nil
}

// queue hands a frame to the writer goroutine (started on the first
// part) and counts it as sent; false after endSend.
func (c *Child) queue(part []byte, last bool) bool {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.sendShut {
		return false
	}
	if c.sendq == nil {
		c.sendq, c.sendDone = make(chan []byte, 16), make(chan struct{})
		go c.writeParts()
	}
	c.clock.sent(last)
	c.sendq <- part
	return true
}

// writeParts writes the queued parts, framed, and closes stdin after the
// last. A child that dies (or is killed) before it read everything closes
// the pipe: the writes fail, and Wait says why.
func (c *Child) writeParts() {
	defer close(c.sendDone)
	failed := false
	for p := range c.sendq {
		if failed {
			continue
		}
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(len(p)))
		if _, err := c.stdin.Write(hdr[:]); err != nil {
			failed = true
			continue
		}
		if _, err := c.stdin.Write(p); err != nil {
			failed = true
		}
	}
	_ = c.stdin.Close()
}

// endSend closes the writer's queue: no more parts.
func (c *Child) endSend() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !c.sendShut && c.sendq != nil {
		close(c.sendq)
	}
	c.sendShut = true
}

// waitSend waits for the writer goroutine, if any, to end.
func (c *Child) waitSend() {
	c.sendMu.Lock()
	done := c.sendDone
	c.sendMu.Unlock()
	if done != nil {
		<-done
	}
}

// Run sends the child its request (for a function of RegisterParts: the
// last part) and waits for its result, as the package's Run does (same
// errors); the wall-clock limit counts from here, or for a function of
// RegisterParts as Send says. A result comes back as soon as the child has
// written it and said it is done, before the child has exited: its Usage
// then has the Wall time only (the package's Run, which reaps, has all of
// it). A Child runs one request: after Run or Close, Run fails.
func (c *Child) Run(req []byte) (*Result, error) {
	ran := false
	c.once.Do(func() { ran = true })
	if !ran {
		return nil, fmt.Errorf("%s: the child was already used or closed", c.lim.Task)
	}
	lim := c.lim
	if c.parts {
		c.queue(req, true)
		c.endSend()
	} else {
		c.clock.sent(true)
		// A child that dies (or is killed) before it read everything
		// closes the pipe: the write fails, and Wait says why.
		_, _ = c.stdin.Write(req)
		_ = c.stdin.Close()
	}
	<-c.outDone
	<-c.msgDone
	if c.msgs.ok() && !c.out.over && c.killedBy.Load() == nil {
		// The child wrote its whole result, said so and closed its pipes:
		// all it does now is exit, which costs the kernel ~0.16 ms per MiB
		// the child used (measured, Linux 6.18), ~10 ms after an
		// evaluation. The result is used without waiting; Close reaps.
		wall := c.clock.wall()
		c.clock.stop()
		c.reaped = make(chan struct{})
		go func() {
			defer close(c.reaped)
			_ = c.cmd.Wait()
			c.waitSend()
			_ = c.msgR.Close()
		}()
		return &Result{Output: c.out.buf.Bytes(), Usage: Usage{Wall: wall}}, nil
	}
	defer c.clock.stop()
	defer func() { _ = c.msgR.Close() }()
	waitErr := c.cmd.Wait()
	wall := c.clock.wall()
	c.waitSend()

	st := c.cmd.ProcessState
	if st == nil { // Wait failed before the child ended: cannot happen after Start
		return nil, fmt.Errorf("%s: %w", lim.Task, waitErr)
	}
	use := usage(st, wall)
	msgs := &c.msgs
	step := msgs.lastStep()
	why, _ := c.killedBy.Load().(string)
	ws, _ := st.Sys().(syscall.WaitStatus)

	switch {
	case why == "cancel":
		return nil, fmt.Errorf("%s stopped%s: %w", lim.Task, stepSuffix(step), c.ctx.Err())
	case why == "timeout":
		return nil, &LimitError{Task: lim.Task, Limit: LimitTime, Value: lim.Timeout.String(),
			Key: lim.TimeoutKey, LastStep: step, Usage: use}
	case why == "result":
		return nil, &LimitError{Task: lim.Task, Limit: LimitResult, Value: bytesize.Format(uint64(lim.MaxResult)), //nolint:gosec // MaxResult > 0 after withDefaults
			Key: lim.MaxResultKey, LastStep: step, Usage: use}
	case st.Success() && msgs.done:
		return &Result{Output: c.out.buf.Bytes(), Usage: use}, nil
	case ws.Exited() && ws.ExitStatus() == exitFuncError && msgs.err != nil:
		return nil, &FuncError{Message: *msgs.err, LastStep: step}
	case outOfMemory(ws, c.errTail.String()) || (ws.Exited() && ws.ExitStatus() == 2 && use.MaxRSS >= lim.Memory-lim.Memory/8):
		return nil, &LimitError{Task: lim.Task, Limit: LimitMemory, Value: bytesize.Format(lim.Memory),
			Key: lim.MemoryKey, LastStep: step, Usage: use}
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && use.CPU >= cpuLimit(lim.Timeout, 1):
		// Nobody here killed it, and it used at least the CPU limit of a
		// single-threaded child: the kernel's RLIMIT_CPU.
		return nil, &LimitError{Task: lim.Task, Limit: LimitCPU, Value: use.CPU.Round(time.Second).String(),
			Key: lim.TimeoutKey, LastStep: step, Usage: use}
	}
	e := &ExitError{Task: lim.Task, Status: st.String(), LastStep: step, Stderr: c.errTail.String(), Usage: use}
	if st.Success() {
		e.Status = "exit status 0 without a result"
	}
	return nil, e
}

// workClock is a child's wall-clock limit; expire is called when the child
// has worked Timeout. It runs while the child works on its request: for a
// plain function from Run on; for a PartsFunc while the child has asked for
// a part that was sent (from its asking for the first part, which follows
// its start-up, to its asking for one not sent yet, and again from that
// part's sending), and at the latest from Run on.
type workClock struct {
	mu       sync.Mutex
	parts    bool          // a PartsFunc's child, which says what it waits for
	left     time.Duration // budget not yet used, at the last stop
	first    time.Time     // the first part; zero before
	since    time.Time     // when it last started running
	running  bool
	final    bool // Run sent the last part
	stopped  bool // for good (stop)
	nsent    int  // parts sent
	waitsFor int  // the part the child said it waits for; 0 none
	timer    *time.Timer
	expire   func()
}

// sent counts a part as sent; last: Run sent it.
func (w *workClock) sent(last bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nsent++
	w.final = w.final || last
	if w.first.IsZero() {
		w.first = time.Now()
	}
	w.update()
}

// childWaits records that the child waits for a part.
func (w *workClock) childWaits(part int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waitsFor = part
	w.update()
}

// update starts or stops the clock as the state says.
func (w *workClock) update() {
	asked := w.waitsFor >= 1 && w.waitsFor <= w.nsent // works on a sent part
	// After the last part nothing is waited for: a later Next gets EOF.
	run := !w.stopped && w.nsent >= 1 && (!w.parts || w.final || asked)
	switch {
	case run && !w.running:
		w.running, w.since = true, time.Now()
		w.timer = time.AfterFunc(w.left, w.expire)
	case !run && w.running && w.timer.Stop(): // (not when it fired already)
		w.running = false
		w.left -= time.Since(w.since)
	}
}

// stop stops the clock for good.
func (w *workClock) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// wall is the time since the first part.
func (w *workClock) wall() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Since(w.first)
}

// childEnv is the child's whole environment.
func childEnv(name string, lim Limits) []string {
	env := []string{
		envFunc + "=" + name,
		envMemory + "=" + strconv.FormatUint(lim.Memory, 10),
		envTimeout + "=" + lim.Timeout.String(),
	}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, lim.Env...)
}

// cpuLimit is the child's RLIMIT_CPU in seconds: above what procs threads
// can burn in timeout, so that the wall clock is the limit users meet and
// the CPU limit only a backstop for when the parent is gone.
func cpuLimit(timeout time.Duration, procs int) time.Duration {
	procs = max(procs, 1)
	secs := math.Ceil(timeout.Seconds()*float64(procs)) + 1
	return time.Duration(secs) * time.Second
}

func usage(st *os.ProcessState, wall time.Duration) Usage {
	u := Usage{Wall: wall, CPU: st.UserTime() + st.SystemTime()}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = uint64(max(ru.Maxrss, 0)) * 1024 //nolint:gosec // not negative; Linux reports KiB
	}
	return u
}

// outOfMemory reports whether the child died at its memory limit (Run
// also counts any Go runtime crash, exit status 2, above the GC's soft
// limit of 7/8 of Memory: near the limit, a refused mapping the runtime
// does not check shows as SIGSEGV): the Go
// runtime, refused memory by the kernel (RLIMIT_DATA), throws "out of
// memory" (exit status 2); a failed thread start says errno=12 (ENOMEM),
// or with cgo "pthread_create failed" (the child sets no RLIMIT_NPROC, so
// the refused resource is memory).
func outOfMemory(ws syscall.WaitStatus, stderr string) bool {
	if !ws.Exited() || ws.ExitStatus() != 2 {
		return false
	}
	for _, s := range []string{"fatal error: runtime: out of memory", "fatal error: out of memory",
		"runtime: out of memory", "cannot allocate memory", "errno=12",
		// with cgo: the thread stack's mmap failed (glibc reports EAGAIN)
		"runtime/cgo: pthread_create failed"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// childMessages is what the child said on fd 3.
type childMessages struct {
	mu     sync.Mutex
	step   string
	err    *string
	done   bool
	onWait func(part int) // "wait N": the child waits for part N
}

// ok reports whether the child said it is done.
func (m *childMessages) ok() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

// finished reports whether the child said it is done or that its function
// failed: its work is over either way.
func (m *childMessages) finished() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done || m.err != nil
}

func (m *childMessages) lastStep() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.step
}

// read consumes lines "step Q", "error Q", "wait Q" and "ok" (Q: a
// Go-quoted string) until EOF; unreadable lines are dropped.
func (m *childMessages) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), msgLineMax)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		var s string
		if arg != "" {
			var err error
			if s, err = strconv.Unquote(arg); err != nil {
				continue
			}
		}
		if verb == "wait" {
			if n, err := strconv.Atoi(s); err == nil && m.onWait != nil {
				m.onWait(n)
			}
			continue
		}
		m.mu.Lock()
		switch verb {
		case "step":
			m.step = s
		case "error":
			m.err = &s
		case "ok":
			m.done = true
		}
		m.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // after an over-long line: let the child go on
}

// capWriter keeps up to max bytes and calls overflow once when more come.
type capWriter struct {
	buf      bytes.Buffer
	max      int
	overflow func()
	over     bool
}

var errTooBig = errors.New("sandbox: result too big")

func (w *capWriter) Write(p []byte) (int, error) {
	if w.over {
		return 0, errTooBig
	}
	if w.buf.Len()+len(p) > w.max {
		w.over = true
		w.overflow()
		return 0, errTooBig
	}
	return w.buf.Write(p)
}

// headTail keeps the first and the last keep bytes written to it.
type headTail struct {
	keep    int
	head    []byte
	tail    []byte
	dropped int64
}

func (w *headTail) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.keep - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	w.tail = append(w.tail, p...)
	if over := len(w.tail) - w.keep; over > 0 {
		w.dropped += int64(over)
		w.tail = append(w.tail[:0], w.tail[over:]...)
	}
	return n, nil
}

func (w *headTail) String() string {
	if w.dropped == 0 {
		return string(w.head) + string(w.tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes ...]\n%s", w.head, w.dropped, w.tail)
}
