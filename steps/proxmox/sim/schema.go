package sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// pveAPIData is Proxmox VE's own API description (pve-docs api-viewer/apidata.js,
// PVE 9.1.3, converted to JSON; docs/api-facts.md §1 "Machine-readable schema").
//
//go:embed pve-apidata.json
var pveAPIData []byte

// flexNum decodes a JSON number or a numeric string (the dump has both, e.g.
// "minimum": "0").
type flexNum struct {
	set bool
	v   float64
}

func (f *flexNum) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil // non-numeric bounds are ignored, like an absent bound
	}
	f.set, f.v = true, v
	return nil
}

// flexBool decodes 0/1, "0"/"1" and true/false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = flexBool(s != "0" && s != "" && s != "false" && s != "null")
	return nil
}

// prop is one JSON-schema property of a PVE API method (pve-common JSONSchema.pm).
type prop struct {
	Type       string           `json:"type"`
	Optional   flexBool         `json:"optional"`
	Enum       []string         `json:"enum"`
	Minimum    flexNum          `json:"minimum"`
	Maximum    flexNum          `json:"maximum"`
	MinLength  flexNum          `json:"minLength"`
	MaxLength  flexNum          `json:"maxLength"`
	DefaultKey flexBool         `json:"default_key"`
	Alias      string           `json:"alias"`
	KeyAlias   string           `json:"keyAlias"`
	RawFormat  json.RawMessage  `json:"format"`
	Properties map[string]*prop `json:"properties"`

	formatName string           // a named format such as "pve-vmid"
	formatDict map[string]*prop // a property-string format (net[n], scsi[n], rootfs...)
}

func (p *prop) prepare() {
	if len(p.RawFormat) == 0 {
		return
	}
	if p.RawFormat[0] == '"' {
		_ = json.Unmarshal(p.RawFormat, &p.formatName)
		return
	}
	if p.RawFormat[0] == '{' {
		if err := json.Unmarshal(p.RawFormat, &p.formatDict); err != nil {
			p.formatDict = nil
			return
		}
		for _, sp := range p.formatDict {
			sp.prepare()
		}
	}
}

type params struct {
	AdditionalProperties flexBool         `json:"additionalProperties"`
	Properties           map[string]*prop `json:"properties"`
}

// methodInfo is the "info" entry of one method on one path.
type methodInfo struct {
	Name       string          `json:"name"`
	Method     string          `json:"method"`
	Parameters *params         `json:"parameters"`
	Returns    json.RawMessage `json:"returns"`
	Proxyto    string          `json:"proxyto"`

	// indexed holds the pattern-indexed properties ("net[n]" → "net").
	indexed map[string]*prop
	// retProps are the returned object's properties, used to type config output.
	retProps map[string]*prop
	retIdx   map[string]*prop
}

type schemaNode struct {
	Path     string                 `json:"path"`
	Children []*schemaNode          `json:"children"`
	Info     map[string]*methodInfo `json:"info"`
}

// route is one path template of the API tree.
type route struct {
	template string
	methods  map[string]*methodInfo
}

// apiSchema is the parsed, immutable API tree.
type apiSchema struct {
	// literal segment → child; a child keyed "{}" is the variable segment.
	root *trieNode
	// routes by template.
	routes map[string]*route
}

type trieNode struct {
	children map[string]*trieNode
	varName  string
	route    *route
}

// loadSchema parses the embedded dump once; the result is read-only and shared
// by every Server, so it is not mutable global state.
var loadSchema = sync.OnceValues(func() (*apiSchema, error) {
	var tree []*schemaNode
	if err := json.Unmarshal(pveAPIData, &tree); err != nil {
		return nil, fmt.Errorf("parse embedded pve-apidata.json: %w", err)
	}
	s := &apiSchema{root: &trieNode{children: map[string]*trieNode{}}, routes: map[string]*route{}}
	var walk func(ns []*schemaNode)
	walk = func(ns []*schemaNode) {
		for _, n := range ns {
			if len(n.Info) > 0 {
				r := &route{template: n.Path, methods: map[string]*methodInfo{}}
				for m, mi := range n.Info {
					mi.prepare()
					r.methods[m] = mi
				}
				s.routes[n.Path] = r
				s.insert(n.Path, r)
			}
			walk(n.Children)
		}
	}
	walk(tree)
	return s, nil
})

