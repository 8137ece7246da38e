package freeipa

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// Import implements steps.Importer: one *_find per kind with all=true and
// one config_show (userDefaults), every object as a resource built with
// freeipa.libsonnet; the attributes an entry holds beyond what the runner
// manages and what FreeIPA writes itself are listed as left alone.
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
		keys := slices.Sorted(maps.Keys(w[kind]))
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
			if left := unmodelled(kd, key, e, defs); len(left) > 0 {
				im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{ID: f.ID,
					Where: fmt.Sprintf("FreeIPA %s %s: attributes", kd.obj, key),
					Why:   "attributes the runner does not manage: " + strings.Join(left, ", "),
					Then:  "left as they are: the runner never sets or clears them",
				})
			}
		}
	}
	return im, nil
}

// bookkeeping are the attributes of an entry (*_find --all) that FreeIPA
// writes itself, with why an import does not list them (FreeIPA's
// ipaserver/plugins/{baseldap,host,service,user,group,sudorule}.py):
var bookkeeping = map[string]string{
	"dn":                      "the entry's LDAP name, made from its key",
	"objectclass":             "the LDAP schema classes *_add writes",
	"ipauniqueid":             "a UUID *_add assigns",
	"krbprincipalname":        "the Kerberos principal *_add makes from the key",
	"krbcanonicalname":        "the same principal",
	"ipakrbprincipalalias":    "the same principal (service_add)",
	"krblastpwdchange":        "when the password or keytab last changed",
	"krbpasswordexpiration":   "when the password expires (password policy)",
	"krbloginfailedcount":     "the KDC's counter",
	"krblastfailedauth":       "the KDC's record",
	"krblastsuccessfulauth":   "the KDC's record",
	"krbextradata":            "the KDC's record",
	"krbpwdpolicyreference":   "the password policy the entry falls under",
	"has_keytab":              "derived: whether a keytab exists (never read or written)",
	"has_password":            "derived: whether a password or one-time password is set",
	"managing_host":           "derived: the hosts this host manages (their managedby)",
	"sshpubkeyfp":             "derived: the fingerprints of ipasshpubkey (listed itself)",
	"serverhostname":          "the host's first label (host_add)",
	"nsosversion":             "written by ipa-join at enrolment",
	"nshardwareplatform":      "written by ipa-join at enrolment",
	"mepmanagedentry":         "the link to the user's private group (managed entries plugin)",
	"mepmanagedby":            "the link from a user private group to its user",
	"ipantsecurityidentifier": "the SID FreeIPA assigns for trusts",
	"preserved":               "derived: false for an active user (user_find)",
	"memberofindirect":        "derived from the groups' memberships",
	"memberindirect":          "derived from the nested groups' memberships",
	"memberof":                "derived: written on the group, host group or rule, not on the member",
}

// firstDNARangeID is the lowest ID FreeIPA's own range can start at:
// ipa-server-install picks --idstart as a random multiple of 200000
// (ipaserver/install/server/install.py) and the DNA plugin assigns uid and
// gid numbers from it. A number below it was given by hand (--uid, --gid).
const firstDNARangeID = 200000

// unmodelled lists, as "attribute=value", what an entry holds that the
// runner does not manage and FreeIPA did not write itself (bookkeeping):
// a sudo rule's deny commands, run-as users and order, a user's telephone
// number, SSH keys and certificates (counted, not shown) or home directory outside the
// homes root, a host's MAC address. Sorted; nil when there is none.
func unmodelled(kd *kindDef, key string, e entry, defs userDefaults) []string {
	known := map[string]bool{kd.keyAttr: true}
	for _, a := range kd.attrs {
		known[a.ldap] = true
	}
	for _, m := range kd.members {
		known[m.ldap] = true
	}
	var out []string
	for _, attr := range slices.Sorted(maps.Keys(e)) {
		base, _, _ := strings.Cut(attr, "_")
		if known[attr] || bookkeeping[attr] != "" || bookkeeping[base] != "" || kd.isDefault(attr, key, e, defs) {
			continue
		}
		v := strings.Join(e.strs(attr), ",")
		if attr == "ipasshpubkey" || attr == "usercertificate" {
			v = fmt.Sprintf("(%d, not shown)", len(e.strs(attr))) // public keys and certificates, but long
		}
		out = append(out, attr+"="+v)
	}
	return out
}

