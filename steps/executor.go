package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Status is how one change ended.
type Status string

// The statuses of an outcome.
const (
	StatusOK       Status = "ok"
	StatusNoOp     Status = "noop"
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped"  // a dependency failed or was skipped
	StatusCanceled Status = "canceled" // the run was canceled before it started
)

// Outcome is the result of one change of a plan.
type Outcome struct {
	ID       ID
	Action   Action
	Status   Status
	Err      error
	Attempts int
	Started  time.Time
	Duration time.Duration
	// State is the backend's record returned by Apply (for the inventory).
	State json.RawMessage
	// SkippedBecause names the failed dependency of a skipped change; it is
	// zero for a change skipped because it was blocked (Blocked).
	SkippedBecause ID
	// Blocked is Change.Blocked of a change skipped because of it.
	Blocked string
	// Log holds the backend's progress lines.
	Log []string
}

// EventType names a progress event of the executor.
type EventType string

// The events an executor emits.
const (
	EventStarted  EventType = "started"
	EventProgress EventType = "progress"
	EventRetry    EventType = "retry"
	EventFinished EventType = "finished"
	EventSkipped  EventType = "skipped"
)

// Event is a progress event, for logs, reports and streaming to a pusher.
type Event struct {
	Time     time.Time
	Type     EventType
	ID       ID
	Action   Action
	Attempt  int
	Status   Status
	Err      error
	Duration time.Duration
	// Wait is the backoff before the next attempt (EventRetry).
	Wait    time.Duration
	Message string
}

// ExecOptions tunes Execute. Zero values take the defaults.
type ExecOptions struct {
	// Concurrency bounds how many changes run at once (default 4).
	Concurrency int
	// Attempts is the most tries of a change whose error is transient (default 4).
	Attempts int
	// Backoff is the wait before the first retry, doubled per retry up to
	// MaxBackoff (defaults 1 s and 30 s), with ±20% jitter.
	Backoff, MaxBackoff time.Duration
	// OnEvent receives events one at a time (calls are serialized).
	OnEvent func(Event)
}

func (o *ExecOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
}

// Execute applies a plan: changes whose dependencies finished run
// concurrently (bounded), transient errors are retried with backoff, and a
// failed change skips only its dependents. A blocked change (Change.Blocked)
// is skipped without calling its backend, and so are its dependents. Canceling ctx stops new changes;
// running ones see the canceled context. Outcomes are in plan order.
func Execute(ctx context.Context, reg *Registry, plan *Plan, opts ExecOptions) []Outcome {
	opts.defaults()
	n := len(plan.Changes)
	out := make([]Outcome, n)
	index := make(map[ID]int, n)
	for i, c := range plan.Changes {
		index[c.ID] = i
		out[i] = Outcome{ID: c.ID, Action: c.Action}
	}
	waiting := make([]int, n)
	dependents := make([][]int, n)
	for i, c := range plan.Changes {
		for _, d := range plan.Deps[c.ID] {
			if j, ok := index[d]; ok && j != i {
				waiting[i]++
				dependents[j] = append(dependents[j], i)
			}
		}
	}

	var emitMu sync.Mutex
	emit := func(e Event) {
		if opts.OnEvent == nil {
			return
		}
		e.Time = time.Now()
		emitMu.Lock()
		defer emitMu.Unlock()
		opts.OnEvent(e)
	}

	done := make(chan int)
	var wg sync.WaitGroup
	running := 0
	ready := make([]int, 0, n) // kept in plan order
	finished := 0
	blocked := make([]ID, n) // failed dependency of a change, if any

	push := func(i int) {
		// insert keeping plan order, so ready work runs in ranked order
		pos := len(ready)
		for pos > 0 && ready[pos-1] > i {
			pos--
		}
		ready = append(ready, 0)
		copy(ready[pos+1:], ready[pos:])
		ready[pos] = i
	}
	var settle func(i int)
	settle = func(i int) {
		finished++
		ok := out[i].Status == StatusOK || out[i].Status == StatusNoOp
		for _, d := range dependents[i] {
			if !ok && blocked[d] == (ID{}) {
				if out[i].Status == StatusSkipped && out[i].SkippedBecause != (ID{}) {
					blocked[d] = out[i].SkippedBecause
				} else {
					blocked[d] = plan.Changes[i].ID
				}
			}
			waiting[d]--
			if waiting[d] == 0 {
				if blocked[d] != (ID{}) {
					out[d].Status = StatusSkipped
					out[d].SkippedBecause = blocked[d]
					emit(Event{Type: EventSkipped, ID: out[d].ID, Action: out[d].Action, Status: StatusSkipped,
						Message: "skipped: depends on " + blocked[d].String() + ", which did not succeed"})
					settle(d)
				} else {
					push(d)
				}
			}
		}
	}
	for i := range plan.Changes {
		if waiting[i] == 0 {
			push(i)
		}
	}
	// pools: a backend that batches (ParallelApplier) gets its own bound;
	// everything else shares opts.Concurrency.
	poolOf := func(c Change) (string, int) {
		if b, ok := reg.Backend(c.ID.Kind); ok {
			if pa, ok := b.(ParallelApplier); ok && pa.MaxParallel() > 0 {
				return b.Name(), pa.MaxParallel()
			}
		}
		return "", opts.Concurrency
	}
	inPool := map[string]int{}
	for finished < n {
		for k := 0; k < len(ready) && ctx.Err() == nil; {
			i := ready[k]
			c := plan.Changes[i]
			if !c.Action.Writes() || c.Blocked != "" {
				ready = append(ready[:k], ready[k+1:]...)
				out[i].Status = StatusNoOp
				if c.Action.Writes() {
					out[i].Status, out[i].Blocked = StatusSkipped, c.Blocked
					emit(Event{Type: EventSkipped, ID: c.ID, Action: c.Action, Status: StatusSkipped, Message: "skipped: " + c.Blocked})
				}
				settle(i)
				k = 0 // settling may have readied earlier-ranked work
				continue
			}
			pool, bound := poolOf(c)
			if inPool[pool] >= bound {
				k++
				continue
			}
			ready = append(ready[:k], ready[k+1:]...)
			inPool[pool]++
			running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				runOne(ctx, reg, c, &out[i], opts, emit)
				done <- i
			}()
		}
		if running == 0 {
			break
		}
		i := <-done
		running--
		pool, _ := poolOf(plan.Changes[i])
		inPool[pool]--
		settle(i)
	}
	wg.Wait()
	for i := range out {
		if out[i].Status == "" {
			out[i].Status = StatusCanceled
			out[i].Err = context.Cause(ctx)
		}
	}
	return out
}

