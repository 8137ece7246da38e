package steps

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// SecretRef names where a secret comes from: a file (its content, trimmed)
// or an environment variable. Secrets never come from the infra repo, and
// their values never reach logs, reports or notes (see Redactor).
type SecretRef struct {
	File string `json:"file,omitempty"`
	Env  string `json:"env,omitempty"`
}

// IsZero reports whether no source is named.
func (s SecretRef) IsZero() bool { return s.File == "" && s.Env == "" }

// Read returns the secret and registers it with r so it is redacted.
func (s SecretRef) Read(r *Redactor) (string, error) {
	var v string
	switch {
	case s.File != "" && s.Env != "":
		return "", errors.New("name either a file or an env variable for a secret, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v = strings.TrimSpace(string(b))
	case s.Env != "":
		var ok bool
		v, ok = os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("secret environment variable %s is not set", s.Env)
		}
	default:
		return "", errors.New("no secret source: give {file: PATH} or {env: NAME}")
	}
	if v == "" {
		return "", errors.New("the secret is empty")
	}
	r.Add(v)
	return v, nil
}

// Redactor replaces known secret values in text with "(redacted)".
type Redactor struct {
	mu     sync.RWMutex
	values []string
}

// Add registers a secret value (values shorter than 4 bytes are ignored:
// replacing them would mangle ordinary text).
func (r *Redactor) Add(v string) {
	if r == nil || len(v) < 4 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

// Redact returns s with every registered secret replaced.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "(redacted)")
	}
	return s
}
