package simapi

import (
	"slices"
	"sync"
)

// Log is a simulator's request log of entries R, oldest first. It is safe
// for concurrent use; the zero value is an unbounded log.
type Log[R any] struct {
	// Limit keeps only the newest Limit entries (0 = all). Set it before
	// the first Add.
	Limit int

	mu      sync.Mutex
	entries []R
}

// Add appends one entry, dropping the oldest beyond Limit.
func (l *Log[R]) Add(r R) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, r)
	if over := len(l.entries) - l.Limit; l.Limit > 0 && over > 0 {
		l.entries = slices.Delete(l.entries, 0, over)
	}
}

// Entries returns a copy of the log.
func (l *Log[R]) Entries() []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// Reset empties the log.
func (l *Log[R]) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}
