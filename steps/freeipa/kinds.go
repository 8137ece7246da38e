package freeipa

import (
	"context"
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

// modField is a scalar (or simple list) attribute set with *_mod.
type modField struct {
	field  string
	option string
	// conv turns the field's value into the option's (default: as is).
	conv func(any) any
}

// memberField is a membership changed with member commands.
type memberField struct {
	field string
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
	// key is the object's primary key in a spec.
	key func(steps.Spec) string
	// entryKey is the primary key of a found entry, in the spec's form.
	entryKey func(entry) string
	// want is the managed state of a spec, in spec field names; absent
	// optional fields are left out. view adds create-only fields.
	want func(steps.Spec) map[string]any
	view func(steps.Spec) map[string]any
	// have is the live state of an entry, in spec field names.
	have    func(entry) map[string]any
	mods    []modField
	members []memberField
	// addOpts are the create-only options of *_add.
	addOpts func(steps.Spec) map[string]any
	// after runs after every other step of a create or update (sudo rule
	// enable/disable); nil for most kinds.
	after func(ctx context.Context, b *Backend, key string, before, want map[string]any) error
}

var kindDefs = map[string]*kindDef{}

func init() {
	for _, k := range []*kindDef{hostKind(), hostGroupKind(), serviceKind(), userKind(), groupKind(), sudoRuleKind()} {
		kindDefs[k.kind] = k
	}
}

func optStr(m map[string]any, field string, p *string) {
	if p != nil {
		m[field] = *p
	}
}

func optList(m map[string]any, field string, p *[]string) {
	if p != nil {
		m[field] = sorted(*p)
	}
}

func hostKind() *kindDef {
	return &kindDef{
		kind: KindHost, obj: "host",
		key:      func(s steps.Spec) string { return s.(HostSpec).FQDN },
		entryKey: func(e entry) string { return strings.ToLower(e.str("fqdn")) },
		want: func(sp steps.Spec) map[string]any {
			s := sp.(HostSpec)
			m := map[string]any{}
			optStr(m, "description", s.Description)
			optStr(m, "locality", s.Locality)
			optStr(m, "location", s.Location)
			optList(m, "hostGroups", s.HostGroups)
			optList(m, "managedBy", s.ManagedBy)
			return m
		},
		view: func(sp steps.Spec) map[string]any {
			s := sp.(HostSpec)
			m := map[string]any{"fqdn": s.FQDN, "deleteEnrolled": s.DeleteEnrolled}
			if s.IPAddress != "" {
				m["ipAddress"] = s.IPAddress
			}
			if s.Force {
				m["force"] = true
			}
			return m
		},
		have: func(e entry) map[string]any {
			fqdn := strings.ToLower(e.str("fqdn"))
			return map[string]any{
				"description": e.str("description"),
				"locality":    e.str("l"),
				"location":    e.str("nshostlocation"),
				"hostGroups":  sorted(e.strs("memberof_hostgroup")),
				// A host always manages itself (host.py pre_callback).
				"managedBy": sorted(without(e.strs("managedby_host"), fqdn)),
			}
		},
		mods: []modField{{field: "description", option: "description"}, {field: "locality", option: "l"}, {field: "location", option: "nshostlocation"}},
		members: []memberField{
			{field: "managedBy", what: "managing host", ref: "host", apply: memberCmds("host_add_managedby", "host_remove_managedby", "host")},
			{field: "hostGroups", what: "host group", ref: "hostgroup", apply: func(ctx context.Context, b *Backend, fqdn string, add, remove []string) error {
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
		addOpts: func(sp steps.Spec) map[string]any {
			s := sp.(HostSpec)
			o := map[string]any{}
			if s.IPAddress != "" {
				o["ip_address"] = s.IPAddress
			}
			if s.Force {
				o["force"] = true
			}
			if s.OneTimePassword == nil || *s.OneTimePassword {
				o["random"] = true
			}
			return o
		},
	}
}

func hostGroupKind() *kindDef {
	return &kindDef{
		kind: KindHostGroup, obj: "hostgroup",
		key:      func(s steps.Spec) string { return s.(HostGroupSpec).Name },
		entryKey: func(e entry) string { return strings.ToLower(e.str("cn")) },
		want: func(sp steps.Spec) map[string]any {
			s := sp.(HostGroupSpec)
			m := map[string]any{}
			optStr(m, "description", s.Description)
			optList(m, "hosts", s.Hosts)
			optList(m, "hostGroups", s.HostGroups)
			return m
		},
		view: func(sp steps.Spec) map[string]any { return map[string]any{"name": sp.(HostGroupSpec).Name} },
		have: func(e entry) map[string]any {
			return map[string]any{
				"description": e.str("description"),
				"hosts":       sorted(e.strs("member_host")),
				"hostGroups":  sorted(e.strs("member_hostgroup")),
			}
		},
		mods: []modField{{field: "description", option: "description"}},
		members: []memberField{
			{field: "hosts", what: "host", ref: "host", apply: memberCmds("hostgroup_add_member", "hostgroup_remove_member", "host")},
			{field: "hostGroups", what: "host group", ref: "hostgroup", apply: memberCmds("hostgroup_add_member", "hostgroup_remove_member", "hostgroup")},
		},
	}
}

func serviceKind() *kindDef {
	return &kindDef{
		kind: KindService, obj: "service",
		key: func(s steps.Spec) string { return s.(ServiceSpec).Principal },
		entryKey: func(e entry) string {
			p := e.str("krbcanonicalname")
			if p == "" {
				p = e.str("krbprincipalname")
			}
			svc, host, _ := strings.Cut(stripRealm(p), "/")
			return svc + "/" + strings.ToLower(host)
		},
		want: func(sp steps.Spec) map[string]any {
			m := map[string]any{}
			optList(m, "managedBy", sp.(ServiceSpec).ManagedBy)
			return m
		},
		view: func(sp steps.Spec) map[string]any {
			s := sp.(ServiceSpec)
			m := map[string]any{"principal": s.Principal}
			if s.Force {
				m["force"] = true
			}
			return m
		},
		have: func(e entry) map[string]any {
			p := stripRealm(e.str("krbcanonicalname"))
			_, host, _ := strings.Cut(p, "/")
			return map[string]any{"managedBy": sorted(without(e.strs("managedby_host"), host))}
		},
		members: []memberField{
			{field: "managedBy", what: "managing host", ref: "host", apply: memberCmds("service_add_host", "service_remove_host", "host")},
		},
		addOpts: func(sp steps.Spec) map[string]any {
			if sp.(ServiceSpec).Force {
				return map[string]any{"force": true}
			}
			return nil
		},
	}
}

func userKind() *kindDef {
	return &kindDef{
		kind: KindUser, obj: "user",
		key:      func(s steps.Spec) string { return s.(UserSpec).UID },
		entryKey: func(e entry) string { return strings.ToLower(e.str("uid")) },
		want: func(sp steps.Spec) map[string]any {
			s := sp.(UserSpec)
			m := map[string]any{"firstName": s.FirstName, "lastName": s.LastName}
			optList(m, "email", s.Email)
			optStr(m, "loginShell", s.LoginShell)
			optStr(m, "title", s.Title)
			return m
		},
		view: func(sp steps.Spec) map[string]any { return map[string]any{"uid": sp.(UserSpec).UID} },
		have: func(e entry) map[string]any {
			return map[string]any{
				"firstName":  e.str("givenname"),
				"lastName":   e.str("sn"),
				"email":      sorted(e.strs("mail")),
				"loginShell": e.str("loginshell"),
				"title":      e.str("title"),
			}
		},
		mods: []modField{{field: "firstName", option: "givenname"}, {field: "lastName", option: "sn"},
			{field: "email", option: "mail"}, {field: "loginShell", option: "loginshell"}, {field: "title", option: "title"}},
	}
}

func groupKind() *kindDef {
	return &kindDef{
		kind: KindGroup, obj: "group",
		key:      func(s steps.Spec) string { return s.(GroupSpec).Name },
		entryKey: func(e entry) string { return strings.ToLower(e.str("cn")) },
		want: func(sp steps.Spec) map[string]any {
			s := sp.(GroupSpec)
			m := map[string]any{}
			optStr(m, "description", s.Description)
			optList(m, "users", s.Users)
			optList(m, "groups", s.Groups)
			return m
		},
		view: func(sp steps.Spec) map[string]any {
			s := sp.(GroupSpec)
			m := map[string]any{"name": s.Name}
			if s.NonPosix {
				m["nonPosix"] = true
			}
			return m
		},
		have: func(e entry) map[string]any {
			return map[string]any{
				"description": e.str("description"),
				"users":       sorted(e.strs("member_user")),
				"groups":      sorted(e.strs("member_group")),
			}
		},
		mods: []modField{{field: "description", option: "description"}},
		members: []memberField{
			{field: "users", what: "user", ref: "user", apply: memberCmds("group_add_member", "group_remove_member", "user")},
			{field: "groups", what: "group", ref: "group", apply: memberCmds("group_add_member", "group_remove_member", "group")},
		},
		addOpts: func(sp steps.Spec) map[string]any {
			if sp.(GroupSpec).NonPosix {
				return map[string]any{"nonposix": true}
			}
			return nil
		},
	}
}

func category(v any) any {
	if b, _ := v.(bool); b {
		return "all"
	}
	return ""
}

func sudoRuleKind() *kindDef {
	return &kindDef{
		kind: KindSudoRule, obj: "sudorule",
		key:      func(s steps.Spec) string { return s.(SudoRuleSpec).Name },
		entryKey: func(e entry) string { return e.str("cn") },
		want: func(sp steps.Spec) map[string]any {
			s := sp.(SudoRuleSpec)
			m := map[string]any{
				"enabled":  s.Enabled == nil || *s.Enabled,
				"allHosts": s.AllHosts, "allUsers": s.AllUsers, "allCommands": s.AllCommands,
			}
			optStr(m, "description", s.Description)
			optList(m, "hosts", s.Hosts)
			optList(m, "hostGroups", s.HostGroups)
			optList(m, "users", s.Users)
			optList(m, "groups", s.Groups)
			// sudo command names are case-sensitive paths: not lower-cased.
			if s.Commands != nil {
				c := slices.Clone(*s.Commands)
				slices.Sort(c)
				m["commands"] = slices.Compact(c)
			}
			// A category 'all' means no members of that kind: FreeIPA
			// refuses the category while there are any (sudorule_mod
			// pre_callback), so they are removed first (update's order).
			none := []string{}
			if s.AllHosts {
				m["hosts"], m["hostGroups"] = none, none
			}
			if s.AllUsers {
				m["users"], m["groups"] = none, none
			}
			if s.AllCommands {
				m["commands"] = none
			}
			return m
		},
		view: func(sp steps.Spec) map[string]any { return map[string]any{"name": sp.(SudoRuleSpec).Name} },
		have: func(e entry) map[string]any {
			enabled, ok := e.boolean("ipaenabledflag")
			cmds := slices.Clone(e.strs("memberallowcmd_sudocmd"))
			if cmds == nil {
				cmds = []string{}
			}
			slices.Sort(cmds)
			return map[string]any{
				"description": e.str("description"),
				"enabled":     enabled || !ok,
				"allHosts":    e.str("hostcategory") == "all",
				"allUsers":    e.str("usercategory") == "all",
				"allCommands": e.str("cmdcategory") == "all",
				"hosts":       sorted(e.strs("memberhost_host")),
				"hostGroups":  sorted(e.strs("memberhost_hostgroup")),
				"users":       sorted(e.strs("memberuser_user")),
				"groups":      sorted(e.strs("memberuser_group")),
				"commands":    cmds,
			}
		},
		mods: []modField{{field: "description", option: "description"},
			{field: "allHosts", option: "hostcategory", conv: category},
			{field: "allUsers", option: "usercategory", conv: category},
			{field: "allCommands", option: "cmdcategory", conv: category}},
		members: []memberField{
			{field: "hosts", what: "host", ref: "host", apply: memberCmds("sudorule_add_host", "sudorule_remove_host", "host")},
			{field: "hostGroups", what: "host group", ref: "hostgroup", apply: memberCmds("sudorule_add_host", "sudorule_remove_host", "hostgroup")},
			{field: "users", what: "user", ref: "user", apply: memberCmds("sudorule_add_user", "sudorule_remove_user", "user")},
			{field: "groups", what: "group", ref: "group", apply: memberCmds("sudorule_add_user", "sudorule_remove_user", "group")},
			{field: "commands", what: "command", apply: func(ctx context.Context, b *Backend, rule string, add, remove []string) error {
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
