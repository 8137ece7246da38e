package proxmox

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// DefaultParallelism is the default of Config.Parallelism: how many guest
// reads Observe keeps in flight.
//
// What pveproxy tolerates: pveproxy runs 3 worker processes
// (pve-manager PVE/Service/pveproxy.pm, max_workers => 3), each an AnyEvent
// loop accepting up to 800 connections (pve-http-server
// PVE/APIServer/AnyEvent.pm new: max_conn 800, max_requests 8000). A worker
// runs an API handler synchronously (handle_api2_request calls
// rest_handler), so one node answers at most 3 local reads at a time; a
// read for a guest on another node (the handler's proxyto => 'node') is
// forwarded without blocking (proxy_request, AnyEvent::HTTP) to that
// node's pveproxy and its 3 workers. 32 reads in flight are far below what
// the server accepts (2400 connections per node); they wait in its event
// loops rather than being refused, and overlap the network round trips,
// which dominate a remote API. The limit halves when the server shows
// strain (see strained).
const DefaultParallelism = 32

// limiter bounds the reads in flight and halves the bound (down to 1) each
// time the server shows strain; a new Observe starts again at the
// configured bound.
type limiter struct {
	mu       sync.Mutex
	cond     *sync.Cond
	limit    int
	inFlight int
	lowered  bool // the limit was halved at least once
	start    int
}

func newLimiter(n int) *limiter {
	l := &limiter{limit: n, start: n}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// acquire waits for a slot. It returns false when ctx ends first.
func (l *limiter) acquire(ctx context.Context) bool {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.inFlight >= l.limit {
		if ctx.Err() != nil {
			return false
		}
		l.cond.Wait()
	}
	l.inFlight++
	return true
}

func (l *limiter) release() {
	l.mu.Lock()
	l.inFlight--
	l.cond.Broadcast()
	l.mu.Unlock()
}

// strain halves the limit.
func (l *limiter) strain() {
	l.mu.Lock()
	if l.limit > 1 {
		l.limit /= 2
		l.lowered = true
	}
	l.mu.Unlock()
}

// lowest is the limit now and whether it was lowered.
func (l *limiter) now() (limit int, lowered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.lowered
}

type limiterKey struct{}

// withLimiter makes calls under ctx report strain to l (see do).
func withLimiter(ctx context.Context, l *limiter) context.Context {
	return context.WithValue(ctx, limiterKey{}, l)
}

func limiterFrom(ctx context.Context) *limiter {
	l, _ := ctx.Value(limiterKey{}).(*limiter)
	return l
}

// strained reports whether err shows an overloaded server: 503 (pveproxy
// or a proxy in front of it refusing work), 595/596 (pveproxy's
// AnyEvent::HTTP failing to connect to, or to hear back from, the node it
// forwards to, docs/api-facts.md §1), or a timeout.
func strained(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusServiceUnavailable || ae.Status == 595 || ae.Status == 596
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
