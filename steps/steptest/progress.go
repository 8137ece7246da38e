package steptest

import (
	"fmt"
	"strings"
	"sync"
)

// Progress records the lines a backend's Apply prints, for tests that check
// what a step logs. It is safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	lines []string
}

// Printf implements steps.Progress.
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

// Lines are the lines printed so far.
func (p *Progress) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Text is the lines printed so far, joined by newlines.
func (p *Progress) Text() string {
	return strings.Join(p.Lines(), "\n")
}
