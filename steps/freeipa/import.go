package freeipa

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

var _ steps.Importer = (*Backend)(nil)

// importOrder is the order kinds are written in: what others refer to first.
var importOrder = []string{KindHostGroup, KindHost, KindService, KindGroup, KindUser, KindSudoRule}

// builtinGroups are the user groups ipa-server-install creates (FreeIPA's
// own: admins, editors, ipausers, trust admins); an import leaves them alone.
var builtinGroups = map[string]bool{"admins": true, "editors": true, "ipausers": true, "trust admins": true}

// libHelper is the freeipa.libsonnet function of a kind.
var libHelper = map[string]string{
	KindHost: "host", KindHostGroup: "hostgroup", KindService: "service",
	KindUser: "user", KindGroup: "group", KindSudoRule: "sudorule",
}

// Import implements steps.Importer: one *_find per kind with all=true (no
// other call), every object as a resource built with freeipa.libsonnet.
// where must be empty: FreeIPA has no narrower place to read.
//
// Left alone and listed: FreeIPA's own objects — the servers (members of
// the ipaservers host group) and their services, the ipaservers host
// group, the admin user, the groups ipa-server-install creates — and the
// runner's own login user. Group membership of hosts is written on the
// host groups (hosts: [...]), once, not also on each host.
func (b *Backend) Import(ctx context.Context, where []string) (*steps.Imported, error) {
	if len(where) > 0 {
		return nil, fmt.Errorf("freeipa import takes no place to read (got %s): it reads every object the user may see", strings.Join(where, ", "))
	}
	if err := b.ready(true); err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, k := range importOrder {
		all[k] = true
	}
	w, err := b.find(ctx, all, nil)
	if err != nil {
		return nil, err
	}
	defs := b.userDefaults(ctx)
	servers := map[string]bool{}
	for key, e := range w[KindHost] {
		if slices.Contains(e.strs("memberof_hostgroup"), "ipaservers") {
			servers[key] = true
		}
	}
	im := &steps.Imported{
		File:   "identity.libsonnet",
		Header: "// FreeIPA objects, imported by `runner import`.\nlocal ipa = import 'freeipa.libsonnet';\n",
	}
	for _, kind := range importOrder {
		kd := kindDefs[kind]
		keys := make([]string, 0, len(w[kind]))
		for k := range w[kind] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			e := w[kind][key]
			if why := b.builtin(kind, key, servers); why != "" {
				im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{
					Where: fmt.Sprintf("FreeIPA %s %s", kd.obj, key), Why: why,
					Then: "left alone: the runner neither changes nor deletes it",
				})
				continue
			}
			f, err := b.found(kd, key, e, defs)
			if err != nil {
				im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{
					Where: fmt.Sprintf("FreeIPA %s %s", kd.obj, key), Why: "the runner cannot declare it: " + err.Error(),
					Then: "left alone: the runner neither changes nor deletes it",
				})
				continue
			}
			im.Resources = append(im.Resources, f)
		}
	}
	return im, nil
}

// builtin says why an object is FreeIPA's own (or the runner's login), or "".
func (b *Backend) builtin(kind, key string, servers map[string]bool) string {
	switch kind {
	case KindHost:
		if servers[key] {
			return "a FreeIPA server (member of ipaservers)"
		}
	case KindHostGroup:
		if key == "ipaservers" {
			return "FreeIPA's own host group of its servers"
		}
	case KindService:
		if _, host, _ := strings.Cut(key, "/"); servers[host] {
			return "a service of a FreeIPA server, FreeIPA's own"
		}
	case KindUser:
		switch {
		case key == "admin":
			return "FreeIPA's own administrator"
		case strings.EqualFold(key, b.cfg.User):
			return "the user the runner logs in as"
		}
	case KindGroup:
		if builtinGroups[key] {
			return "a group ipa-server-install creates"
		}
	}
	return ""
}

