package policy

import (
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// refused lists the OPA built-in functions policies may not call, with the
// reason given to the user. Policies see only their input and
// data.runner.config: they must not reach the network, the runner's
// environment or its files, whatever a pushed commit contains.
var refused = map[string]string{
	"http.send":          "it reaches the network",
	"net.lookup_ip_addr": "it reaches the network (DNS)",
	"opa.runtime":        "it reveals the runner's environment and configuration",
	"rego.parse_module":  "policies may not build and inspect other policies at run time",
	// OPA resolves a schema's "$ref" by fetching URLs (bounded by allow_net)
	// and by reading file:// paths on the runner host (not bounded).
	"json.match_schema":  "a schema's $ref can read files on the runner host",
	"json.verify_schema": "a schema's $ref can read files on the runner host",
}

// RefusedBuiltins returns the names of the OPA built-in functions that
// policies may not use, sorted.
func RefusedBuiltins() []string {
	names := make([]string, 0, len(refused))
	for n := range refused {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// capabilities returns OPA's capabilities for this version less the refused
// built-ins, with no network host allowed. Compiling against them makes a
// refused call an error even where scanRefused misses it.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0:0]
	for _, b := range caps.Builtins {
		if _, no := refused[b.Name]; !no {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{} // empty, not nil: nil would allow every host
	return caps
}

// scanRefused finds calls of refused built-ins (and `with` replacements of
// them) in parsed modules, so the user gets "http.send is refused: ..." at
// the call instead of OPA's bare "undefined function".
func scanRefused(mods []*ast.Module) []Position {
	var ps []Position
	report := func(ref ast.Ref, loc *ast.Location) {
		name := ref.String()
		why, no := refused[name]
		if !no {
			return
		}
		p := Position{Message: "builtin " + name + " is refused: " + why + " (policies see only input and data.runner.config)"}
		if loc != nil {
			p.File, p.Line, p.Col = loc.File, loc.Row, loc.Col
		}
		ps = append(ps, p)
	}
	for _, m := range mods {
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.Expr:
				if x.IsCall() {
					report(x.Operator(), x.Location)
				}
			case ast.Call:
				if len(x) > 0 {
					if ref, ok := x[0].Value.(ast.Ref); ok {
						report(ref, x[0].Location)
					}
				}
			case *ast.With:
				if ref, ok := x.Target.Value.(ast.Ref); ok {
					report(ref, x.Location)
				}
			}
			return false
		}).Walk(m)
	}
	return ps
}
