package sim

import (
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// apiTXT is FreeIPA's own API description (API.txt at the root of
// freeipa/freeipa @b16f3b80, IPA 4.14.0, API 2.257), byte for byte the
// shared reference freeipa-API.txt. Every request is checked against it.
//
//go:embed API.txt
var apiTXT string

// param is one arg or option line of API.txt, e.g.
// "option: Str('ipasshpubkey*', cli_name='sshpubkey')".
type param struct {
	Name     string
	Type     string   // Str, Flag, Bool, Int, StrEnum, Principal, ...
	Required bool     // no ?/* suffix, no autofill and no default
	Multi    bool     // * or + suffix
	Values   []string // StrEnum/IntEnum values
	Password bool     // Password/HostPassword: never logged
	CLIName  string   // cli_name, used in ValidationError messages
}

// command is one "command:" block of API.txt.
type command struct {
	Name    string // without the "/1" version suffix
	Args    []param
	Options map[string]param
	Outputs []string
}

var (
	paramLine = regexp.MustCompile(`^(arg|option): (\w+)\('([A-Za-z0-9_]+)([?*+]?)'(.*)\)$`)
	enumVals  = regexp.MustCompile(`values=\[([^\]]*)\]`)
	enumItem  = regexp.MustCompile(`u?'([^']*)'|(-?\d+)`)
	outLine   = regexp.MustCompile(`^output: \w+\('([A-Za-z0-9_]+)'`)
	cliName   = regexp.MustCompile(`cli_name='([^']*)'`)
)

// parseAPI reads API.txt's line format (docs/api-facts.md §3): "command: name/1",
// "args: nArgs,nOptions,nOutputs", then arg/option/output lines.
func parseAPI(text string) (map[string]*command, error) {
	cmds := make(map[string]*command)
	var cur *command
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "command: "):
			name := strings.TrimPrefix(line, "command: ")
			name, _, _ = strings.Cut(name, "/")
			cur = &command{Name: name, Options: make(map[string]param)}
			cmds[name] = cur
		case strings.HasPrefix(line, "arg: "), strings.HasPrefix(line, "option: "):
			if cur == nil {
				return nil, fmt.Errorf("API.txt line %d: parameter outside a command", i+1)
			}
			m := paramLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("API.txt line %d: cannot parse %q", i+1, line)
			}
			p := param{Name: m[3], Type: m[2]}
			rest := m[5]
			switch m[4] {
			case "":
				p.Required = !strings.Contains(rest, "autofill=True") && !strings.Contains(rest, "default=")
			case "+":
				p.Required, p.Multi = true, true
			case "*":
				p.Multi = true
			}
			if vm := enumVals.FindStringSubmatch(rest); vm != nil {
				for _, it := range enumItem.FindAllStringSubmatch(vm[1], -1) {
					p.Values = append(p.Values, it[1]+it[2])
				}
			}
			p.Password = strings.Contains(p.Type, "Password")
			p.CLIName = p.Name
			if cm := cliName.FindStringSubmatch(rest); cm != nil {
				p.CLIName = cm[1]
			}
			if m[1] == "arg" {
				cur.Args = append(cur.Args, p)
			} else {
				cur.Options[p.Name] = p
			}
		case strings.HasPrefix(line, "output: "):
			if cur != nil {
				if m := outLine.FindStringSubmatch(line); m != nil {
					cur.Outputs = append(cur.Outputs, m[1])
				}
			}
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("API.txt: no commands")
	}
	return cmds, nil
}

// bind merges positional args and options into params like
// frontend.Command.args_options_2_params, then converts and validates each
// value against its API.txt parameter. Errors are FreeIPA's InvocationErrors.
func (c *command) bind(args []any, opts map[string]any) (map[string]any, *Error) {
	maxArgs := len(c.Args)
	if len(c.Args) > 0 && c.Args[len(c.Args)-1].Multi {
		maxArgs = math.MaxInt
	}
	if len(args) > maxArgs {
		if maxArgs == 0 {
			return nil, errZeroArgument(c.Name)
		}
		return nil, errMaxArgument(c.Name, maxArgs)
	}
	params := make(map[string]any, len(opts)+len(args))
	for name, v := range opts {
		if _, ok := c.Options[name]; !ok && !c.hasArg(name) {
			return nil, errOption(name)
		}
		params[name] = v
	}
	for i, a := range c.Args {
		if i >= len(args) {
			break
		}
		if a.Multi {
			if len(args) == i+1 {
				params[a.Name] = args[i]
			} else {
				params[a.Name] = args[i:]
			}
			break
		}
		params[a.Name] = args[i]
	}
	all := make([]param, 0, len(c.Args)+len(c.Options))
	all = append(all, c.Args...)
	for _, p := range c.Options {
		all = append(all, p)
	}
	for _, p := range all {
		raw, present := params[p.Name]
		v, err := p.convert(raw)
		if err != nil {
			return nil, err
		}
		if v == nil {
			if p.Required {
				return nil, errRequirement(p.Name)
			}
			if present {
				// kept as "given but empty": *_mod deletes the attribute
				params[p.Name] = nil
			}
			continue
		}
		params[p.Name] = v
	}
	return params, nil
}

func (c *command) hasArg(name string) bool {
	for _, a := range c.Args {
		if a.Name == name {
			return true
		}
	}
	return false
}

// convert turns a JSON value into []string (multi-valued), string, bool or
// int64, mirroring ipalib/parameters.py: null and "" are "no value"; a list
// for a single-valued param is "Only one value is allowed".
func (p param) convert(raw any) (any, *Error) {
	if isNull(raw) {
		return nil, nil
	}
	if p.Multi {
		items, ok := raw.([]any)
		if !ok {
			items = []any{raw}
		}
		var out []string
		for _, it := range items {
			if isNull(it) {
				continue
			}
			s, err := p.scalar(it)
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprint(s))
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if l, ok := raw.([]any); ok {
		if len(l) != 1 {
			return nil, errConversion(p.Name, "Only one value is allowed")
		}
		raw = l[0]
	}
	return p.scalar(raw)
}

func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

func (p param) scalar(v any) (any, *Error) {
	switch p.Type {
	case "Flag", "Bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "1":
				return true, nil
			case "false", "0":
				return false, nil
			}
		case float64:
			if x == 1 || x == 0 {
				return x == 1, nil
			}
		}
		return nil, errConversion(p.Name, "must be True or False")
	case "Int", "IntEnum":
		var n int64
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) {
				return nil, errConversion(p.Name, "must be an integer")
			}
			n = int64(x)
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, errConversion(p.Name, "must be an integer")
			}
			n = i
		default:
			return nil, errConversion(p.Name, "must be an integer")
		}
		if p.Type == "IntEnum" && !contains(p.Values, strconv.FormatInt(n, 10)) {
			return nil, errValidation(p.CLIName, "must be one of "+quoteList(p.Values))
		}
		return n, nil
	default:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, errConversion(p.Name, "must be Unicode text")
		}
		if p.Type == "StrEnum" && !contains(p.Values, s) {
			return nil, errValidation(p.CLIName, "must be one of "+quoteList(p.Values))
		}
		return s, nil
	}
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
