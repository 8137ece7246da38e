package steps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// DiffFields compares two JSON-able values field by field and returns the
// leaf changes in path order (object keys sorted, list elements by index).
// Paths listed in sensitive (top-level or full paths) are redacted.
//
// Objects are compared key by key ("rootfs.size"). Two lists are compared
// element by element, in order: an element present on both sides is
// compared in turn ("networks[0].ip", "tags[1]"), an element only in after
// is one change with Before nil ("networks[1]" added), one only in before
// has After nil (removed). A list that appears or disappears as a whole
// (one side absent) is one change of the whole value. Backends whose lists
// are sets (order does not matter) sort them before diffing.
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
	return out
}

// IsElement reports whether a field path names a list element
// ("networks[1]"), whose nil Before or After means added or removed.
func IsElement(path string) bool { return len(path) > 0 && path[len(path)-1] == ']' }

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
		keys := make([]string, 0, len(bm)+len(am))
		for k := range bm {
			keys = append(keys, k)
		}
		for k := range am {
			if _, dup := bm[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			diffValue(join(path, k), bm[k], am[k], out)
		}
		return
	}
	bl, blok := b.([]any)
	al, alok := a.([]any)
	if blok && alok {
		for i := 0; i < max(len(bl), len(al)); i++ {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(bl):
				*out = append(*out, FieldChange{Path: p, After: al[i]})
			case i >= len(al):
				*out = append(*out, FieldChange{Path: p, Before: bl[i]})
			default:
				diffValue(p, bl[i], al[i], out)
			}
		}
		return
	}
	if !reflect.DeepEqual(b, a) {
		*out = append(*out, FieldChange{Path: path, Before: b, After: a})
	}
}
