package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// keysSpec has every shape exactKeys walks: an embedded struct, nested
// structs, lists, maps (string and int keys), pointers, an interface, a
// json.Unmarshaler and raw JSON.
type keysSpec struct {
	keysCommon
	Memory int                   `json:"memory"`
	Disks  []keysDisk            `json:"disks"`
	ByName map[string]keysDisk   `json:"byName"`
	ByNum  map[int]keysDisk      `json:"byNum"`
	Opt    *keysDisk             `json:"opt"`
	Arr    [2]keysDisk           `json:"arr"`
	Raw    json.RawMessage       `json:"raw"`
	Any    any                   `json:"any"`
	Wrap   keysWrap              `json:"wrap"`
	Nested map[string][]keysDisk `json:"nested"`
	Self   *keysSpec             `json:"self"`
	Üml    string                `json:"ümlaut"`
	Plain  string
	Hidden string `json:"-"`
}

type keysCommon struct {
	Node string `json:"node"`
}

type keysDisk struct {
	Slot string `json:"slot"`
	Size int    `json:"size"`
}

// keysWrap decodes itself: its keys are its own business.
type keysWrap struct{ Any map[string]any }

func (w *keysWrap) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &w.Any) }

// decodes reports whether encoding/json decodes raw into a new keysSpec as
// decodeSound's first step does: unknown fields refused, nothing after.
func decodes(raw []byte) bool {
	var v keysSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&v) != nil {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// TestExactKeysAsTokenWalk: exactKeys accepts what the json.Decoder.Token
// walk it replaced (tokenExactKeys) accepts, and refuses what it refuses,
// for JSON that encoding/json decodes.
func TestExactKeysAsTokenWalk(t *testing.T) {
	for _, in := range exactKeysSeeds {
		if !decodes([]byte(in)) {
			t.Errorf("seed does not decode: %s", in)
			continue
		}
		want := tokenExactKeys(json.NewDecoder(strings.NewReader(in)), reflect.TypeFor[keysSpec]())
		if got := exactKeys([]byte(in), &keysSpec{}); got != want {
			t.Errorf("exactKeys(%s) = %v, the Token walk says %v", in, got, want)
		}
	}
}

// FuzzExactKeys compares exactKeys with the Token walk on whatever
// encoding/json decodes.
func FuzzExactKeys(f *testing.F) {
	for _, in := range exactKeysSeeds {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !decodes([]byte(in)) {
			return
		}
		want := tokenExactKeys(json.NewDecoder(strings.NewReader(in)), reflect.TypeFor[keysSpec]())
		if got := exactKeys([]byte(in), &keysSpec{}); got != want {
			t.Errorf("exactKeys(%q) = %v, the Token walk says %v", in, got, want)
		}
	})
}

// exactKeysSeeds are sound and case-mismatched keys in every position.
var exactKeysSeeds = []string{
	`{}`,
	` { "node" : "pve" , "memory" : 1 } `,
	`{"Node": "pve"}`,
	`{"NODE": "pve"}`,
	`{"memory": 1, "Memory": 2}`,
	"{\"node\":\"pve\",\n\t\"memory\":-15,\r\"any\":-1.5e3}",
	`{"disks": [{"slot": "a", "size": 1}, {"Slot": "b"}]}`,
	`{"disks": [{"slot": "a"}, {"slot": "b"}], "arr": [{"size": 2}]}`,
	`{"arr": [{"sIze": 2}]}`,
	`{"byName": {"Any Key": {"slot": "x"}}}`,
	`{"byName": {"x": {"sIze": 1}}}`,
	`{"byNum": {"1": {"slot": "x"}}}`,
	`{"byNum": {"1": {"SLOT": "x"}}}`,
	`{"opt": {"slot": "a"}}`,
	`{"opt": {"Slot": "a"}}`,
	`{"opt": null, "disks": null, "byName": null}`,
	`{"raw": {"Keep": [1, {"X": "}"}]}, "any": {"X": [true, false, null]}}`,
	`{"wrap": {"Whatever": {"Case": 1}}}`,
	`{"nested": {"k": [{"slot": "a"}, {"Size": 1}]}}`,
	`{"self": {"self": {"memory": 1}}}`,
	`{"self": {"self": {"MEMORY": 1}}}`,
	`{"\u006eode": "pve"}`,
	`{"n\u006FDE": "pve"}`,
	`{"ümlaut": "x"}`,
	`{"ÜMLAUT": "x"}`,
	`{"Plain": "x"}`,
	`{"plain": "x"}`,
	`{"node": "a\"}b\\", "disks": [{"slot": "[{\u0022"}]}`,
	`{"any": "x", "memory": 0, "node": ""}`,
}

