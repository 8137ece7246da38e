package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// transientError marks an error that may pass if the change is tried again.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Transient marks err as transient: the executor retries the change with
// backoff. Backends classify; the executor never parses error strings.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

// IsTransient reports whether err (or an error it wraps) was marked Transient.
func IsTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// FieldError is a bad value in a spec, naming the field by its JSON path
// ("net[0].bridge").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return "field " + e.Field + ": " + e.Msg
}

// FieldErrorf returns a *FieldError: field names the offending field of a
// spec or config ("memory", "disks[1].size"), the message is formatted as by
// fmt.Sprintf.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// DecodeStrict decodes raw into v (a non-nil pointer), refusing unknown
// fields, keys that match a field only when case is ignored (encoding/json
// would accept "keytype" for `json:"keyType"`), trailing data and values of
// the wrong type. It reports every such problem, not only the first: nil,
// one *FieldError, or an errors.Join of them (see Problems), each naming
// the field by its JSON path. What decodes is stored in v either way.
func DecodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	if decodeSound(raw, v) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var whole json.RawMessage
	if err := dec.Decode(&whole); err != nil {
		return &FieldError{Msg: strings.TrimPrefix(err.Error(), "json: ")}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Msg: "unexpected data after the spec object"}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("DecodeStrict: want a non-nil pointer, got %T", v)
	}
	var p Problems
	decodeAll(whole, rv.Elem(), "", &p)
	return p.Err()
}

// decodeSound is DecodeStrict's fast path for the common case, a sound
// spec decoded into a zero value: encoding/json decodes it in one pass,
// refusing types that do not fit and trailing data; exactKeys then checks
// that every key names its field exactly (encoding/json would take
// "keytype" for `json:"keyType"`). That refuses unknown fields too when
// the type is plain (its fields are the same to encoding/json and to
// structFields, see sameFields); a type that is not plain is decoded by a
// json.Decoder that refuses them itself. Given sound input, that stores in
// v what decodeAll would. When anything is wrong it resets v to zero and
// reports false: decodeAll then finds every problem with its field path.
// (At 1000 guests the path through decodeAll alone took ~40 ms of the
// push-time check: it decodes each level of a spec again from its bytes.)
// A value that is not zero — defaults filled in before decoding — always
// takes decodeAll: encoding/json would merge into its maps where decodeAll
// replaces them.
func decodeSound(raw json.RawMessage, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !rv.Elem().IsZero() {
		return false
	}
	var ok bool
	if planOf(rv.Type()).plain {
		// exactKeys refuses every key DisallowUnknownFields would, and
		// more: json.Unmarshal needs no Decoder, which copies raw.
		ok = json.Unmarshal(raw, v) == nil
	} else {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		ok = dec.Decode(v) == nil
		if ok {
			_, err := dec.Token()
			ok = errors.Is(err, io.EOF)
		}
	}
	ok = ok && exactKeys(raw, v)
	if !ok {
		rv.Elem().SetZero()
	}
	return ok
}

var fieldsCache sync.Map // reflect.Type → map[string][]int

// cachedFields is structFields of t, computed once per type.
func cachedFields(t reflect.Type) map[string][]int {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string][]int)
	}
	f := structFields(t)
	fieldsCache.Store(t, f)
	return f
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "an object"
	}
	return "an object"
}

func sortStrings(s []string) { sort.Strings(s) }

// ErrNotConfigured matches (errors.Is) every backend's "not configured"
// error: the runner configuration has no section for a backend whose
// kinds a run uses.
var ErrNotConfigured = errors.New("backend not configured")

// NotConfigured is a backend's "not configured" error: "backend <name> is
// not configured: add <section> to the runner config", matching
// ErrNotConfigured.
func NotConfigured(name, section string) error {
	return notConfigured{fmt.Sprintf("backend %s is not configured: add %s to the runner config", name, section)}
}

type notConfigured struct{ msg string }

func (e notConfigured) Error() string        { return e.msg }
func (e notConfigured) Is(target error) bool { return target == ErrNotConfigured }
