package simapi

import (
	"maps"
	"sync"
)

// Counts is a snapshot of a simulator's request counters.
type Counts struct {
	// Total counts requests, refused and failed ones included.
	Total int
	// Reads counts calls of operations that only read state.
	Reads int
	// Writes counts calls of operations that may change state.
	Writes int
	// Faults counts injected faults (FailNext and random ones).
	Faults int
	// ByOp counts calls by operation name, in the simulator's own naming
	// (e.g. "GET /nodes/{node}/lxc", "ChangeResourceRecordSets", "host_add").
	ByOp map[string]int
}

// Counters counts a simulator's requests. It is safe for concurrent use;
// the zero value is ready to use.
type Counters struct {
	mu sync.Mutex
	c  Counts
}

// Request counts one request in Total.
func (c *Counters) Request() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Total++
}

// Op counts one call of operation op in ByOp and in Writes when write is
// true, else in Reads.
func (c *Counters) Op(op string, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c.ByOp == nil {
		c.c.ByOp = map[string]int{}
	}
	c.c.ByOp[op]++
	if write {
		c.c.Writes++
	} else {
		c.c.Reads++
	}
}

// Fault counts one injected fault.
func (c *Counters) Fault() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Faults++
}

// Total returns the number of requests counted so far.
func (c *Counters) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Total
}

// Count returns the number of calls of operation op.
func (c *Counters) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.ByOp[op]
}

// Snapshot returns a copy of the counts; ByOp is never nil.
func (c *Counters) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.c
	s.ByOp = maps.Clone(c.c.ByOp)
	if s.ByOp == nil {
		s.ByOp = map[string]int{}
	}
	return s
}

// Reset zeroes the counts.
func (c *Counters) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c = Counts{}
}
