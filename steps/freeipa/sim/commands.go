package sim

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// call is one command execution with its bound, converted params. It runs
// with Server.mu held.
type call struct {
	s           *Server
	name        string
	p           map[string]any
	clientMinor int
	msgs        []any
	invCache    map[string][]string
}

type handler func(c *call) (map[string]any, *Error)

func (c *call) has(n string) bool { _, ok := c.p[n]; return ok }

func (c *call) str(n string) string {
	s, _ := c.p[n].(string)
	return s
}

func (c *call) strs(n string) []string {
	switch v := c.p[n].(type) {
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

func (c *call) flag(n string) bool {
	b, _ := c.p[n].(bool)
	return b
}

func (c *call) inv() map[string][]string {
	if c.invCache == nil {
		c.invCache = c.s.st.inverse()
	}
	return c.invCache
}

// value is pkey_to_value: clients older than API 2.83 (capability
// primary_key_types) get a comma-joined string instead of a list.
func (c *call) value(keys []string) any {
	if c.clientMinor >= 83 {
		return keys
	}
	return strings.Join(keys, ",")
}

// storedPassword stands for a userPassword value. The simulator never
// checks one-time or admin-set passwords, so it keeps none: snapshots and
// state carry no secrets.
const storedPassword = "{PBKDF2_SHA256}simulated" //nolint:gosec // a placeholder, not a credential

// controlOpts are options that are not LDAP attributes.
var controlOpts = map[string]bool{
	"all": true, "raw": true, "rights": true, "no_members": true, "version": true, "setattr": true,
	"addattr": true, "delattr": true, "force": true, "no_reverse": true, "ip_address": true, "random": true,
	"updatedns": true, "rename": true, "continue": true, "skip_host_check": true, "noprivate": true,
	"preserve": true, "out": true, "pkey_only": true, "sizelimit": true, "timelimit": true, "criteria": true,
	"posix": true, "nonposix": true, "external": true, "private": true, "userpassword": true, "hostmask": true,
}

// handlers maps command names (without "/1") to their simulation.
var handlers = map[string]handler{}

// memberCmd describes an *_add_member-like command.
type memberCmd struct {
	kind, attr string
	add        bool
	external   string // sudorule: unknown names go here (add_external_post_callback)
	category   string // sudorule: refused when this category is 'all'
	what       string // for the category error: users/hosts/commands
}

func init() {
	for _, k := range kindOrder {
		kd := kinds[k]
		handlers[k+"_add"] = func(c *call) (map[string]any, *Error) { return c.add(kd) }
		handlers[k+"_show"] = func(c *call) (map[string]any, *Error) { return c.show(kd) }
		handlers[k+"_find"] = func(c *call) (map[string]any, *Error) { return c.find(kd) }
		handlers[k+"_mod"] = func(c *call) (map[string]any, *Error) { return c.mod(kd) }
		handlers[k+"_del"] = func(c *call) (map[string]any, *Error) { return c.del(kd) }
	}
	members := map[string]memberCmd{
		"hostgroup_add_member":          {kind: "hostgroup", attr: "member", add: true},
		"hostgroup_remove_member":       {kind: "hostgroup", attr: "member"},
		"group_add_member":              {kind: "group", attr: "member", add: true},
		"group_remove_member":           {kind: "group", attr: "member"},
		"host_add_managedby":            {kind: "host", attr: "managedby", add: true},
		"host_remove_managedby":         {kind: "host", attr: "managedby"},
		"service_add_host":              {kind: "service", attr: "managedby", add: true},
		"service_remove_host":           {kind: "service", attr: "managedby"},
		"sudorule_add_host":             {kind: "sudorule", attr: "memberhost", add: true, external: "externalhost", category: "hostcategory", what: "hosts cannot be added when host category='all'"},
		"sudorule_remove_host":          {kind: "sudorule", attr: "memberhost", external: "externalhost"},
		"sudorule_add_user":             {kind: "sudorule", attr: "memberuser", add: true, external: "externaluser", category: "usercategory", what: "users cannot be added when user category='all'"},
		"sudorule_remove_user":          {kind: "sudorule", attr: "memberuser", external: "externaluser"},
		"sudorule_add_allow_command":    {kind: "sudorule", attr: "memberallowcmd", add: true, category: "cmdcategory", what: "commands cannot be added when command category='all'"},
		"sudorule_remove_allow_command": {kind: "sudorule", attr: "memberallowcmd"},
		"sudorule_add_deny_command":     {kind: "sudorule", attr: "memberdenycmd", add: true},
		"sudorule_remove_deny_command":  {kind: "sudorule", attr: "memberdenycmd"},
	}
	for name, m := range members {
		handlers[name] = func(c *call) (map[string]any, *Error) { return c.member(m) }
	}
	handlers["sudorule_add_option"] = func(c *call) (map[string]any, *Error) { return c.sudoOption(true) }
	handlers["sudorule_remove_option"] = func(c *call) (map[string]any, *Error) { return c.sudoOption(false) }
	handlers["sudorule_enable"] = func(c *call) (map[string]any, *Error) { return c.enable(true) }
	handlers["sudorule_disable"] = func(c *call) (map[string]any, *Error) { return c.enable(false) }
	handlers["config_show"] = func(c *call) (map[string]any, *Error) { return c.configShow(), nil }
	handlers["ping"] = func(*call) (map[string]any, *Error) {
		return map[string]any{"summary": "IPA server version " + ServerVersion + ". API version " + APIVersion}, nil
	}
}

// The ipaconfig defaults user_add fills in (ipa-server-install's
// ipaConfig entry: ipaDefaultLoginShell, ipaHomesRootDir); the default
// e-mail domain is the server's domain.
const (
	DefaultLoginShell = "/bin/sh"
	HomesRootDir      = "/home"
)

// configShow is config_show (ipaserver/plugins/config.py): the global
// configuration, as much of it as the simulator models.
func (c *call) configShow() map[string]any {
	return map[string]any{"result": map[string]any{
		"cn":                    []string{"ipaConfig"},
		"ipadefaultloginshell":  []string{DefaultLoginShell},
		"ipahomesrootdir":       []string{HomesRootDir},
		"ipadefaultemaildomain": []string{c.s.opts.Domain},
		"ipasearchrecordslimit": []string{strconv.Itoa(c.s.opts.SearchLimit)},
	}, "value": "", "summary": nil}
}

// normKey normalizes a primary key as the kind's param normalizer does.
func (c *call) normKey(k *kindDef, v string) (string, *Error) {
	switch k.name {
	case "host":
		h := strings.ToLower(strings.TrimSuffix(v, "."))
		return h, nil
	case "hostgroup", "group", "user":
		return strings.ToLower(v), nil
	case "service":
		return c.s.principal(v)
	}
	return v, nil
}

// principal normalizes "svc/host[@REALM]" to "svc/host@REALM"
// (service.py normalize_principal, validate_realm).
func (s *Server) principal(v string) (string, *Error) {
	name, realm, hasRealm := strings.Cut(v, "@")
	if hasRealm && realm != s.opts.Realm {
		return "", errRealmMismatch()
	}
	svc, host, ok := strings.Cut(name, "/")
	if !ok || svc == "" || host == "" {
		return "", errValidation("principal", "Malformed principal")
	}
	return svc + "/" + strings.ToLower(host) + "@" + s.opts.Realm, nil
}

// lookup finds an entry, for hosts also by short name (host.get_dn falls
// back to serverhostname).
func (c *call) lookup(k *kindDef, raw string) (*entry, string, *Error) {
	key, err := c.normKey(k, raw)
	if err != nil {
		return nil, "", err
	}
	if e := c.s.st.get(k.name, key); e != nil {
		return e, key, nil
	}
	if k.name == "host" && !strings.Contains(key, ".") {
		for _, e := range c.s.st.sorted("host") {
			if first(e.Attrs["serverhostname"]) == key {
				return e, key, nil
			}
		}
	}
	return nil, key, errNoEntry(key, k.oname)
}

func (s *Server) baseDN() string {
	parts := strings.Split(s.opts.Domain, ".")
	for i, p := range parts {
		parts[i] = "dc=" + p
	}
	return strings.Join(parts, ",")
}

func (s *Server) dn(e *entry) string {
	k := kinds[e.Kind]
	rdn := first(e.Attrs[k.rdn])
	name := k.rdn
	if name == "ipauniqueid" {
		name = "ipaUniqueID"
	}
	return fmt.Sprintf("%s=%s,%s,%s", name, rdn, k.container, s.baseDN())
}

// view selects what render puts into an entry.
type view struct {
	all, noMembers, pkeyOnly, find bool
}

func (c *call) view(find bool) view {
	v := view{all: c.flag("all"), noMembers: c.flag("no_members"), pkeyOnly: c.flag("pkey_only"), find: find}
	if find && !v.all {
		// no_members defaults to True for *_find (LDAPSearch.get_options);
		// with all=True, '*' brings the member attributes back anyway.
		v.noMembers = true
		if nm, ok := c.p["no_members"].(bool); ok && !nm {
			v.noMembers = false
		}
	}
	return v
}

// render is entry_to_dict + convert_attribute_members + get_indirect_members
// + the kind's post_callback, as JSON values.
func (c *call) render(e *entry, v view) map[string]any {
	k := kinds[e.Kind]
	out := map[string]any{}
	if v.pkeyOnly {
		out[k.pkey] = []string{e.pkey()}
		out["dn"] = c.s.dn(e)
		return out
	}
	for attr, vals := range e.Attrs {
		if hiddenAttrs[attr] || k.memberAttrs[attr] != nil || len(vals) == 0 {
			continue
		}
		if !v.all && !slices.Contains(k.defaultAttrs, attr) {
			continue
		}
		if dateAttrs[attr] {
			// ipalib/rpc.py json_encode_binary: datetimes as {"__datetime__": ...}.
			ds := make([]any, len(vals))
			for i, x := range vals {
				ds[i] = map[string]any{"__datetime__": x}
			}
			out[attr] = ds
			continue
		}
		if boolAttrs[attr] {
			bs := make([]bool, len(vals))
			for i, x := range vals {
				bs[i] = strings.EqualFold(x, "TRUE")
			}
			out[attr] = bs
			continue
		}
		out[attr] = slices.Clone(vals)
	}
	if !v.noMembers {
		c.renderMembers(e, out)
	}
	if !v.find {
		hasPw, hasKey := len(e.Attrs["userpassword"]) > 0, len(e.Attrs["krbprincipalkey"]) > 0
		switch e.Kind {
		case "host":
			// host.py post_callbacks: with an OTP set there is no keytab.
			out["has_password"], out["has_keytab"] = hasPw, hasKey && !hasPw
		case "user":
			out["has_password"], out["has_keytab"] = hasPw, hasKey
		case "service":
			out["has_keytab"] = hasKey
		}
	}
	if fps := sshFingerprints(e.Attrs["ipasshpubkey"]); len(fps) > 0 && (e.Kind == "host" || e.Kind == "user") {
		// host.py and user.py post_callbacks: convert_sshpubkey_post adds
		// sshpubkeyfp whenever the entry has keys.
		out["sshpubkeyfp"] = fps
	}
	if e.Kind == "user" {
		if b, ok := out["nsaccountlock"].([]bool); ok && len(b) == 1 {
			out["nsaccountlock"] = b[0] // baseuser.convert_nsaccountlock: a single bool
		}
	}
	out["dn"] = c.s.dn(e)
	return out
}

func (c *call) renderMembers(e *entry, out map[string]any) {
	k := kinds[e.Kind]
	added := map[string]bool{}
	add := func(attr, ref string) {
		kind, pkey := splitRef(ref)
		name := attr + "_" + kind
		l, _ := out[name].([]string)
		out[name] = append(l, pkey)
		added[name] = true
	}
	for attr := range k.memberAttrs {
		for _, r := range e.Attrs[attr] {
			add(attr, r)
		}
	}
	inv := c.inv()
	parents := inv[strings.ToLower(e.ref())]
	for _, r := range parents {
		add("memberof", r)
	}
	all := closure(parents, func(r string) []string { return inv[strings.ToLower(r)] })
	for _, r := range all {
		if !containsFold(parents, r) {
			add("memberofindirect", r)
		}
	}
	if nestingKinds[e.Kind] {
		direct := e.Attrs["member"]
		all := closure(direct, func(r string) []string {
			kind, pkey := splitRef(r)
			if m := c.s.st.get(kind, pkey); m != nil {
				return m.Attrs["member"]
			}
			return nil
		})
		for _, r := range all {
			if !containsFold(direct, r) {
				add("memberindirect", r)
			}
		}
	}
	for name := range added {
		sort.Strings(out[name].([]string))
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// attrValues turns converted option values into LDAP strings.
func attrValues(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return slices.Clone(x)
	case bool:
		if x {
			return []string{"TRUE"}
		}
		return []string{"FALSE"}
	case int64:
		return []string{strconv.FormatInt(x, 10)}
	}
	return nil
}

// applyAttrOptions copies attribute options into attrs; a present but empty
// option deletes the attribute (LDAPUpdate).
func (c *call) applyAttrOptions(k *kindDef, attrs map[string][]string) {
	for name, v := range c.p {
		if controlOpts[name] || name == k.pkey {
			continue
		}
		if v == nil {
			delete(attrs, name)
			continue
		}
		attrs[name] = attrValues(v)
	}
}

// applyAttrEdits implements setattr/addattr/delattr (process_attr_options).
func (c *call) applyAttrEdits(k *kindDef, attrs map[string][]string) *Error {
	set := map[string][]string{}
	for _, op := range []string{"setattr", "addattr", "delattr"} {
		for _, kv := range c.strs(op) {
			attr, val, ok := strings.Cut(kv, "=")
			attr = strings.ToLower(strings.TrimSpace(attr))
			if !ok || attr == "" {
				return errValidation(op, `Invalid format. Should be name=value`)
			}
			if attr == k.pkey || k.memberAttrs[attr] != nil || attr == "objectclass" || hiddenAttrs[attr] {
				return errValidation(attr, "attribute is not configurable")
			}
			switch op {
			case "setattr":
				if val == "" {
					set[attr] = nil
				} else {
					set[attr] = append(set[attr], val)
				}
				attrs[attr] = set[attr]
			case "addattr":
				if !containsFold(attrs[attr], val) {
					attrs[attr] = append(attrs[attr], val)
				}
			case "delattr":
				if !containsFold(attrs[attr], val) {
					return errAttrValueNotFound(attr, val)
				}
				attrs[attr] = slices.DeleteFunc(attrs[attr], func(x string) bool { return strings.EqualFold(x, val) })
			}
			if len(attrs[attr]) == 0 {
				delete(attrs, attr)
			}
		}
	}
	return nil
}

func (c *call) nextID() string {
	id := 1_000_000_000 + c.s.st.nextID
	c.s.st.nextID++
	return strconv.Itoa(id)
}

// resolvable is util.verify_host_resolvable against the simulator's own
// records and Options.Resolve.
func (c *call) resolvable(fqdn string) bool {
	if len(c.s.st.dns[fqdn]) > 0 {
		return true
	}
	return c.s.opts.Resolve != nil && c.s.opts.Resolve(fqdn)
}

func (c *call) zoneManaged(zone string) bool {
	if c.s.opts.NoIntegratedDNS {
		return false
	}
	return containsFold(c.s.opts.DNSZones, zone)
}
