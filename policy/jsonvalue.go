package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gitops-runner/gitops-runner/steps"
)

// maxJSONDepth is how deeply arrays and objects may nest in what
// parseJSONValue reads: jsontext's limit, and encoding/json's.
const maxJSONDepth = 10000

// parseJSONValue reads a JSON document straight into the OPA value that
// OPA's own conversion gives (util.UnmarshalJSON, then
// ast.InterfaceToValue): numbers as written, a repeated object key's last
// value, invalid UTF-8 in strings as U+FFFD. One pass of a
// jsontext.Decoder, without the map[string]any in between; short strings
// (object keys above all) and numbers that recur share one term, as OPA's
// interned terms do.
func parseJSONValue(b []byte) (ast.Value, error) {
	p := &jsonParser{
		dec:      jsontext.NewDecoder(bytes.NewBuffer(b), steps.AsEncodingJSON...),
		interned: map[string]*ast.Term{},
	}
	t, err := p.value()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // no document at all
	}
	if err != nil {
		return nil, fmt.Errorf("JSON: %w", err)
	}
	end := p.dec.InputOffset()
	if _, err := p.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("JSON: data after the document, which ends at byte %d", end)
	}
	return t.Value, nil
}

// jsonParser reads one document from dec.
type jsonParser struct {
	dec *jsontext.Decoder
	// interned holds the terms of short strings ("s" + text) and of
	// numbers ("n" + text) read so far, up to maxInterned of them.
	interned map[string]*ast.Term
	// pairs and terms are stacks of the objects' and arrays' members
	// being read, reused: ast.NewObject copies its pairs, and an array
	// gets a slice of exactly its length.
	pairs [][2]*ast.Term
	terms []*ast.Term
	// text is the unquoted text of the last string read.
	text []byte
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

func stringValue(raw []byte) ast.Value { return ast.String(raw) }

func numberValue(raw []byte) ast.Value { return ast.Number(raw) }

// value reads the next value: an object, an array or a scalar.
func (p *jsonParser) value() (*ast.Term, error) {
	switch p.dec.PeekKind() {
	case '{':
		return p.object()
	case '[':
		return p.array()
	}
	v, err := p.dec.ReadValue() // an error too
	if err != nil {
		return nil, err
	}
	switch v.Kind() {
	case 't':
		return ast.InternedTerm(true), nil
	case 'f':
		return ast.InternedTerm(false), nil
	case 'n':
		return ast.InternedNullTerm, nil
	case '"':
		return p.string(v), nil
	}
	return p.intern('n', v, numberValue), nil // kept as written
}

// string is the term of the JSON string v, which the Decoder has read.
func (p *jsonParser) string(v jsontext.Value) *ast.Term {
	// The only error left is invalid UTF-8, replaced by U+FFFD as
	// encoding/json does.
	p.text, _ = jsontext.AppendUnquote(p.text[:0], v)
	return p.intern('s', p.text, stringValue)
}

func (p *jsonParser) object() (*ast.Term, error) {
	if _, err := p.dec.ReadToken(); err != nil { // {
		return nil, err
	}
	base := len(p.pairs)
	defer func() { p.pairs = p.pairs[:base] }()
	for p.dec.PeekKind() != '}' {
		name, err := p.dec.ReadValue() // a string: the Decoder takes no other name
		if err != nil {
			return nil, err
		}
		k := p.string(name)
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.pairs = append(p.pairs, [2]*ast.Term{k, v})
	}
	if _, err := p.dec.ReadToken(); err != nil { // }
		return nil, err
	}
	return ast.NewTerm(ast.NewObject(lastKeys(p.pairs[base:])...)), nil
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

func (p *jsonParser) array() (*ast.Term, error) {
	if _, err := p.dec.ReadToken(); err != nil { // [
		return nil, err
	}
	base := len(p.terms)
	defer func() { p.terms = p.terms[:base] }()
	for p.dec.PeekKind() != ']' {
		t, err := p.value()
		if err != nil {
			return nil, err
		}
		p.terms = append(p.terms, t)
	}
	if _, err := p.dec.ReadToken(); err != nil { // ]
		return nil, err
	}
	return ast.NewTerm(ast.NewArray(slices.Clone(p.terms[base:])...)), nil
}
