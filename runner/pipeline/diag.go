package pipeline

import (
	"strings"
)

// Diagnostic is a user-facing problem: what happened, where (file, resource,
// field) and what to do. Secrets are never part of one.
type Diagnostic struct {
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	File     string `json:"file,omitempty"`
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Hint     string `json:"hint,omitempty"`
}

// String renders the diagnostic on one line plus detail and hint lines.
func (d Diagnostic) String() string {
	var b strings.Builder
	var where []string
	if d.File != "" && !strings.HasPrefix(d.Summary, d.File) {
		where = append(where, d.File)
	}
	if d.Resource != "" {
		where = append(where, d.Resource)
	}
	if d.Field != "" {
		where = append(where, "field "+d.Field)
	}
	if len(where) > 0 {
		b.WriteString(strings.Join(where, ": "))
		b.WriteString(": ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString("\n")
		b.WriteString(d.Detail)
	}
	if d.Hint != "" {
		b.WriteString("\n  hint: ")
		b.WriteString(d.Hint)
	}
	return b.String()
}

// Diagnostics is a list of problems; as an error it names all of them.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "\n")
}
