package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// encodeInput is the JSON of the input document as the policy child reads
// it (parseJSONValue): the document json.Marshal gives, built field by
// field so that the specs the pipeline keeps as their JSON
// (json.RawMessage) are copied as they are, not re-validated and compacted
// by encoding/json. They must be valid JSON (BuildPolicyInput keeps only
// valid ones); the child refuses the document otherwise.
func encodeInput(in *pipeline.PolicyInput) ([]byte, error) {
	e := &inputEncoder{buf: make([]byte, 0, 1024+inputSize(in))}
	e.raw(`{"version":`)
	e.buf = strconv.AppendInt(e.buf, int64(in.Version), 10)
	e.raw(`,"resources":`)
	e.resources(in.Resources)
	e.raw(`,"plan":`)
	e.json(in.Plan)
	e.raw(`,"push":`)
	e.json(in.Push)
	e.raw(`,"previous":{"resources":`)
	e.resources(in.Previous.Resources)
	e.raw(`},"live":`)
	e.json(in.Live)
	e.raw(`,"renames":`)
	e.json(in.Renames)
	e.raw(`}`)
	if e.err != nil {
		return nil, fmt.Errorf("policy input: %w", e.err)
	}
	return e.buf, nil
}

// inputSize is about the size of the specs kept as JSON, in bytes.
func inputSize(in *pipeline.PolicyInput) int {
	n := 0
	for _, rs := range [][]pipeline.PolicyResource{in.Resources, in.Previous.Resources} {
		for _, r := range rs {
			if raw, ok := r.Spec.(json.RawMessage); ok {
				n += len(raw) + 3*len(r.ID) + 64
			}
		}
	}
	return n
}

// inputEncoder appends JSON to buf, keeping the first error.
type inputEncoder struct {
	buf []byte
	err error
}

func (e *inputEncoder) raw(s string) { e.buf = append(e.buf, s...) }

// json appends v as encoding/json writes it.
func (e *inputEncoder) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		b = []byte("null")
	}
	e.buf = append(e.buf, b...)
}

// string appends s as a JSON string: plain ASCII as it is, anything else as
// encoding/json writes it (escapes, invalid UTF-8 as U+FFFD).
func (e *inputEncoder) string(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			e.json(s)
			return
		}
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

func (e *inputEncoder) resources(rs []pipeline.PolicyResource) {
	if rs == nil {
		e.raw("null")
		return
	}
	e.raw("[")
	for i, r := range rs {
		if i > 0 {
			e.raw(",")
		}
		e.raw(`{"id":`)
		e.string(r.ID)
		e.raw(`,"kind":`)
		e.string(r.Kind)
		e.raw(`,"name":`)
		e.string(r.Name)
		e.raw(`,"spec":`)
		switch spec := r.Spec.(type) {
		case json.RawMessage:
			if len(spec) == 0 {
				e.raw("null") // as encoding/json writes an empty RawMessage
			} else {
				e.buf = append(e.buf, spec...)
			}
		default:
			e.json(spec)
		}
		if len(r.DependsOn) > 0 { // omitempty
			e.raw(`,"dependsOn":[`)
			for j, d := range r.DependsOn {
				if j > 0 {
					e.raw(",")
				}
				e.string(d)
			}
			e.raw("]")
		}
		e.raw("}")
	}
	e.raw("]")
}

// maxJSONDepth bounds the nesting of arrays and objects parseJSONValue
// reads, as encoding/json does (10000).
const maxJSONDepth = 10000

// parseJSONValue reads a JSON document straight into the OPA value that
// OPA's own conversion gives (util.UnmarshalJSON, then
// ast.InterfaceToValue): numbers as written, a repeated object key's last
// value, invalid UTF-8 in strings as U+FFFD. One pass, without the
// map[string]any in between.
func parseJSONValue(b []byte) (ast.Value, error) {
	p := &jsonParser{b: b}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, p.errorf("data after the document")
	}
	return v, nil
}

// jsonParser reads b from i.
type jsonParser struct {
	b []byte
	i int
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

func (p *jsonParser) value(depth int) (ast.Value, error) {
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
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case 't':
		return p.literal("true", ast.Boolean(true))
	case 'f':
		return p.literal("false", ast.Boolean(false))
	case 'n':
		return p.literal("null", ast.NullValue)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) literal(word string, v ast.Value) (ast.Value, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.errorf("bad literal, want %s", word)
	}
	p.i += len(word)
	return v, nil
}

func (p *jsonParser) object(depth int) (ast.Value, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested too deeply")
	}
	p.i++ // {
	var kvs [][2]*ast.Term
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return ast.NewObject(), nil
	}
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
		kvs = append(kvs, [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(v)})
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end in an object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return ast.NewObject(lastKeys(kvs)...), nil
		default:
			return nil, p.errorf("want ',' or '}' in an object")
		}
	}
}

// lastKeys keeps the last value of a repeated key, where its first stood
// (encoding/json decodes into a map, where the last wins; ast.NewObject
// does not merge repeated keys).
func lastKeys(kvs [][2]*ast.Term) [][2]*ast.Term {
	const small = 16 // compare pairs below, index in a map above
	dup := false
	if len(kvs) <= small {
		for i := 1; i < len(kvs) && !dup; i++ {
			for j := range i {
				if kvs[i][0].Value.Compare(kvs[j][0].Value) == 0 {
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

func (p *jsonParser) array(depth int) (ast.Value, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested too deeply")
	}
	p.i++ // [
	var terms []*ast.Term
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return ast.NewArray(), nil
	}
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, ast.NewTerm(v))
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end in an array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return ast.NewArray(terms...), nil
		default:
			return nil, p.errorf("want ',' or ']' in an array")
		}
	}
}

// string reads a JSON string: plain ASCII directly, anything with escapes
// or other bytes through encoding/json.
func (p *jsonParser) string() (string, error) {
	start := p.i
	p.i++ // "
	plain := true
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if plain {
				return string(p.b[start+1 : p.i-1]), nil
			}
			var s string
			if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
				p.i = start
				return "", p.errorf("bad string: %v", err)
			}
			return s, nil
		case c == '\\':
			plain = false
			p.i += 2
		case c < 0x20:
			return "", p.errorf("control character in a string")
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			p.i++
		}
	}
	return "", p.errorf("unterminated string")
}

// number reads a JSON number and keeps it as written.
func (p *jsonParser) number() (ast.Value, error) {
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
	return ast.Number(p.b[start:p.i]), nil
}