// userDefaults are the values user_add fills in from the global
// configuration (config_show: ipadefaultloginshell, ipadefaultemaildomain;
// FreeIPA's user plugin, baseuser.py): an imported user that has them is
// written without them, as a person would write it. A configuration that
// cannot be read leaves them zero, so everything is written (still
// adopted without a change).
type userDefaults struct{ loginShell, emailDomain string }

func (b *Backend) userDefaults(ctx context.Context) userDefaults {
	res, err := b.call(ctx, "config_show", nil, nil)
	if err != nil {
		return userDefaults{}
	}
	var out struct {
		Result struct {
			Shell  []string `json:"ipadefaultloginshell"`
			Domain []string `json:"ipadefaultemaildomain"`
		} `json:"result"`
	}
	if json.Unmarshal(res, &out) != nil || len(out.Result.Shell) != 1 || len(out.Result.Domain) != 1 {
		return userDefaults{}
	}
	return userDefaults{loginShell: out.Result.Shell[0], emailDomain: out.Result.Domain[0]}
}

// found turns an entry into a resource: the managed attributes that are
// set (less a user's defaults), the members (host groups on the host
// group, not on the host), and the spec the backend decodes from them.
func (b *Backend) found(kd *kindDef, key string, e entry, defs userDefaults) (steps.Found, error) {
	have := kd.have(e)
	if kd.kind == KindUser {
		if defs.loginShell != "" && have["loginShell"] == defs.loginShell {
			delete(have, "loginShell")
		}
		if mail, ok := have["email"].([]string); ok && defs.emailDomain != "" && len(mail) == 1 && strings.EqualFold(mail[0], key+"@"+defs.emailDomain) {
			delete(have, "email")
		}
	}
	spec := map[string]any{kd.keyField: key}
	var opts []string // Jsonnet fields of the lib call's opts, in table order
	put := func(field string, v any) {
		spec[field] = v
		opts = append(opts, field+": "+steps.JsonnetValue(v))
	}
	positional := map[string]bool{kd.keyField: true}
	if kd.kind == KindUser {
		positional["firstName"], positional["lastName"] = true, true
		spec["firstName"], spec["lastName"] = have["firstName"], have["lastName"]
	}
	for _, a := range kd.attrs {
		if !positional[a.field] && set(have[a.field]) {
			put(a.field, have[a.field])
		}
	}
	for _, m := range kd.members {
		if kd.kind == KindHost && m.field == "hostGroups" {
			continue // written on the host groups
		}
		if set(have[m.field]) {
			put(m.field, have[m.field])
		}
	}
	if on, ok := have["enabled"].(bool); ok && !on {
		put("enabled", false)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return steps.Found{}, err
	}
	s, err := b.Decode(kd.kind, raw)
	if err != nil {
		return steps.Found{}, err
	}
	name := key
	args := []string{steps.JsonnetValue(key)}
	switch kd.kind {
	case KindService:
		svc, host, _ := strings.Cut(key, "/")
		name = svc + "_" + host
		args = []string{steps.JsonnetValue(svc), steps.JsonnetValue(host)}
	case KindUser:
		args = append(args, steps.JsonnetValue(have["firstName"]), steps.JsonnetValue(have["lastName"]))
	}
	opts = append(opts, "adopt: true")
	machine := "" // a host is a machine; the importer finds its guest
	if kd.kind == KindHost {
		machine = key
	}
	return steps.Found{
		ID:      steps.ID{Kind: kd.kind, Name: name},
		Spec:    s,
		Group:   kd.obj + "s",
		Machine: machine,
		Enrols:  kd.kind == KindHost,
		Jsonnet: fmt.Sprintf("ipa.%s(%s, { %s })", libHelper[kd.kind], strings.Join(args, ", "), strings.Join(opts, ", ")),
	}, nil
}

// set reports whether an observed value is worth writing: a non-empty
// string or list, or true.
func set(v any) bool {
	switch x := v.(type) {
	case string:
		return x != ""
	case []string:
		return len(x) > 0
	case bool:
		return x
	}
	return v != nil
}
