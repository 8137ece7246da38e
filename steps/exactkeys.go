package steps

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode"

	"github.com/go-json-experiment/json/jsontext"
)

// exactKeys reports whether every key of raw's objects that meets a struct
// field of v's type (v: a value or a pointer to one) is that field's JSON
// name exactly: a key that names no field, or one only when case is
// ignored (encoding/json takes "keytype" for `json:"keyType"`), makes it
// false. Keys of maps and of values decoded whole (an interface, a
// json.Unmarshaler) are not checked. raw must be one JSON value that
// encoding/json decoded into v without error; other text reports false.
//
// It reads raw once with a jsontext.Decoder that accepts what encoding/json
// accepts (repeated names, invalid UTF-8): the check costs a fraction of
// the decode it follows.
func exactKeys(raw []byte, v any) bool {
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewBuffer(raw), AsEncodingJSON...)
	if !checkKeys(dec, planOf(reflect.TypeOf(v))) {
		return false
	}
	_, err := dec.ReadToken()
	return errors.Is(err, io.EOF)
}

var (
	// decoders are exactKeys' Decoders, reused: a decode calls it once
	// per spec, and a new Decoder's state costs a handful of allocations.
	decoders = sync.Pool{New: func() any { return new(jsontext.Decoder) }}
)

// AsEncodingJSON are the options under which a jsontext.Decoder reads the
// text encoding/json reads (json.Valid; FuzzValid in runner/pipeline holds
// it to that): by default jsontext refuses repeated object names and
// invalid UTF-8 in strings, which encoding/json takes. The runner's fast
// JSON paths (the decode, exactKeys, the policy input) read with them.
var AsEncodingJSON = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// checkKeys checks the next value of dec against p and reads past it.
func checkKeys(dec *jsontext.Decoder, p *keyPlan) bool {
	switch k := dec.PeekKind(); {
	case k == '{' && p.kind != planSkip:
		if _, err := dec.ReadToken(); err != nil {
			return false
		}
		for dec.PeekKind() != '}' {
			name, err := dec.ReadToken() // unquoted as encoding/json does (invalid UTF-8 → U+FFFD)
			if err != nil {
				return false
			}
			vp, ok := p.elem, true
			switch p.kind {
			case planStruct:
				vp, ok = p.fields[name.String()]
			case planList:
				vp = skipPlan // a list given an object: encoding/json refused it
			}
			if !ok || !checkKeys(dec, vp) {
				return false
			}
		}
	case k == '[' && p.kind == planList:
		if _, err := dec.ReadToken(); err != nil {
			return false
		}
		for dec.PeekKind() != ']' {
			if !checkKeys(dec, p.elem) {
				return false
			}
		}
	default:
		return dec.SkipValue() == nil
	}
	_, err := dec.ReadToken() // the closing '}' or ']'
	return err == nil
}

// keyPlan is what exactKeys checks in a value of one Go type.
type keyPlan struct {
	kind   planKind
	fields map[string]*keyPlan // planStruct: JSON name → its field's plan
	elem   *keyPlan            // planMap: a value's; planList: an element's
	// plain: encoding/json's fields of this type and of every type in it
	// are structFields' (see sameFields), so that a key exactKeys takes is
	// one encoding/json decodes, into the same field.
	plain bool
}

type planKind uint8

const (
	planSkip   planKind = iota // a scalar, an interface, a json.Unmarshaler
	planStruct                 // object keys must be field names
	planMap                    // any keys; values of elem
	planList                   // elements of elem
)

var (
	skipPlan = &keyPlan{kind: planSkip, plain: true}
	plans    sync.Map // reflect.Type (no pointer) → *keyPlan
)

// planOf is the keyPlan of t, built once per type.
func planOf(t reflect.Type) *keyPlan {
	if t == nil {
		return skipPlan
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p, ok := plans.Load(t); ok {
		return p.(*keyPlan)
	}
	building := map[reflect.Type]*keyPlan{}
	p := buildPlan(t, building)
	// A plan is plain when its type's fields are the same for both and
	// every plan in it is plain: false spreads from the types that are
	// not until nothing changes (types may refer to themselves).
	for changed := true; changed; {
		changed = false
		for _, bp := range building {
			if bp.plain && !bp.partsPlain() {
				bp.plain, changed = false, true
			}
		}
	}
	for bt, bp := range building {
		plans.Store(bt, bp)
	}
	return p
}

// partsPlain reports whether the plans of p's fields or elements are plain.
func (p *keyPlan) partsPlain() bool {
	if p.elem != nil && !p.elem.plain {
		return false
	}
	for _, f := range p.fields {
		if !f.plain {
			return false
		}
	}
	return true
}

// buildPlan is planOf for types not cached yet; building holds the plans
// begun, so that a recursive type refers to its own plan.
func buildPlan(t reflect.Type, building map[reflect.Type]*keyPlan) *keyPlan {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p, ok := plans.Load(t); ok {
		return p.(*keyPlan)
	}
	if p, ok := building[t]; ok {
		return p
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		building[t] = skipPlan
		return skipPlan
	}
	p := &keyPlan{plain: true}
	building[t] = p
	switch t.Kind() {
	case reflect.Struct:
		p.kind, p.plain = planStruct, sameFields(t)
		idx := cachedFields(t)
		p.fields = make(map[string]*keyPlan, len(idx))
		for name, i := range idx {
			p.fields[name] = buildPlan(t.FieldByIndex(i).Type, building)
		}
	case reflect.Map:
		p.kind, p.elem = planMap, buildPlan(t.Elem(), building)
	case reflect.Slice, reflect.Array:
		p.kind, p.elem = planList, buildPlan(t.Elem(), building)
	}
	return p
}

// sameFields reports whether encoding/json's fields of struct type t are
// those of structFields, with the same names and index paths, by ruling
// out where the two differ: a name given twice (encoding/json keeps the
// shallowest field or none, structFields the first met), a tag name
// encoding/json finds invalid (it takes the Go name) and an embedded
// pointer (encoding/json allocates it, or fails for an unexported type);
// other embedded fields with a tag name are ruled out too.
func sameFields(t reflect.Type) bool {
	seen := map[string]bool{}
	var walk func(t reflect.Type) bool
	walk = func(t reflect.Type) bool {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name != "" && !validTagName(name) {
				return false
			}
			if f.Anonymous {
				switch {
				case name != "" || f.Type.Kind() == reflect.Pointer:
					return false
				case f.Type.Kind() == reflect.Struct:
					if !walk(f.Type) {
						return false
					}
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if seen[name] {
				return false
			}
			seen[name] = true
		}
		return true
	}
	return walk(t)
}

// validTagName is encoding/json's isValidTag: the names it takes from a
// tag.
func validTagName(s string) bool {
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