// isDefault reports whether attr holds what FreeIPA fills in for an entry
// of the kind made without it, or what the spec covers by another name.
func (kd *kindDef) isDefault(attr, key string, e entry, defs userDefaults) bool {
	switch kd.kind + " " + attr {
	case KindSudoRule + " ipaenabledflag":
		return true // the spec's enabled
	case KindHost + " cn", KindHostGroup + " cn", KindGroup + " cn", KindSudoRule + " cn":
		return strings.EqualFold(e.str(attr), key)
	case KindHost + " managedby", KindService + " managedby":
		return true // managedby_host, the spec's managedBy
	case KindUser + " cn", KindUser + " displayname", KindUser + " gecos":
		return e.str(attr) == strings.TrimSpace(e.str("givenname")+" "+e.str("sn")) // user_add: the full name
	case KindUser + " initials":
		return e.str(attr) == initials(e.str("givenname"), e.str("sn"))
	case KindUser + " homedirectory":
		return e.str(attr) == defs.homesRoot+"/"+key
	case KindUser + " nsaccountlock":
		on, _ := e.boolean(attr)
		return !on // not locked
	case KindUser + " uidnumber", KindGroup + " gidnumber":
		return dnaAssigned(e.str(attr))
	case KindUser + " gidnumber":
		// the user private group gets the user's number
		return e.str(attr) == e.str("uidnumber") && dnaAssigned(e.str(attr))
	}
	return false
}

// nonPosix reports whether a group entry (read with --all) was made with
// group_add --nonposix: its object classes lack posixgroup (group.py). An
// external group (ipaexternalgroup) lacks it too, but is no nonPosix group.
func nonPosix(e entry) bool {
	oc := e.strs("objectclass")
	if len(oc) == 0 {
		return false // not read
	}
	return !slices.ContainsFunc(oc, func(c string) bool {
		return strings.EqualFold(c, "posixgroup") || strings.EqualFold(c, "ipaexternalgroup")
	})
}

func dnaAssigned(id string) bool {
	n, err := strconv.Atoi(id)
	return err == nil && n >= firstDNARangeID
}

// initials is user_add's default initials: the first letters of the given
// name and the surname (baseuser.py).
func initials(given, sn string) string {
	out := ""
	for _, s := range []string{given, sn} {
		if r := []rune(s); len(r) > 0 {
			out += string(r[0])
		}
	}
	return out
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
// adopted without a change). homesRoot (ipahomesrootdir, "/home" when
// unread) tells a home directory user_add made from one set by hand.
type userDefaults struct{ loginShell, emailDomain, homesRoot string }

func (b *Backend) userDefaults(ctx context.Context) userDefaults {
	res, err := b.call(ctx, "config_show", nil, nil)
	if err != nil {
		return userDefaults{homesRoot: "/home"}
	}
	var out struct {
		Result struct {
			Shell  []string `json:"ipadefaultloginshell"`
			Domain []string `json:"ipadefaultemaildomain"`
			Homes  []string `json:"ipahomesrootdir"`
		} `json:"result"`
	}
	d := userDefaults{homesRoot: "/home"}
	if json.Unmarshal(res, &out) != nil {
		return d
	}
	if len(out.Result.Homes) == 1 {
		d.homesRoot = strings.TrimSuffix(out.Result.Homes[0], "/")
	}
	if len(out.Result.Shell) != 1 || len(out.Result.Domain) != 1 {
		return d
	}
	d.loginShell, d.emailDomain = out.Result.Shell[0], out.Result.Domain[0]
	return d
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
	if kd.kind == KindGroup && nonPosix(e) {
		put("nonPosix", true) // group_add --nonposix: no posixgroup class, no gidnumber
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
