package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Problems collects the bad fields of one spec or config, so that a decoder
// reports every problem at once instead of stopping at the first. The zero
// value is ready to use.
//
// The contract between backends and the pipeline: Backend.Decode returns
// nil, one *FieldError, or the errors.Join of several (Problems.Err builds
// it); the pipeline turns each *FieldError into one diagnostic (see
// FieldErrors).
type Problems struct {
	errs []error
}

// Add records err: a joined error is flattened into its parts, nil is
// ignored. It reports whether err was not nil, so a caller can skip checks
// that depend on a field already found bad.
func (p *Problems) Add(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.Add(e)
		}
		return true
	}
	p.errs = append(p.errs, err)
	return true
}

// Decode strictly decodes raw into v (a non-nil pointer; see DecodeStrict)
// and records each bad field, so that a decoder's checks add theirs next
// and the spec's error names every problem at once. It returns an error
// only when raw is not a JSON object (or not JSON at all): nothing is
// recorded then, there is nothing to check, and the decoder returns that
// error as it is.
func (p *Problems) Decode(raw json.RawMessage, v any) error {
	err := DecodeStrict(raw, v)
	fes := FieldErrors(err)
	for _, fe := range fes {
		if fe.Field == "" {
			return err
		}
	}
	for _, fe := range fes {
		p.Add(fe)
	}
	return nil
}

// AddNew records each problem of err whose field p has no problem yet (see
// Has): a value that did not decode is not reported again by the checks
// that then see its zero value ("is required").
func (p *Problems) AddNew(err error) {
	for _, fe := range FieldErrors(err) {
		if fe.Field == "" || !p.Has(fe.Field) {
			p.Add(fe)
		}
	}
}

// Addf records a *FieldError for field, the message formatted as by
// fmt.Sprintf.
func (p *Problems) Addf(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Len is the number of problems recorded.
func (p *Problems) Len() int { return len(p.errs) }

// Has reports whether a problem names field or a field inside it
// ("disks" has "disks[0].size").
func (p *Problems) Has(field string) bool {
	for _, e := range p.errs {
		var fe *FieldError
		if errors.As(e, &fe) && (fe.Field == field || strings.HasPrefix(fe.Field, field+".") || strings.HasPrefix(fe.Field, field+"[")) {
			return true
		}
	}
	return false
}

// Err returns nil when nothing was recorded, the one error, or the
// errors.Join of all of them in the order recorded.
func (p *Problems) Err() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}

// FieldErrors flattens err — one error, a wrapped one, or an errors.Join of
// several — into one *FieldError per problem, in order. A part that is no
// *FieldError becomes one without a field, its message the error's text.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, FieldErrors(e)...)
		}
		return out
	}
	if w := errors.Unwrap(err); w != nil {
		if _, ok := w.(interface{ Unwrap() []error }); ok {
			return FieldErrors(w) // a wrapped join: its parts
		}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

// PrefixFields returns err with prefix put before the field of every
// *FieldError in it ("alias" + "name" = "alias.name"; a FieldError without
// a field gets prefix as its field).
func PrefixFields(prefix string, err error) error {
	var p Problems
	for _, fe := range FieldErrors(err) {
		p.Add(&FieldError{Field: fieldPath(prefix, fe.Field), Msg: fe.Msg})
	}
	return p.Err()
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeAll decodes raw into v (a non-nil pointer) field by field, as
// encoding/json would with DisallowUnknownFields, but records every unknown
// field, case-mismatched key and value of the wrong type in p, decoding
// what it can. path is the JSON path of raw ("" at the top).
func decodeAll(raw json.RawMessage, v reflect.Value, path string, p *Problems) {
	t := v.Type()
	if isNull(raw) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.Set(reflect.Zero(t))
			return
		}
	}
	if t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType)) {
		decodeLeaf(raw, v, path, p)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		decodeAll(raw, v.Elem(), path, p)
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			decodeLeaf(raw, v, path, p)
			return
		}
		fields := structFields(t)
		keys := slices.Sorted(maps.Keys(obj))
		for _, k := range keys {
			idx, ok := fields[k]
			if !ok {
				p.Add(&FieldError{Field: fieldPath(path, k), Msg: unknownFieldMsg(k, fields)})
				continue
			}
			f, ok := fieldByIndexAlloc(v, idx)
			if !ok {
				continue
			}
			decodeAll(obj[k], f, fieldPath(path, k), p)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			decodeLeaf(raw, v, path, p) // []byte is base64
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			decodeLeaf(raw, v, path, p)
			return
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			decodeAll(e, s.Index(i), path+"["+strconv.Itoa(i)+"]", p)
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			decodeLeaf(raw, v, path, p)
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			decodeLeaf(raw, v, path, p)
			return
		}
		m := reflect.MakeMapWithSize(t, len(obj))
		keys := slices.Sorted(maps.Keys(obj))
		for _, k := range keys {
			e := reflect.New(t.Elem()).Elem()
			decodeAll(obj[k], e, fieldPath(path, k), p)
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
	default:
		decodeLeaf(raw, v, path, p)
	}
}

// decodeLeaf decodes a value encoding/json handles whole: a scalar, an
// interface, a json.Unmarshaler, or a value whose JSON has the wrong shape.
func decodeLeaf(raw json.RawMessage, v reflect.Value, path string, p *Problems) {
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			p.Add(&FieldError{Field: fieldPath(path, te.Field), Msg: fmt.Sprintf("got a JSON %s, want %s", te.Value, goTypeName(te.Type.String()))})
			return
		}
		p.Add(&FieldError{Field: path, Msg: strings.TrimPrefix(err.Error(), "json: ")})
	}
}

// fieldPath appends key to the JSON path prefix ("disks[0]" + "size" =
// "disks[0].size"); either may be empty.
func fieldPath(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// structFields maps a struct's JSON field names to their index paths
// (embedded structs flattened, as encoding/json does).
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			idx := append(slices.Clone(index), i)
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, idx)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup {
				out[name] = idx
			}
		}
	}
	walk(t, nil)
	return out
}

// fieldByIndexAlloc is v.FieldByIndex, allocating nil embedded pointers.
func fieldByIndexAlloc(v reflect.Value, idx []int) (reflect.Value, bool) {
	for i, x := range idx {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// unknownFieldMsg says that k is no field, suggesting the field it most
// likely means: the same name in another case, else one at most two edits
// away.
func unknownFieldMsg(k string, fields map[string][]int) string {
	names := slices.Sorted(maps.Keys(fields))
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return fmt.Sprintf("unknown field (did you mean %q? field names are case-sensitive)", n)
		}
	}
	best, bestDist := "", 3
	for _, n := range names {
		if d := levenshtein.ComputeDistance(strings.ToLower(k), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field (did you mean %q?)", best)
	}
	return "unknown field (known fields: " + strings.Join(names, ", ") + ")"
}