func (mi *methodInfo) prepare() {
	if mi.Parameters == nil {
		mi.Parameters = &params{}
	}
	mi.indexed = map[string]*prop{}
	for k, p := range mi.Parameters.Properties {
		p.prepare()
		if strings.HasSuffix(k, "[n]") {
			mi.indexed[strings.TrimSuffix(k, "[n]")] = p
		}
	}
	var ret struct {
		Properties map[string]*prop `json:"properties"`
	}
	if len(mi.Returns) > 0 && json.Unmarshal(mi.Returns, &ret) == nil && ret.Properties != nil {
		mi.retProps = ret.Properties
		mi.retIdx = map[string]*prop{}
		for k, p := range ret.Properties {
			if strings.HasSuffix(k, "[n]") {
				mi.retIdx[strings.TrimSuffix(k, "[n]")] = p
			}
		}
	}
}

func (s *apiSchema) insert(path string, r *route) {
	n := s.root
	for _, seg := range splitPath(path) {
		key, name := seg, ""
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			key, name = "{}", strings.Trim(seg, "{}")
		}
		c := n.children[key]
		if c == nil {
			c = &trieNode{children: map[string]*trieNode{}, varName: name}
			n.children[key] = c
		}
		n = c
	}
	n.route = r
}

// match finds the route for a concrete path and returns the path variables.
func (s *apiSchema) match(path string) (*route, map[string]string) {
	vars := map[string]string{}
	var rec func(n *trieNode, segs []string) *route
	rec = func(n *trieNode, segs []string) *route {
		if len(segs) == 0 {
			return n.route
		}
		if c := n.children[segs[0]]; c != nil {
			if r := rec(c, segs[1:]); r != nil {
				return r
			}
		}
		if c := n.children["{}"]; c != nil {
			if r := rec(c, segs[1:]); r != nil {
				vars[c.varName] = segs[0]
				return r
			}
		}
		return nil
	}
	r := rec(s.root, splitPath(path))
	return r, vars
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// indexLimits are the highest index+1 PVE accepts for pattern-indexed keys
// (qemu-server Drive.pm/Network.pm, pve-container Config.pm). Unknown prefixes
// accept 0..255.
var indexLimits = map[string]int{
	"net": 32, "scsi": 31, "virtio": 16, "sata": 6, "ide": 4, "ipconfig": 32,
	"usb": 14, "serial": 4, "parallel": 3, "hostpci": 16, "numa": 8, "virtiofs": 10,
	"unused": 256, "mp": 256, "dev": 256,
}

var indexedKeyRE = regexp.MustCompile(`^([a-z]+)(\d+)$`)

// lookupProp finds the schema property for a parameter name, resolving
// pattern-indexed names such as net0 → net[n].
func (mi *methodInfo) lookupProp(name string) *prop {
	if p := mi.Parameters.Properties[name]; p != nil {
		return p
	}
	return lookupIndexed(mi.indexed, name)
}

func lookupIndexed(idx map[string]*prop, name string) *prop {
	m := indexedKeyRE.FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	p := idx[m[1]]
	if p == nil {
		return nil
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || (len(m[2]) > 1 && m[2][0] == '0') {
		return nil
	}
	limit := 256
	if l, ok := indexLimits[m[1]]; ok {
		limit = l
	}
	if n >= limit {
		return nil
	}
	return p
}

// returnProp finds the schema type of a returned config key.
func (mi *methodInfo) returnProp(key string) *prop {
	if p := mi.retProps[key]; p != nil {
		return p
	}
	return lookupIndexed(mi.retIdx, key)
}

// validate checks params against the method's schema the way
// PVE::JSONSchema::validate does and returns the per-parameter errors
// (empty when valid). Texts follow pve-common src/PVE/JSONSchema.pm.
func (mi *methodInfo) validate(in map[string]string) map[string]string {
	errs := map[string]string{}
	for k, v := range in {
		p := mi.lookupProp(k)
		if p == nil {
			if !bool(mi.Parameters.AdditionalProperties) {
				errs[k] = "property is not defined in schema and the schema does not allow additional properties"
			}
			continue
		}
		if msg := checkValue(k, p, v); msg != "" {
			errs[k] = msg
		}
	}
	for k, p := range mi.Parameters.Properties {
		if strings.HasSuffix(k, "[n]") || bool(p.Optional) || p.Alias != "" {
			continue
		}
		if _, ok := in[k]; !ok {
			errs[k] = "property is missing and it is not optional"
		}
	}
	return errs
}

// checkValue validates one scalar value (JSONSchema.pm check_prop).
func checkValue(path string, p *prop, v string) string {
	switch p.Type {
	case "boolean":
		if v != "0" && v != "1" {
			return fmt.Sprintf("type check ('boolean') failed - got '%s'", v)
		}
	case "integer":
		if !isInteger(v) {
			return fmt.Sprintf("type check ('integer') failed - got '%s'", v)
		}
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Sprintf("type check ('number') failed - got '%s'", v)
		}
	}
	if p.formatDict != nil {
		if msg := checkPropertyString(path, p.formatDict, v); msg != "" {
			return "invalid format - " + msg
		}
	} else if p.formatName != "" {
		if msg := checkNamedFormat(p.formatName, v); msg != "" {
			return "invalid format - " + msg
		}
	}
	if p.MaxLength.set && float64(len(v)) > p.MaxLength.v {
		return fmt.Sprintf("value may only be %d characters long", int(p.MaxLength.v))
	}
	if p.MinLength.set && float64(len(v)) < p.MinLength.v {
		return fmt.Sprintf("value must be at least %d characters long", int(p.MinLength.v))
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && (p.Type == "integer" || p.Type == "number") {
		if p.Maximum.set && f > p.Maximum.v {
			return "value must have a maximum value of " + trimFloat(p.Maximum.v)
		}
		if p.Minimum.set && f < p.Minimum.v {
			return "value must have a minimum value of " + trimFloat(p.Minimum.v)
		}
	}
	if len(p.Enum) > 0 {
		found := false
		for _, e := range p.Enum {
			if e == v {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", v, strings.Join(p.Enum, ", "))
		}
	}
	return ""
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

var integerRE = regexp.MustCompile(`^[+-]?\d+$`)

func isInteger(v string) bool { return integerRE.MatchString(v) }

// parseBoolean is JSONSchema.pm parse_boolean.
func parseBoolean(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "1", "on", "yes", "true":
		return "1", true
	case "0", "off", "no", "false":
		return "0", true
	}
	return v, false
}

// parsePropertyString splits "k=v,k2=v2" (with an optional leading default-key
// value) like JSONSchema.pm parse_property_string. It returns the parsed map or
// the die message.
func parsePropertyString(format map[string]*prop, data string) (map[string]string, []string, string) {
	res := map[string]string{}
	var order []string
	defaultKey := ""
	for _, part := range strings.Split(data, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if k, v, ok := strings.Cut(part, "="); ok && k != "" && v != "" {
			if _, dup := res[k]; dup {
				return nil, nil, "duplicate key in comma-separated list property: " + k
			}
			sp := format[k]
			if sp != nil && sp.Alias != "" {
				// e.g. qemu net "virtio=MAC": model=virtio, macaddr=MAC.
				if ka := sp.KeyAlias; ka != "" {
					if _, dup := res[ka]; dup {
						return nil, nil, "key alias '" + ka + "' is already defined"
					}
					res[ka] = k
					order = append(order, ka)
				}
				k = sp.Alias
				sp = format[k]
				if _, dup := res[k]; dup {
					return nil, nil, "key '" + k + "' is already defined (via alias)"
				}
			}
			if sp == nil {
				return nil, nil, "invalid key in comma-separated list property: " + k
			}
			if sp.Type == "boolean" {
				v, _ = parseBoolean(v)
			}
			res[k] = v
			order = append(order, k)
			continue
		}
		if strings.Contains(part, "=") {
			return nil, nil, "missing key in comma-separated list property"
		}
		if defaultKey != "" {
			return nil, nil, "duplicate key in comma-separated list property: " + defaultKey
		}
		keys := slices.Sorted(maps.Keys(format))
		for _, k := range keys {
			if bool(format[k].DefaultKey) {
				defaultKey = k
				break
			}
		}
		if defaultKey == "" {
			return nil, nil, "value without key, but schema does not define a default key"
		}
		if _, dup := res[defaultKey]; dup {
			return nil, nil, "duplicate key in comma-separated list property: " + defaultKey
		}
		if format[defaultKey].Type == "boolean" {
			part, _ = parseBoolean(part)
		}
		res[defaultKey] = part
		order = append([]string{defaultKey}, order...)
	}
	return res, order, ""
}

func checkPropertyString(path string, format map[string]*prop, data string) string {
	res, _, msg := parsePropertyString(format, data)
	if msg != "" {
		return msg + "\n"
	}
	var lines []string
	for k, v := range res {
		if m := checkValue(path+"."+k, format[k], v); m != "" {
			lines = append(lines, path+"."+k+": "+m)
		}
	}
	for k, sp := range format {
		if _, ok := res[k]; !ok && !bool(sp.Optional) && sp.Alias == "" {
			lines = append(lines, path+"."+k+": property is missing and it is not optional")
		}
	}
	if len(lines) == 0 {
		return ""
	}
	sort.Strings(lines)
	return "format error\n" + strings.Join(lines, "\n") + "\n"
}

var (
	dnsNameRE  = regexp.MustCompile(`^(([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`)
	nodeNameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`)
	vmidRE     = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)
	configIDRE = regexp.MustCompile(`^[a-z][a-z0-9_-]+$`)
	urlencRE   = regexp.MustCompile(`^[-%a-zA-Z0-9_.!~*'()]*$`)
	macRE      = regexp.MustCompile(`^[a-fA-F0-9][02468aAcCeE](:[a-fA-F0-9]{2}){5}$`)
	sizeRE     = regexp.MustCompile(`^(\d+(\.\d+)?)([KMGT](?:iB)?)?$`)
	storeIDRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]$`)
)

// namedFormats are the registered formats the simulator checks
// (JSONSchema.pm pve_verify_*), with PVE's message for a value that fails;
// where the message has %s, PVE names the value there.
var namedFormats = map[string]struct {
	re  *regexp.Regexp
	msg string
}{
	"pve-vmid":       {vmidRE, "value does not look like a valid VM ID\n"},
	"pve-node":       {nodeNameRE, "value does not look like a valid node name\n"},
	"dns-name":       {dnsNameRE, "value does not look like a valid DNS name\n"},
	"pve-configid":   {configIDRE, "invalid configuration ID '%s'\n"},
	"urlencoded":     {urlencRE, "invalid urlencoded string: %s\n"},
	"mac-addr":       {macRE, "value does not look like a valid unicast MAC address\n"},
	"disk-size":      {sizeRE, "value does not look like a valid disk size: %s\n"},
	"pve-storage-id": {storeIDRE, "storage ID '%s' contains illegal characters\n"},
}

// checkNamedFormat validates the named formats in namedFormats (and their
// -list variants); other named formats are accepted as-is.
func checkNamedFormat(name, v string) string {
	list := strings.HasSuffix(name, "-list")
	f, ok := namedFormats[strings.TrimSuffix(name, "-list")]
	check := func(x string) string {
		switch {
		case !ok || f.re.MatchString(x):
			return ""
		case strings.Contains(f.msg, "%s"):
			return fmt.Sprintf(f.msg, x)
		}
		return f.msg
	}
	if !list {
		return check(v)
	}
	for _, x := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\x00' }) {
		if m := check(x); m != "" {
			return m
		}
	}
	return ""
}
