package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gitops-runner/gitops-runner/steps"
)

// RawResource is one entry of the evaluated `resources` list, before its
// spec is decoded: what lib/runner.libsonnet's resource() builds.
type RawResource struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
	DependsOn []string        `json:"dependsOn,omitempty"`
	Adopt     bool            `json:"adopt,omitempty"`
}

// validName reports whether a resource name is 1–253 characters of
// letters, digits, '.', '_' and '-', starting with a letter or digit. (A
// regexp with {0,252} costs 4 ms to compile at every process start,
// evaluation children included.)
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Decode turns the evaluated JSON of entry into typed resources: the output
// must be {resources: [...]}, every entry {kind, name, spec, dependsOn?,
// adopt?}, kinds known, IDs unique, specs valid for their backend, and
// dependsOn must name declared resources without cycles. All problems are
// returned at once.
func Decode(reg *steps.Registry, entry string, out []byte) ([]steps.Resource, Diagnostics) {
	list, ds := rawResources(entry, out)
	if list == nil {
		return nil, ds
	}
	rs := make([]steps.Resource, 0, len(list))
	seen := make(map[steps.ID]int, len(list))
	for i, r := range list {
		if r == nil {
			continue // did not decode: rawResources said why
		}
		if !validName(r.Name) {
			ds = append(ds, Diagnostic{File: entry, Resource: resourceWhere(i, steps.ID{}), Field: "name", Summary: fmt.Sprintf("%s is not a valid name", quoteClipped(r.Name)),
				Hint: "names are 1–253 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"})
			continue
		}
		id := steps.ID{Kind: r.Kind, Name: r.Name}
		b, ok := reg.Backend(r.Kind)
		if !ok {
			ds = append(ds, Diagnostic{File: entry, Resource: resourceWhere(i, id), Field: "kind", Summary: fmt.Sprintf("unknown kind %q", r.Kind),
				Hint: "known kinds: " + strings.Join(reg.Kinds(), ", ")})
			continue
		}
		if j, dup := seen[id]; dup {
			ds = append(ds, Diagnostic{File: entry, Resource: resourceWhere(i, id), Summary: fmt.Sprintf("duplicate resource ID %s (also resources[%d])", id, j),
				Hint: "every kind/name must be unique; rename one of them"})
			continue
		}
		seen[id] = i
		res := steps.Resource{ID: id, Adopt: r.Adopt, Raw: r.Spec}
		for k, d := range r.DependsOn {
			did, err := steps.ParseID(d)
			if err != nil {
				ds = append(ds, Diagnostic{File: entry, Resource: resourceWhere(i, id), Field: fmt.Sprintf("dependsOn[%d]", k), Summary: err.Error()})
				continue
			}
			res.DependsOn = append(res.DependsOn, did)
		}
		spec, err := b.Decode(r.Kind, r.Spec)
		if err != nil {
			ds = append(ds, specDiagnostics(entry, resourceWhere(i, id), err)...)
			continue
		}
		res.Spec = spec
		rs = append(rs, res)
	}
	if len(ds) > 0 {
		return nil, ds
	}
	for _, err := range steps.CheckDeps(rs) {
		d := Diagnostic{File: entry, Summary: err.Error(), Hint: "dependsOn must name declared resources (kind/name) and must not form a cycle"}
		ds = append(ds, d)
	}
	if len(ds) > 0 {
		return nil, ds
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ID.Less(rs[j].ID) })
	return rs, nil
}

// resourceWhere names resources[i] in a diagnostic: "kind/name
// (resources[i])", or "resources[i]" while id has no kind. It is built
// only for a diagnostic, not for every resource.
func resourceWhere(i int, id steps.ID) string {
	where := fmt.Sprintf("resources[%d]", i)
	if id.Kind != "" {
		where = fmt.Sprintf("%s (%s)", id, where)
	}
	return where
}

// rawResources splits the evaluated JSON into its resources, unknown
// fields refused. A bad entry is nil in the list and has diagnostics; a
// list of nil says the output has no resources list at all.
func rawResources(entry string, out []byte) ([]*RawResource, Diagnostics) {
	if list, ok := soundResources(out); ok {
		return list, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		return nil, Diagnostics{{File: entry, Summary: "the output is not an object",
			Hint: "main.jsonnet must evaluate to {resources: [...]}; wrap a list with runner.output([...]) from runner.libsonnet"}}
	}
	var ds Diagnostics
	for k := range top {
		if k != "resources" {
			ds = append(ds, Diagnostic{File: entry, Summary: fmt.Sprintf("unknown top-level field %q", k),
				Hint: "the output may only have `resources`; hide helpers with `::`"})
		}
	}
	raw, ok := top["resources"]
	if !ok {
		return nil, append(ds, Diagnostic{File: entry, Summary: "the output has no `resources` list",
			Hint: "main.jsonnet must evaluate to {resources: [...]}"})
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, append(ds, Diagnostic{File: entry, Field: "resources", Summary: "is not a list"})
	}
	list := make([]*RawResource, len(items))
	for i, item := range items {
		var r RawResource
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			for _, fe := range steps.FieldErrors(steps.DecodeStrict(item, &r)) {
				ds = append(ds, Diagnostic{File: entry, Resource: fmt.Sprintf("resources[%d]", i), Field: fe.Field, Summary: fe.Msg,
					Hint: "a resource is {kind, name, spec, dependsOn?, adopt?}"})
			}
			continue
		}
		list[i] = &r
	}
	return list, ds
}