type progressLog struct {
	mu   sync.Mutex
	o    *Outcome
	id   ID
	act  Action
	emit func(Event)
}

func (p *progressLog) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	p.o.Log = append(p.o.Log, msg)
	p.mu.Unlock()
	p.emit(Event{Type: EventProgress, ID: p.id, Action: p.act, Message: msg})
}

func runOne(ctx context.Context, reg *Registry, c Change, o *Outcome, opts ExecOptions, emit func(Event)) {
	o.Started = time.Now()
	defer func() { o.Duration = time.Since(o.Started) }()
	b, ok := reg.Backend(c.ID.Kind)
	if !ok {
		o.Status, o.Err = StatusFailed, fmt.Errorf("no backend for kind %s", c.ID.Kind)
		emit(Event{Type: EventFinished, ID: c.ID, Action: c.Action, Status: o.Status, Err: o.Err})
		return
	}
	p := &progressLog{o: o, id: c.ID, act: c.Action, emit: emit}
	wait := opts.Backoff
	for attempt := 1; ; attempt++ {
		o.Attempts = attempt
		emit(Event{Type: EventStarted, ID: c.ID, Action: c.Action, Attempt: attempt})
		state, err := applySafely(ctx, b, c, p)
		if err == nil {
			o.Status, o.State, o.Err = StatusOK, state, nil
			emit(Event{Type: EventFinished, ID: c.ID, Action: c.Action, Attempt: attempt, Status: StatusOK, Duration: time.Since(o.Started)})
			return
		}
		o.Err = err
		if !IsTransient(err) || attempt >= opts.Attempts || ctx.Err() != nil {
			o.Status = StatusFailed
			emit(Event{Type: EventFinished, ID: c.ID, Action: c.Action, Attempt: attempt, Status: StatusFailed, Err: err, Duration: time.Since(o.Started)})
			return
		}
		d := jitter(wait)
		emit(Event{Type: EventRetry, ID: c.ID, Action: c.Action, Attempt: attempt, Err: err, Wait: d})
		if cerr := Sleep(ctx, d); cerr != nil {
			o.Status, o.Err = StatusFailed, errors.Join(err, cerr)
			emit(Event{Type: EventFinished, ID: c.ID, Action: c.Action, Attempt: attempt, Status: StatusFailed, Err: o.Err, Duration: time.Since(o.Started)})
			return
		}
		wait = min(wait*2, opts.MaxBackoff)
	}
}

// applySafely turns a backend panic into an error, so one bad change cannot
// take down the run (and its report) with it.
func applySafely(ctx context.Context, b Backend, c Change, p Progress) (state json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("backend %s panicked: %v (a bug: please report it with the status report)", b.Name(), r)
		}
	}()
	return b.Apply(ctx, c, p)
}

func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	return time.Duration(float64(d) * f)
}

// Sleep waits d, or until ctx ends: then it returns context.Cause(ctx)
// (ctx.Err() unless a cause was given). For the waits between a backend's
// retries and polls, and the executor's own.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
