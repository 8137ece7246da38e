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

// DecodeStrict decodes raw into v, refusing unknown fields, trailing data and
// type mismatches with a *FieldError that names the field.
func DecodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fieldErrorFromJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Msg: "unexpected data after the spec object"}
	}
	return checkKeyCase(raw, reflect.TypeOf(v), "")
}

func fieldErrorFromJSON(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &FieldError{Field: te.Field, Msg: fmt.Sprintf("got a JSON %s, want %s", te.Value, goTypeName(te.Type.String()))}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &FieldError{Field: strings.Trim(f, `"`), Msg: "unknown field (check the spelling; `runner eval` shows decoded specs)"}
	}
	return &FieldError{Msg: strings.TrimPrefix(msg, "json: ")}
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
