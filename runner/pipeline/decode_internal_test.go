package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
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
