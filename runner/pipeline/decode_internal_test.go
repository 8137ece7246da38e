package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"

	"github.com/go-json-experiment/json/jsontext"
)

// soundSeeds are outputs in Jsonnet's plain form and in forms encoding/json
// takes that soundResources leaves to rawResources' slow path.
var soundSeeds = []struct {
	out  string
	fast bool // soundResources takes it
}{
	{`{"resources": []}`, true},
	{"{\n   \"resources\": [\n      {\n         \"adopt\": true,\n         \"kind\": \"proxmox.lxc\",\n         \"name\": \"g1000\",\n         \"spec\": {\n            \"cores\": 2\n         }\n      }\n   ]\n}\n", true},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": {"k": [1, "}"]}, "dependsOn": ["a.b/y", "a.b/z"], "adopt": false}, {}]}`, true},
	{`{"resources": [{"kind": "a.b", "name": "x", "dependsOn": []}]}`, true},
	{`{"resources": [{"kind": "a.b", "kind": "c.d", "name": "x"}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": {"a": 1}, "spec": {"b": 2}}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": null}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": [1]}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "adopt": null}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x\u0041"}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "ü"}]}`, false},
	{`{"resources": [{"kind": null, "name": "x"}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "dependsOn": null}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "dependsOn": ["a.b/\u0079", null]}]}`, false},
	{`{"resources": [null]}`, false},
	{`{"resourc\u0065s": [{"k\u0069nd": "a.b", "name": "x"}]}`, false},
	{`{"resources": [{"Kind": "a.b", "name": "x"}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "extra": 1}]}`, false},
	{`{"resources": [], "resources": []}`, false},
	{`{"resources": null}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": {"a": 01}}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "spec": {"a": tru}}]}`, false},
	{`{"resources": [{"kind": "a.b", "name": "x", "adopt": 1}]}`, false},
	{`{"resources": [] } x`, false},
	{`[]`, false},
}

// TestSoundResources: soundResources takes Jsonnet's plain output, and
// rawResources decodes every output as the json.Decoder pass it replaced
// (tokenResources) did.
func TestSoundResources(t *testing.T) {
	for _, tc := range soundSeeds {
		if _, ok := soundResources([]byte(tc.out)); ok != tc.fast {
			t.Errorf("soundResources(%s) took it: %v, want %v", tc.out, ok, tc.fast)
		}
		checkAsTokenResources(t, tc.out)
	}
}

// FuzzSoundResources compares rawResources with the json.Decoder pass
// soundResources replaced.
func FuzzSoundResources(f *testing.F) {
	for _, tc := range soundSeeds {
		f.Add(tc.out)
	}
	f.Fuzz(func(t *testing.T, out string) { checkAsTokenResources(t, out) })
}

// checkAsTokenResources fails t unless rawResources of out is the list
// tokenResources decodes, when it decodes one, and unless soundResources
// refuses what tokenResources refuses.
func checkAsTokenResources(t *testing.T, out string) {
	t.Helper()
	want, wantOK := tokenResources([]byte(out))
	got, ds := rawResources("main.jsonnet", []byte(out))
	if _, ok := soundResources([]byte(out)); ok && !wantOK {
		t.Errorf("soundResources took %q, which the json.Decoder pass refuses", out)
	}
	if !wantOK {
		return
	}
	if len(ds) > 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("rawResources(%q) = %s, %v\nthe json.Decoder pass decodes %s", out, show(got), ds, show(want))
	}
}

func show(list []*RawResource) string {
	b, _ := json.Marshal(list)
	return string(b)
}

// tokenResources is the soundResources that soundResources replaced, kept
// as the reference: one json.Decoder pass with unknown fields refused.
func tokenResources(out []byte) ([]*RawResource, bool) {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var list []RawResource
	if k, err := dec.Token(); err != nil || k != "resources" || dec.Decode(&list) != nil || list == nil {
		return nil, false
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false // another key, or a second "resources"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	ptrs := make([]*RawResource, len(list))
	for i := range list {
		ptrs[i] = &list[i]
	}
	return ptrs, true
}

// validSeeds are JSON texts and near misses.
var validSeeds = []string{
	``, ` `, `{}`, ` [ ] `, `{"a": [1, -0, 0.5, -1.5e+3, 2E-2, true, false, null, "x"]}`, `"\u00e9\n\"\\\/\b\f\r\t"`,
	`01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `--1`, `tru`, `truex`, `nul`, `[1,]`, `{"a":1,}`, `{"a"}`, `{1: 2}`, `[1 2]`,
	`"\x"`, `"\u12G4"`, `"\u123"`, "\"a\x01\"", "\"\xff\xfe\"", `"open`, `{} {}`, `{}x`, "\t\n\r{}\r\n", `[[[]]]`, `"\`,
	`{"a": 1, "a": 2}`, `"\ud800"`, `"\udc00\ud800\u0041"`,
}

// decoderValid reports whether a jsontext.Decoder with soundResources'
// options reads in as one value with only space around it.
func decoderValid(in string) bool {
	dec := jsontext.NewDecoder(bytes.NewBufferString(in), steps.AsEncodingJSON...)
	if dec.SkipValue() != nil {
		return false
	}
	_, err := dec.ReadToken()
	return errors.Is(err, io.EOF)
}

// TestValid: soundResources' Decoder reads what json.Valid accepts, up to
// encoding/json's nesting limit, and refuses the rest.
func TestValid(t *testing.T) {
	for _, in := range validSeeds {
		if got, want := decoderValid(in), json.Valid([]byte(in)); got != want {
			t.Errorf("the Decoder takes %q: %v, json.Valid says %v", in, got, want)
		}
	}
	for _, n := range []int{9999, 10000, 10001} {
		in := strings.Repeat(`[{"a":`, n/2) + strings.Repeat("[", n%2) + "1" + strings.Repeat("]", n%2) + strings.Repeat("}]", n/2)
		if got, want := decoderValid(in), json.Valid([]byte(in)); got != want {
			t.Errorf("the Decoder takes %d levels: %v, json.Valid says %v", n, got, want)
		}
	}
}

// FuzzValid compares what soundResources' Decoder reads with json.Valid.
func FuzzValid(f *testing.F) {
	for _, in := range validSeeds {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := decoderValid(in), json.Valid([]byte(in)); got != want {
			t.Errorf("the Decoder takes %q: %v, json.Valid says %v", in, got, want)
		}
	})
}
