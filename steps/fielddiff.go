package steps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// DiffFields compares two JSON-able values field by field and returns the
// leaf changes, sorted by path. Paths listed in sensitive (top-level or full
// paths) are redacted. Lists of scalars compare as a whole; lists of objects
// element by element.
func DiffFields(before, after any, sensitive ...string) []FieldChange {
	b, a := JSONValue(before), JSONValue(after)
	var out []FieldChange
	diffValue("", b, a, &out)
	sens := map[string]bool{}
	for _, s := range sensitive {
		sens[s] = true
	}
	for i := range out {
		if sens[out[i].Path] || sens[topField(out[i].Path)] {
			out[i].Sensitive = true
			if out[i].Before != nil {
				out[i].Before = Redacted
			}
			if out[i].After != nil {
				out[i].After = Redacted
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func topField(p string) string {
	for i, r := range p {
		if r == '.' || r == '[' {
			return p[:i]
		}
	}
	return p
}

// JSONValue converts a Go value to its plain JSON form (maps, lists,
// float64 numbers, strings, bools), as reports and policies see it.
func JSONValue(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(unmarshalable: %v)", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Sprintf("(unmarshalable: %v)", err)
	}
	return out
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func diffValue(path string, b, a any, out *[]FieldChange) {
	bm, bok := b.(map[string]any)
	am, aok := a.(map[string]any)
	// A missing object (create, delete) diffs as an empty one, so every
	// field shows up on its own.
	if b == nil && aok {
		bm, bok = map[string]any{}, true
	}
	if a == nil && bok {
		am, aok = map[string]any{}, true
	}
	if bok && aok {
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range am {
			keys[k] = true
		}
		for k := range keys {
			diffValue(join(path, k), bm[k], am[k], out)
		}
		return
	}
	bl, blok := b.([]any)
	al, alok := a.([]any)
	if blok && alok && len(bl) == len(al) && hasObjects(bl) && hasObjects(al) {
		for i := range bl {
			diffValue(path+"["+strconv.Itoa(i)+"]", bl[i], al[i], out)
		}
		return
	}
	if !reflect.DeepEqual(b, a) {
		*out = append(*out, FieldChange{Path: path, Before: b, After: a})
	}
}

func hasObjects(l []any) bool {
	for _, v := range l {
		if _, ok := v.(map[string]any); ok {
			return true
		}
	}
	return false
}
