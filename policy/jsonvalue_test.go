package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// FuzzParseJSONValue compares parseJSONValue with OPA's own conversion
// (util.UnmarshalJSON, then ast.InterfaceToValue): the same value where
// OPA reads the document, an error where it does not.
func FuzzParseJSONValue(f *testing.F) {
	for _, doc := range []string{`{}`, `[]`, `null`, ` false `, `-0.0e-0`, `123456789012345678901234567890`, `{"a":{"b":[1,2,{"c":null}]},"a":2}`,
		"\"\xff\xfe ok\"", `"\u0000\/\ud800\u0041\udc00"`, `"\ud83d\ude00"`, `1E70000`, "[\n1 ,\t2\r]", `{"a"}`, `[1,]`, `01`, `{} {}`, `"\x"`, "\"a\x01\""} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseJSONValue([]byte(doc))
		var x any
		if uerr := util.UnmarshalJSON([]byte(doc), &x); uerr != nil {
			if err == nil {
				t.Errorf("%q: read %v, OPA refuses it: %v", doc, got, uerr)
			}
			return
		}
		want, werr := ast.InterfaceToValue(x)
		if werr != nil {
			// A number beyond float64's range ("1E70000"): OPA refuses
			// it here, parseJSONValue keeps it as written, as the
			// parser before it did. JSON from Jsonnet or json.Marshal
			// has none.
			return
		}
		if err != nil || got.Compare(want) != 0 || got.String() != want.String() {
			t.Errorf("%q: read %v, %v; OPA reads %s", doc, got, err, want)
		}
	})
}
