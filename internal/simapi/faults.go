package simapi

import (
	"context"
	"net"
	"net/http"
	"path"
	"sync"
	"time"
)

// FaultQueue holds one-shot faults armed by a test, of a simulator's own
// fault type F (the value that says how to answer). It is safe for
// concurrent use; the zero value is empty.
type FaultQueue[F any] struct {
	mu    sync.Mutex
	armed []armedFault[F]
}

type armedFault[F any] struct {
	match string
	fault F
	left  int
}

// Arm queues fault f for the next n requests that match (see Match);
// n < 1 arms nothing. Faults are taken in the order they were armed.
func (q *FaultQueue[F]) Arm(match string, f F, n int) {
	if n < 1 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.armed = append(q.armed, armedFault[F]{match: match, fault: f, left: n})
}

// Take removes one use of the first armed fault whose match matches any of
// names (the names a request goes by, e.g. its operation, route template
// and path) and returns it; ok is false when none matches.
func (q *FaultQueue[F]) Take(names ...string) (f F, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.armed {
		a := &q.armed[i]
		if !matchesAny(a.match, names) {
			continue
		}
		f = a.fault
		if a.left--; a.left == 0 {
			q.armed = append(q.armed[:i], q.armed[i+1:]...)
		}
		return f, true
	}
	return f, false
}

// Len returns how many faults are still armed, counting each use.
func (q *FaultQueue[F]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, a := range q.armed {
		n += a.left
	}
	return n
}

// Reset disarms every fault.
func (q *FaultQueue[F]) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.armed = nil
}

func matchesAny(pattern string, names []string) bool {
	if pattern == "" {
		return true
	}
	for _, n := range names {
		if Match(pattern, n) {
			return true
		}
	}
	return false
}

// Match reports whether a FailNext pattern matches a request name: the
// empty pattern matches every name, any other pattern matches the same
// name or, as a path.Match glob, names it matches ("/nodes/*/lxc/*/config"
// matches "/nodes/pve/lxc/101/config"). A malformed glob matches only itself.
func Match(pattern, name string) bool {
	if pattern == "" || pattern == name {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// ResetConn answers a request by dropping its TCP connection with a reset
// (SO_LINGER 0) instead of an HTTP response, as a crashed or overloaded
// server does. Where the connection cannot be taken over (HTTP/2, a
// recorder) it aborts the handler, which resets the stream.
func ResetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	nc := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = nc.Close()
}

// Delay waits d before a request is served, as Options.Latency asks; it
// returns false when ctx ends first (the client went away).
func Delay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
