package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maxJSONDepth bounds the nesting of arrays and objects parseJSONValue
// reads, as encoding/json does (10000).
const maxJSONDepth = 10000

// parseJSONValue reads a JSON document straight into the OPA value that
// OPA's own conversion gives (util.UnmarshalJSON, then
// ast.InterfaceToValue): numbers as written, a repeated object key's last
// value, invalid UTF-8 in strings as U+FFFD. One pass, without the
// map[string]any in between; short strings (object keys above all) and
// numbers that recur share one term, as OPA's interned terms do.
func parseJSONValue(b []byte) (ast.Value, error) {
	p := &jsonParser{b: b, interned: map[string]*ast.Term{}}
	t, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, p.errorf("data after the document")
	}
	return t.Value, nil
}

// jsonParser reads b from i.
type jsonParser struct {
	b []byte
	i int
	// interned holds the terms of short strings ("s" + text) and of
	// numbers ("n" + text) read so far, up to maxInterned of them.
	interned map[string]*ast.Term
	// pairs and terms are stacks of the objects' and arrays' members
	// being read, reused: ast.NewObject copies its pairs, and an array
	// gets a slice of exactly its length.
	pairs [][2]*ast.Term
	terms []*ast.Term
}

// Interning: strings and numbers up to maxInternLen bytes, at most
// maxInterned terms.
const (
	maxInternLen = 32
	maxInterned  = 1 << 14
)

// intern returns the shared term of kind ('s' string, 'n' number) and raw
// text, made by mk the first time.
func (p *jsonParser) intern(kind byte, raw []byte, mk func([]byte) ast.Value) *ast.Term {
	if len(raw) > maxInternLen {
		return ast.NewTerm(mk(raw))
	}
	var kb [maxInternLen + 1]byte
	kb[0] = kind
	k := kb[:1+copy(kb[1:], raw)]
	if t, ok := p.interned[string(k)]; ok { // no allocation for the lookup
		return t
	}
	t := ast.NewTerm(mk(raw))
	if len(p.interned) < maxInterned {
		p.interned[string(k)] = t
	}
	return t
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*ast.Term, error) {
	p.space()
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; c {
	case '{':
		return p.object(depth + 1)
	case '[':
		return p.array(depth + 1)
	case '"':
		return p.string()
	case 't':
		return p.literal("true", ast.InternedTerm(true))
	case 'f':
		return p.literal("false", ast.InternedTerm(false))
	case 'n':
		return p.literal("null", ast.InternedNullTerm)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) literal(word string, t *ast.Term) (*ast.Term, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.errorf("bad literal, want %s", word)
	}
	p.i += len(word)
	return t, nil
}

func (p *jsonParser) object(depth int) (*ast.Term, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested too deeply")
	}
	p.i++ // {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return ast.NewTerm(ast.NewObject()), nil
	}
	base := len(p.pairs)
	defer func() { p.pairs = p.pairs[:base] }()
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("want an object key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("want ':' after an object key")
		}
		p.i++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.pairs = append(p.pairs, [2]*ast.Term{k, v})
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end in an object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return ast.NewTerm(ast.NewObject(lastKeys(p.pairs[base:])...)), nil
		default:
			return nil, p.errorf("want ',' or '}' in an object")
		}
	}
}

// lastKeys keeps the last value of a repeated key, where its first stood
// (encoding/json decodes into a map, where the last wins; ast.NewObject
// does not merge repeated keys).
func lastKeys(kvs [][2]*ast.Term) [][2]*ast.Term {
	const small = 64 // compare pairs below, index in a map above
	dup := false
	if len(kvs) <= small {
		for i := 1; i < len(kvs) && !dup; i++ {
			ki := kvs[i][0].Value.(ast.String)
			for j := range i {
				if kvs[j][0].Value.(ast.String) == ki {
					dup = true
					break
				}
			}
		}
	} else {
		seen := make(map[ast.String]struct{}, len(kvs))
		for _, kv := range kvs {
			k := kv[0].Value.(ast.String)
			if _, ok := seen[k]; ok {
				dup = true
				break
			}
			seen[k] = struct{}{}
		}
	}
	if !dup {
		return kvs
	}
	at := map[ast.String]int{}
	out := kvs[:0:0]
	for _, kv := range kvs {
		k := kv[0].Value.(ast.String)
		if i, ok := at[k]; ok {
			out[i][1] = kv[1]
			continue
		}
		at[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func (p *jsonParser) array(depth int) (*ast.Term, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested too deeply")
	}
	p.i++ // [
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return ast.NewTerm(ast.NewArray()), nil
	}
	base := len(p.terms)
	defer func() { p.terms = p.terms[:base] }()
	for {
		t, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.terms = append(p.terms, t)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end in an array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return ast.NewTerm(ast.NewArray(slices.Clone(p.terms[base:])...)), nil
		default:
			return nil, p.errorf("want ',' or ']' in an array")
		}
	}
}

func stringValue(raw []byte) ast.Value { return ast.String(raw) }

func numberValue(raw []byte) ast.Value { return ast.Number(raw) }

// string reads a JSON string: plain ASCII directly, anything with escapes
// or other bytes through encoding/json.
func (p *jsonParser) string() (*ast.Term, error) {
	start := p.i
	p.i++ // "
	plain := true
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if plain {
				return p.intern('s', p.b[start+1:p.i-1], stringValue), nil
			}
			var s string
			if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
				p.i = start
				return nil, p.errorf("bad string: %v", err)
			}
			return ast.StringTerm(s), nil
		case c == '\\':
			plain = false
			p.i += 2
		case c < 0x20:
			return nil, p.errorf("control character in a string")
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			p.i++
		}
	}
	return nil, p.errorf("unterminated string")
}

// number reads a JSON number and keeps it as written.
func (p *jsonParser) number() (*ast.Term, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case digits() == 0:
		return nil, p.errorf("bad number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	return p.intern('n', p.b[start:p.i], numberValue), nil
}