// soundResources is rawResources of sound output — {"resources": [...]},
// every entry {kind, name, spec, dependsOn?, adopt?} — in one pass of a
// jsontext.Decoder over it (the output of 1000 guests is ~0.5 MB), which
// checks that it is JSON as encoding/json accepts it (repeated names,
// invalid UTF-8) while reading; each spec is a slice of out, not a copy.
// It takes only the plain form Jsonnet writes: each key once, keys and
// strings without escapes or non-ASCII bytes, spec an object, adopt true or
// false. Anything else reports false, and rawResources looks again with
// encoding/json, slowly, to decode it or say what is wrong.
func soundResources(out []byte) ([]*RawResource, bool) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(out), steps.AsEncodingJSON...)
	if !readDelim(dec, '{') || string(plainText(dec)) != "resources" || !readDelim(dec, '[') {
		return nil, false
	}
	list := make([]RawResource, 0, len(out)/512)
	for dec.PeekKind() != ']' {
		r, ok := soundResource(dec, out)
		if !ok {
			return nil, false
		}
		list = append(list, r)
	}
	if !readDelim(dec, ']') || !readDelim(dec, '}') {
		return nil, false
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	ptrs := make([]*RawResource, len(list))
	for i := range list {
		ptrs[i] = &list[i]
	}
	return ptrs, true
}

// soundResource reads one entry of the resources list for soundResources.
func soundResource(dec *jsontext.Decoder, out []byte) (RawResource, bool) {
	var r RawResource
	if !readDelim(dec, '{') {
		return r, false
	}
	var seen [5]bool
	for dec.PeekKind() != '}' {
		ok := false
		var field int
		switch string(plainText(dec)) {
		case "kind":
			field = 0
			r.Kind, ok = plainString(dec)
		case "name":
			field = 1
			r.Name, ok = plainString(dec)
		case "spec":
			field = 2
			if dec.PeekKind() == '{' {
				spec, err := dec.ReadValue()
				end := int(dec.InputOffset())
				ok = err == nil
				r.Spec = out[end-len(spec) : end : end] // an append must not write into out
			}
		case "dependsOn":
			field = 3
			r.DependsOn, ok = plainStrings(dec)
		case "adopt":
			field = 4
			tok, err := dec.ReadToken()
			r.Adopt = tok.Kind() == 't'
			ok = err == nil && (r.Adopt || tok.Kind() == 'f')
		}
		if !ok || seen[field] {
			return r, false
		}
		seen[field] = true
	}
	return r, readDelim(dec, '}')
}

// readDelim reads the next token, reporting whether it is the delimiter
// k ('{', '}', '[' or ']').
func readDelim(dec *jsontext.Decoder, k jsontext.Kind) bool {
	tok, err := dec.ReadToken()
	return err == nil && tok.Kind() == k
}

// plainText reads a string without escapes or non-ASCII bytes, an object
// name or a value, and returns its text; nil for any other value.
func plainText(dec *jsontext.Decoder) []byte {
	v, err := dec.ReadValue()
	if err != nil || v.Kind() != '"' {
		return nil
	}
	for _, c := range v {
		if c == '\\' || c >= utf8.RuneSelf {
			return nil
		}
	}
	return v[1 : len(v)-1]
}

// plainString is plainText as a string.
func plainString(dec *jsontext.Decoder) (string, bool) {
	text := plainText(dec)
	return string(text), text != nil
}

// plainStrings reads a list of plain strings (see plainText).
func plainStrings(dec *jsontext.Decoder) ([]string, bool) {
	if !readDelim(dec, '[') {
		return nil, false
	}
	list := []string{}
	for dec.PeekKind() != ']' {
		str, ok := plainString(dec)
		if !ok {
			return nil, false
		}
		list = append(list, str)
	}
	return list, readDelim(dec, ']')
}

// specDiagnostics turns a backend's Decode error into one diagnostic per
// problem: Decode returns one *steps.FieldError or an errors.Join of
// several (steps.Problems), each becoming a diagnostic on spec.FIELD; any
// other error is one diagnostic on spec.
func specDiagnostics(entry, where string, err error) Diagnostics {
	var ds Diagnostics
	for _, fe := range steps.FieldErrors(err) {
		field := "spec"
		if fe.Field != "" {
			field = "spec." + fe.Field
		}
		d := Diagnostic{File: entry, Resource: where, Field: field, Summary: fe.Msg}
		if strings.HasPrefix(fe.Msg, "unknown field") {
			d.Hint = "`runner eval` shows the decoded specs; the backend's README lists every field"
		}
		ds = append(ds, d)
	}
	return ds
}
