package freeipa

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// sorted returns a sorted, lower-cased copy, never nil.
func sorted(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		out = append(out, strings.ToLower(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func without(l []string, x string) []string {
	return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return strings.EqualFold(s, x) })
}

// stripRealm turns "HTTP/web1.example.test@REALM" into "HTTP/web1.example.test".
func stripRealm(p string) string {
	if i := strings.LastIndex(p, "@"); i >= 0 {
		return p[:i]
	}
	return p
}

// valueKind says how a spec field is compared with its entry attribute.
type valueKind int

const (
	// text is a single string.
	text valueKind = iota
	// names are FreeIPA object names, which FreeIPA compares without case:
	// a sorted set of lower-cased names.
	names
	// exact are case-sensitive strings (sudo command paths, sudo
	// options): a sorted set.
	exact
	// category is a bool in the spec and "all" or unset in FreeIPA
	// (hostcategory, usercategory, cmdcategory); absent means false.
	category
)

// norm is the comparable form of a spec value of the kind.
func (k valueKind) norm(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		if k == names {
			s = strings.ToLower(s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// read is the comparable form of the entry attribute ldap.
func (k valueKind) read(e entry, ldap string) any {
	switch k {
	case names:
		return sorted(e.strs(ldap))
	case exact:
		l := slices.Clone(e.strs(ldap))
		slices.Sort(l)
		return append([]string{}, slices.Compact(l)...)
	case category:
		return e.str(ldap) == "all"
	}
	return e.str(ldap)
}

// attr is a spec field kept in one attribute of the FreeIPA entry and set
// with *_mod: the option has the attribute's name (freeipa-API.txt, e.g.
// host_mod option Str('l?') for locality).
type attr struct {
	field string // the spec's JSON field
	ldap  string // the entry attribute (*_find --all) and the *_mod option
	kind  valueKind
}

// addOption is a create-only spec field, passed as is as an option of
// *_add (freeipa-API.txt: host_add ip_address and force, group_add
// nonposix); option "" is a field *_add does not take.
type addOption struct {
	field, option string
}

// memberField is a membership changed with member commands.
type memberField struct {
	field string
	ldap  string // the entry attribute listing the members: member_host, memberof_hostgroup, ...
	kind  valueKind
	// what names the members in messages ("host", "user group").
	what string
	// ref is the kind a member must exist as (for Observe's checks); ""
	// for none.
	ref string
	// apply adds and removes members of the object key.
	apply func(ctx context.Context, b *Backend, key string, add, remove []string) error
}

// kindDef describes one kind to the generic observe/diff/apply code.
type kindDef struct {
	kind string
	obj  string // FreeIPA object: host, hostgroup, ...
	// keyField is the spec field holding the object's primary key (fqdn,
	// principal, uid, name), keyAttr the entry attribute holding it.
	keyField, keyAttr string
	attrs             []attr
	members           []memberField
	// createOnly are spec fields set on create only; a create's After view
	// shows those that are set.
	createOnly []addOption
	// wantMore and haveMore adjust the managed and the live state where a
	// kind differs from the attribute tables; nil for most kinds.
	wantMore func(spec, want map[string]any)
	haveMore func(e entry, have map[string]any)
	// addMore adds create-only options of *_add that are not a spec
	// field's value; nil for most kinds.
	addMore func(spec, opts map[string]any)
	// after runs after every other step of a create or update (sudo rule
	// enable/disable); nil for most kinds.
	after func(ctx context.Context, b *Backend, key string, before, want map[string]any) error
}

// fields is a spec as a JSON object: its set fields by their JSON names.
func fields(s steps.Spec) map[string]any {
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("freeipa: spec %T does not encode: %v", s, err)) // specs are plain structs
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("freeipa: spec %T is not a JSON object: %v", s, err))
	}
	return m
}

// key is the object's primary key in a spec.
func (kd *kindDef) key(s steps.Spec) string {
	k, _ := fields(s)[kd.keyField].(string)
	return k
}

// entryKey is the primary key of a found entry, in the spec's form.
func (kd *kindDef) entryKey(e entry) string {
	k := e.str(kd.keyAttr)
	if kd.kind == KindService {
		if k == "" {
			k = e.str("krbprincipalname")
		}
		k = stripRealm(k)
	}
	return normKey(kd.kind, k)
}

// want is the managed state of a spec, in spec field names; absent
// optional fields are left out (an absent category is false).
func (kd *kindDef) want(s steps.Spec) map[string]any {
	f := fields(s)
	m := map[string]any{}
	put := func(field string, k valueKind) {
		if v, ok := f[field]; ok {
			m[field] = k.norm(v)
		} else if k == category {
			m[field] = false
		}
	}
	for _, a := range kd.attrs {
		put(a.field, a.kind)
	}
	for _, mf := range kd.members {
		put(mf.field, mf.kind)
	}
	if kd.wantMore != nil {
		kd.wantMore(f, m)
	}
	return m
}

// view is a create's After: want plus the key and the create-only fields
// that are set.
func (kd *kindDef) view(s steps.Spec) map[string]any {
	f := fields(s)
	m := kd.want(s)
	m[kd.keyField] = f[kd.keyField]
	for _, c := range kd.createOnly {
		if v, ok := f[c.field]; ok {
			m[c.field] = v
		}
	}
	return m
}

// addOpts are the create-only options of *_add.
func (kd *kindDef) addOpts(s steps.Spec) map[string]any {
	f := fields(s)
	opts := map[string]any{}
	for _, c := range kd.createOnly {
		if v, ok := f[c.field]; ok && c.option != "" {
			opts[c.option] = v
		}
	}
	if kd.addMore != nil {
		kd.addMore(f, opts)
	}
	return opts
}

// have is the live state of an entry, in spec field names.
func (kd *kindDef) have(e entry) map[string]any {
	m := map[string]any{}
	for _, a := range kd.attrs {
		m[a.field] = a.kind.read(e, a.ldap)
	}
	for _, mf := range kd.members {
		m[mf.field] = mf.kind.read(e, mf.ldap)
	}
	if kd.haveMore != nil {
		kd.haveMore(e, m)
	}
	return m
}

var kindDefs = map[string]*kindDef{}

func init() {
	for _, k := range []*kindDef{hostKind(), hostGroupKind(), serviceKind(), userKind(), groupKind(), sudoRuleKind()} {
		kindDefs[k.kind] = k
	}
}

// notManagingItself drops the object's own host from managedBy: a host
// always manages itself (host.py pre_callback), a service is managed by
// its host (service.py).
func notManagingItself(host string, have map[string]any) {
	l, _ := have["managedBy"].([]string)
	have["managedBy"] = without(l, host)
}

func hostKind() *kindDef {
	return &kindDef{
		kind: KindHost, obj: "host", keyField: "fqdn", keyAttr: "fqdn",
		attrs: []attr{{"description", "description", text}, {"locality", "l", text}, {"location", "nshostlocation", text}},
		members: []memberField{
			{field: "managedBy", ldap: "managedby_host", kind: names, what: "managing host", ref: "host", apply: memberCmds("host_add_managedby", "host_remove_managedby", "host")},
			{field: "hostGroups", ldap: "memberof_hostgroup", kind: names, what: "host group", ref: "hostgroup", apply: func(ctx context.Context, b *Backend, fqdn string, add, remove []string) error {
				// The membership lives on the group.
				for _, g := range remove {
					if err := b.members(ctx, "hostgroup_remove_member", g, "host", []string{fqdn}); err != nil {
						return err
					}
				}
				for _, g := range add {
					if err := b.members(ctx, "hostgroup_add_member", g, "host", []string{fqdn}); err != nil {
						return fmt.Errorf("add to host group %s: %w", g, err)
					}
				}
				return nil
			}},
		},
		createOnly: []addOption{{"ipAddress", "ip_address"}, {"force", "force"}, {"deleteEnrolled", ""}},
		haveMore:   func(e entry, have map[string]any) { notManagingItself(strings.ToLower(e.str("fqdn")), have) },
		addMore: func(spec, opts map[string]any) {
			// oneTimePassword defaults to true: host_add --random.
			if otp, ok := spec["oneTimePassword"].(bool); otp || !ok {
				opts["random"] = true
			}
		},
	}
}

// memberGroupKind is a group-like kind: keyed by name (cn), with a
// description, whose members of each listed kind are added and removed with
// <obj>_add_member and <obj>_remove_member (host groups and user groups).
func memberGroupKind(kind, obj string, members ...memberField) *kindDef {
	for i := range members {
		members[i].kind = names
		members[i].apply = memberCmds(obj+"_add_member", obj+"_remove_member", members[i].ref)
	}
	return &kindDef{
		kind: kind, obj: obj, keyField: "name", keyAttr: "cn",
		attrs:   []attr{{"description", "description", text}},
		members: members,
	}
}

func hostGroupKind() *kindDef {
	return memberGroupKind(KindHostGroup, "hostgroup",
		memberField{field: "hosts", ldap: "member_host", what: "host", ref: "host"},
		memberField{field: "hostGroups", ldap: "member_hostgroup", what: "host group", ref: "hostgroup"})
}

func serviceKind() *kindDef {
	return &kindDef{
		kind: KindService, obj: "service", keyField: "principal", keyAttr: "krbcanonicalname",
		members: []memberField{
			{field: "managedBy", ldap: "managedby_host", kind: names, what: "managing host", ref: "host", apply: memberCmds("service_add_host", "service_remove_host", "host")},
		},
		createOnly: []addOption{{"force", "force"}},
		haveMore: func(e entry, have map[string]any) {
			_, host, _ := strings.Cut(stripRealm(e.str("krbcanonicalname")), "/")
			notManagingItself(host, have)
		},
	}
}

func userKind() *kindDef {
	return &kindDef{
		kind: KindUser, obj: "user", keyField: "uid", keyAttr: "uid",
		attrs: []attr{{"firstName", "givenname", text}, {"lastName", "sn", text}, {"email", "mail", names},
			{"loginShell", "loginshell", text}, {"title", "title", text}},
	}
}

func groupKind() *kindDef {
	k := memberGroupKind(KindGroup, "group",
		memberField{field: "users", ldap: "member_user", what: "user", ref: "user"},
		memberField{field: "groups", ldap: "member_group", what: "group", ref: "group"})
	k.createOnly = []addOption{{"nonPosix", "nonposix"}}
	return k
}

func sudoRuleKind() *kindDef {
	return &kindDef{
		kind: KindSudoRule, obj: "sudorule", keyField: "name", keyAttr: "cn",
		attrs: []attr{{"description", "description", text},
			{"allHosts", "hostcategory", category}, {"allUsers", "usercategory", category}, {"allCommands", "cmdcategory", category}},
		members: []memberField{
			{field: "hosts", ldap: "memberhost_host", kind: names, what: "host", ref: "host", apply: memberCmds("sudorule_add_host", "sudorule_remove_host", "host")},
			{field: "hostGroups", ldap: "memberhost_hostgroup", kind: names, what: "host group", ref: "hostgroup", apply: memberCmds("sudorule_add_host", "sudorule_remove_host", "hostgroup")},
			{field: "users", ldap: "memberuser_user", kind: names, what: "user", ref: "user", apply: memberCmds("sudorule_add_user", "sudorule_remove_user", "user")},
			{field: "groups", ldap: "memberuser_group", kind: names, what: "group", ref: "group", apply: memberCmds("sudorule_add_user", "sudorule_remove_user", "group")},
			{field: "options", ldap: "ipasudoopt", kind: exact, what: "sudo option", apply: sudoOptions},
			// sudo command names are case-sensitive paths: not lower-cased.
			{field: "commands", ldap: "memberallowcmd_sudocmd", kind: exact, what: "command", apply: func(ctx context.Context, b *Backend, rule string, add, remove []string) error {
				for _, c := range add {
					// A sudo rule refers to sudo command entries; create missing ones.
					_, err := b.call(ctx, "sudocmd_add", []any{c}, map[string]any{"description": "created by gitops-runner"})
					if err != nil && !isCode(err, DuplicateEntry) {
						return fmt.Errorf("create sudo command %s: %w", c, err)
					}
				}
				return memberCmds("sudorule_add_allow_command", "sudorule_remove_allow_command", "sudocmd")(ctx, b, rule, add, remove)
			}},
		},
		wantMore: func(spec, m map[string]any) {
			enabled, ok := spec["enabled"].(bool)
			m["enabled"] = enabled || !ok
			// A category 'all' means no members of that kind: FreeIPA
			// refuses the category while there are any (sudorule_mod
			// pre_callback), so they are removed first (update's order).
			none := []string{}
			if m["allHosts"] == true {
				m["hosts"], m["hostGroups"] = none, none
			}
			if m["allUsers"] == true {
				m["users"], m["groups"] = none, none
			}
			if m["allCommands"] == true {
				m["commands"] = none
			}
		},
		haveMore: func(e entry, have map[string]any) {
			enabled, ok := e.boolean("ipaenabledflag")
			have["enabled"] = enabled || !ok
		},
		after: func(ctx context.Context, b *Backend, rule string, before, want map[string]any) error {
			on, _ := want["enabled"].(bool)
			was, known := before["enabled"].(bool)
			if known && was == on {
				return nil
			}
			if !known && on {
				return nil // a new rule is enabled
			}
			cmd := "sudorule_disable"
			if on {
				cmd = "sudorule_enable"
			}
			_, err := b.call(ctx, cmd, []any{rule}, nil)
			return err
		},
	}
}

// sudoOptions removes and adds sudo options of rule with
// sudorule_remove_option and sudorule_add_option (freeipa-API.txt: option
// Str('ipasudoopt+'), all values in one call).
func sudoOptions(ctx context.Context, b *Backend, rule string, add, remove []string) error {
	if len(remove) > 0 {
		if _, err := b.call(ctx, "sudorule_remove_option", []any{rule}, map[string]any{"ipasudoopt": remove}); err != nil {
			return err
		}
	}
	if len(add) > 0 {
		if _, err := b.call(ctx, "sudorule_add_option", []any{rule}, map[string]any{"ipasudoopt": add}); err != nil {
			return err
		}
	}
	return nil
}
