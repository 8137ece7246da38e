package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

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
