package jsonscan_test

import (
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/jsonscan"
)

// TestSkip: Skip moves past one value of each kind, returning its text
// without the space around, and refuses where no value starts.
func TestSkip(t *testing.T) {
	for _, tc := range []struct{ in, raw, rest string }{
		{` 12.5e-3 , 1`, `12.5e-3`, `, 1`},
		{`true]`, `true`, `]`},
		{`"a\"]}" :`, `"a\"]}"`, `:`},
		{"{\"a\": [1, {\"b\": \"}\"}]}\n\t}", "{\"a\": [1, {\"b\": \"}\"}]}", `}`},
		{`[]`, `[]`, ``},
	} {
		s := jsonscan.New([]byte(tc.in))
		raw, ok := s.Skip()
		if !ok || string(raw) != tc.raw || s.Next() != first(tc.rest) {
			t.Errorf("Skip(%q) = %q, %v, next %q; want %q, next %q", tc.in, raw, ok, s.Next(), tc.raw, first(tc.rest))
		}
	}
	for _, in := range []string{``, `,1`, `]`, `"open`, `[1, 2`, "\"a\x01\""} {
		if raw, ok := jsonscan.New([]byte(in)).Skip(); ok {
			t.Errorf("Skip(%q) = %q, want it refused", in, raw)
		}
	}
}

// TestKey: Key reads a key and its colon; plain says whether its bytes
// are its value.
func TestKey(t *testing.T) {
	for _, tc := range []struct {
		in, raw string
		plain   bool
	}{
		{`"node" : 1`, `"node"`, true},
		{`"n\u006fde":1`, `"n\u006fde"`, false},
		{`"ümlaut":1`, `"ümlaut"`, false},
	} {
		s := jsonscan.New([]byte(tc.in))
		raw, plain, ok := s.Key()
		if !ok || string(raw) != tc.raw || plain != tc.plain || s.Next() != '1' {
			t.Errorf("Key(%q) = %q, %v, %v; want %q, %v", tc.in, raw, plain, ok, tc.raw, tc.plain)
		}
	}
	if _, _, ok := jsonscan.New([]byte(`"node" 1`)).Key(); ok {
		t.Error("a key without a colon was read")
	}
}

func first(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}
