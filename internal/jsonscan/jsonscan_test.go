package jsonscan_test

import (
	"encoding/json"
	"strings"
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

// validSeeds are JSON texts and near misses.
var validSeeds = []string{
	``, ` `, `{}`, ` [ ] `, `{"a": [1, -0, 0.5, -1.5e+3, 2E-2, true, false, null, "x"]}`, `"\u00e9\n\"\\\/\b\f\r\t"`,
	`01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `--1`, `tru`, `truex`, `nul`, `[1,]`, `{"a":1,}`, `{"a"}`, `{1: 2}`, `[1 2]`,
	`"\x"`, `"\u12G4"`, `"\u123"`, "\"a\x01\"", "\"\xff\xfe\"", `"open`, `{} {}`, `{}x`, "\t\n\r{}\r\n", `[[[]]]`, `"\`,
}

// TestValid: Valid is json.Valid, up to encoding/json's nesting limit.
func TestValid(t *testing.T) {
	for _, in := range validSeeds {
		if got, want := jsonscan.Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	}
	for _, n := range []int{9999, 10000, 10001} {
		in := strings.Repeat(`[{"a":`, n/2) + strings.Repeat("[", n%2) + "1" + strings.Repeat("]", n%2) + strings.Repeat("}]", n/2)
		if got, want := jsonscan.Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid of %d levels = %v, json.Valid says %v", n, got, want)
		}
	}
}

// FuzzValid compares Valid with json.Valid.
func FuzzValid(f *testing.F) {
	for _, in := range validSeeds {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := jsonscan.Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	})
}
