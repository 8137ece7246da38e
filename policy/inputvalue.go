package policy

import (
	"encoding/json"
	"math"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// inputValue is the OPA value of an input document. The pipeline's
// *PolicyInput is converted field by field, as it encodes to JSON: OPA's
// own conversion of a struct (ast.InterfaceToValue) encodes the whole
// document to JSON and decodes it again, which cost about half of the
// push-time check's policy step at 1000 resources. Anything else, and any
// part of the document that is not plain JSON data (a typed value in live,
// the field changes of a plan), goes through OPA's conversion, so the
// value is always the one its JSON encoding gives
// (TestInputValueIsItsJSON). An ast.Value (the policy child's input, read
// by parseJSONValue) is taken as it is.
func inputValue(input any) (ast.Value, error) {
	if v, ok := input.(ast.Value); ok { // read by parseJSONValue
		return v, nil
	}
	in, ok := input.(*pipeline.PolicyInput)
	if !ok || in == nil {
		return ast.InterfaceToValue(input)
	}
	c := converter{}
	resources := func(rs []pipeline.PolicyResource) ast.Value {
		if rs == nil {
			return ast.NullValue
		}
		terms := make([]*ast.Term, len(rs))
		for i, r := range rs {
			kvs := [][2]*ast.Term{
				c.pair("id", ast.String(r.ID)), c.pair("kind", ast.String(r.Kind)), c.pair("name", ast.String(r.Name)),
				c.pair("spec", c.value(r.Spec)),
			}
			if len(r.DependsOn) > 0 { // omitempty
				kvs = append(kvs, c.pair("dependsOn", c.value(r.DependsOn)))
			}
			terms[i] = ast.NewTerm(ast.NewObject(kvs...))
		}
		return ast.NewArray(terms...)
	}
	plan := ast.NullValue
	if in.Plan != nil {
		terms := make([]*ast.Term, len(in.Plan))
		for i, ch := range in.Plan {
			kvs := [][2]*ast.Term{
				c.pair("id", ast.String(ch.ID)), c.pair("kind", ast.String(ch.Kind)), c.pair("name", ast.String(ch.Name)),
				c.pair("action", ast.String(ch.Action)), c.pair("before", c.value(ch.Before)), c.pair("after", c.value(ch.After)),
			}
			if len(ch.Fields) > 0 { // omitempty
				kvs = append(kvs, c.pair("fields", c.value(ch.Fields)))
			}
			terms[i] = ast.NewTerm(ast.NewObject(kvs...))
		}
		plan = ast.NewArray(terms...)
	}
	obj := ast.NewObject(
		c.pair("version", c.value(in.Version)),
		c.pair("resources", resources(in.Resources)),
		c.pair("plan", plan),
		c.pair("push", c.value(in.Push)),
		c.pair("previous", ast.NewObject(c.pair("resources", resources(in.Previous.Resources)))),
		c.pair("live", c.value(in.Live)),
		c.pair("renames", c.value(in.Renames)),
	)
	if c.err != nil {
		return nil, c.err
	}
	return obj, nil
}

// converter turns JSON data into OPA values, keeping the first error.
type converter struct{ err error }

func (c *converter) pair(k string, v ast.Value) [2]*ast.Term {
	return [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(v)}
}

// value converts JSON data as encoding/json decodes it into an interface
// (maps, slices, strings, float64 or json.Number, bool, nil) or as it is
// (json.RawMessage) without a detour through JSON; anything else is left
// to ast.InterfaceToValue.
func (c *converter) value(x any) ast.Value {
	switch x := x.(type) {
	case nil:
		return ast.NullValue
	case string:
		return ast.String(x)
	case bool:
		return ast.Boolean(x)
	case float64:
		return c.number(x)
	case map[string]any:
		if x == nil {
			return ast.NullValue
		}
		kvs := make([][2]*ast.Term, 0, len(x))
		for k, v := range x {
			kvs = append(kvs, c.pair(k, c.value(v)))
		}
		return ast.NewObject(kvs...)
	case []any:
		if x == nil {
			return ast.NullValue
		}
		terms := make([]*ast.Term, len(x))
		for i, v := range x {
			terms[i] = ast.NewTerm(c.value(v))
		}
		return ast.NewArray(terms...)
	case json.RawMessage:
		// As ast.InterfaceToValue reads JSON: numbers kept as written.
		if len(x) == 0 {
			return ast.NullValue // as encoding/json writes it
		}
		v, err := parseJSONValue(x)
		if err != nil {
			return c.fail(err)
		}
		return v
	case []string:
		if x == nil {
			return ast.NullValue
		}
		terms := make([]*ast.Term, len(x))
		for i, v := range x {
			terms[i] = ast.StringTerm(v)
		}
		return ast.NewArray(terms...)
	}
	v, err := ast.InterfaceToValue(x) // json.Number among others
	if err != nil {
		return c.fail(err)
	}
	return v
}

// fail keeps err if it is the first and stands null for the value.
func (c *converter) fail(err error) ast.Value {
	if c.err == nil {
		c.err = err
	}
	return ast.NullValue
}

// number is f as its JSON encoding reads: a whole number in digits (not
// 2.147483648e+09, which is how ast.InterfaceToValue prints a float64),
// anything else as encoding/json writes it.
func (c *converter) number(f float64) ast.Value {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 && !(f == 0 && math.Signbit(f)) {
		return ast.IntNumberTerm(int(f)).Value
	}
	b, err := json.Marshal(f)
	if err != nil { // NaN or infinity: not JSON
		return c.fail(err)
	}
	return ast.Number(b)
}