// tokenExactKeys is the check exactKeys replaced, kept as the reference:
// a json.Decoder.Token walk. It reads one value from dec and reports
// whether every key of its objects that encoding/json matched to a struct
// field of t is that field's JSON name exactly.
func tokenExactKeys(dec *json.Decoder, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		var skip json.RawMessage
		return dec.Decode(&skip) == nil
	}
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return false
			}
			key, _ := k.(string)
			var vt reflect.Type
			switch t.Kind() {
			case reflect.Struct:
				idx, ok := cachedFields(t)[key]
				if !ok {
					return false
				}
				vt = t.FieldByIndex(idx).Type
			case reflect.Map:
				vt = t.Elem()
			default:
				vt = anyType
			}
			if !tokenExactKeys(dec, vt) {
				return false
			}
		}
	case json.Delim('['):
		et := anyType
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			et = t.Elem()
		}
		for dec.More() {
			if !tokenExactKeys(dec, et) {
				return false
			}
		}
	default:
		return true // a scalar
	}
	_, err = dec.Token() // the closing delimiter
	return err == nil
}

var anyType = reflect.TypeFor[any]()

// TestPlainPlan: a type whose fields encoding/json and structFields agree
// on is plain, and so decoded by json.Unmarshal; one that holds a type
// where they may differ is not, however deep.
func TestPlainPlan(t *testing.T) {
	if !planOf(reflect.TypeFor[keysSpec]()).plain {
		t.Error("keysSpec is not plain")
	}
	type dup struct {
		keysCommon
		Node string `json:"node"`
	}
	type badTag struct {
		A int `json:"a\\b"` //nolint:staticcheck // a name encoding/json refuses is the point
	}
	type embeddedPtr struct{ *keysCommon }
	type embeddedTagged struct {
		keysCommon `json:"common"`
	}
	type holdsDup struct {
		D map[string][]*dup `json:"d"`
	}
	type selfDup struct {
		Next *selfDup `json:"next"`
		D    []dup    `json:"d"`
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[dup](), reflect.TypeFor[badTag](), reflect.TypeFor[embeddedPtr](),
		reflect.TypeFor[embeddedTagged](), reflect.TypeFor[holdsDup](), reflect.TypeFor[*selfDup]()} {
		if planOf(typ).plain {
			t.Errorf("%v is plain", typ)
		}
	}
}

// FuzzDecodeSound: decodeSound, which decodes a plain type with
// json.Unmarshal and checks keys with exactKeys, stores and reports what
// the json.Decoder pass with unknown fields refused and the Token walk it
// replaced (tokenDecodeSound) did.
func FuzzDecodeSound(f *testing.F) {
	for _, in := range exactKeysSeeds {
		f.Add(in)
	}
	for _, in := range []string{`{"memory": "x"}`, `{"memory": 1} {}`, `{"memory": 1}]`, `{"disks": {"slot": "a"}}`, `{"Extra": 1}`, ` {"memory": 1} `} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var got, want keysSpec
		ok := decodeSound([]byte(in), &got)
		wantOK := tokenDecodeSound([]byte(in), &want)
		if ok != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeSound(%q) = %v, %+v\nthe json.Decoder pass: %v, %+v", in, ok, got, wantOK, want)
		}
	})
}

// tokenDecodeSound is decodeSound as it was before exactKeys: a
// json.Decoder pass with unknown fields refused, then the Token walk.
func tokenDecodeSound(raw []byte, v *keysSpec) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	ok := dec.Decode(v) == nil
	if ok {
		_, err := dec.Token()
		ok = errors.Is(err, io.EOF)
	}
	ok = ok && tokenExactKeys(json.NewDecoder(bytes.NewReader(raw)), reflect.TypeFor[keysSpec]())
	if !ok {
		*v = keysSpec{}
	}
	return ok
}
