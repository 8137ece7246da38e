package sim

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// kindDef describes one LDAP object class the simulator keeps, after the
// LDAPObject subclasses in ipaserver/plugins/{host,hostgroup,service,user,
// group,sudorule,sudocmd}.py: primary key, container, default attributes,
// attribute_members and the summary texts.
type kindDef struct {
	name, pkey, oname string
	container         string // below the base DN
	rdn               string // RDN attribute ("ipauniqueid" for sudo objects)
	sumAdd, sumDel    string
	sumMod            string
	findOne, findMany string
	searchAttrs       []string
	defaultAttrs      []string
	// memberAttrs maps a stored membership attribute to the kinds it may
	// reference, like attribute_members (member -> host, hostgroup).
	memberAttrs   map[string][]string
	objectClasses []string
}

// attributes that are simulator bookkeeping or never readable over the API.
var hiddenAttrs = map[string]bool{"userpassword": true, "krbprincipalkey": true}

// dateAttrs have LDAP Generalized Time syntax, which the JSON API encodes as
// {"__datetime__": "YYYYmmddHHMMSSZ"}.
var dateAttrs = map[string]bool{"krblastpwdchange": true}

// boolAttrs have LDAP Boolean syntax, which ipaldap returns as JSON booleans.
var boolAttrs = map[string]bool{"ipaenabledflag": true, "nsaccountlock": true}

// referencing attributes that 389-ds' memberOf plugin follows (memberof is
// derived from them), and the group-like kinds that nest.
var (
	memberofSources = []string{"member", "memberuser", "memberhost"}
	nestingKinds    = map[string]bool{"hostgroup": true, "group": true}
)

var kinds = map[string]*kindDef{
	"host": {
		name: "host", pkey: "fqdn", oname: "host", container: "cn=computers,cn=accounts", rdn: "fqdn",
		sumAdd: `Added host "%s"`, sumDel: `Deleted host "%s"`, sumMod: `Modified host "%s"`,
		findOne: "%d host matched", findMany: "%d hosts matched",
		searchAttrs:   []string{"fqdn", "description", "l", "nshostlocation", "krbcanonicalname", "krbprincipalname", "nshardwareplatform", "nsosversion"},
		defaultAttrs:  []string{"fqdn", "description", "l", "nshostlocation", "krbcanonicalname", "krbprincipalname", "nshardwareplatform", "nsosversion", "usercertificate", "macaddress", "userclass", "ipaassignedidview", "krbprincipalauthind", "memberprincipal", "ipasshpubkey"},
		memberAttrs:   map[string][]string{"managedby": {"host"}},
		objectClasses: []string{"ipaobject", "nshost", "ipahost", "pkiuser", "ipaservice", "krbprincipalaux", "krbprincipal", "ieee802device", "ipasshhost", "top"},
	},
	"hostgroup": {
		name: "hostgroup", pkey: "cn", oname: "host group", container: "cn=hostgroups,cn=accounts", rdn: "cn",
		sumAdd: `Added hostgroup "%s"`, sumDel: `Deleted hostgroup "%s"`, sumMod: `Modified hostgroup "%s"`,
		findOne: "%d hostgroup matched", findMany: "%d hostgroups matched",
		searchAttrs:   []string{"cn", "description"},
		defaultAttrs:  []string{"cn", "description"},
		memberAttrs:   map[string][]string{"member": {"host", "hostgroup"}},
		objectClasses: []string{"ipaobject", "ipahostgroup", "nestedGroup", "groupOfNames", "top", "mepOriginEntry"},
	},
	"service": {
		name: "service", pkey: "krbcanonicalname", oname: "service", container: "cn=services,cn=accounts", rdn: "krbprincipalname",
		sumAdd: `Added service "%s"`, sumDel: `Deleted service "%s"`, sumMod: `Modified service "%s"`,
		findOne: "%d service matched", findMany: "%d services matched",
		searchAttrs:   []string{"krbprincipalname", "ipakrbauthzdata"},
		defaultAttrs:  []string{"krbprincipalname", "krbcanonicalname", "usercertificate", "ipakrbauthzdata", "krbprincipalauthind", "memberprincipal"},
		memberAttrs:   map[string][]string{"managedby": {"host"}},
		objectClasses: []string{"krbprincipal", "krbprincipalaux", "krbticketpolicyaux", "ipaobject", "ipaservice", "pkiuser", "ipakrbprincipal", "top"},
	},
	"user": {
		name: "user", pkey: "uid", oname: "user", container: "cn=users,cn=accounts", rdn: "uid",
		sumAdd: `Added user "%s"`, sumDel: `Deleted user "%s"`, sumMod: `Modified user "%s"`,
		findOne: "%d user matched", findMany: "%d users matched",
		searchAttrs:   []string{"uid", "givenname", "sn", "telephonenumber", "ou", "title", "mail"},
		defaultAttrs:  []string{"uid", "givenname", "sn", "homedirectory", "loginshell", "uidnumber", "gidnumber", "mail", "ou", "telephonenumber", "title", "nsaccountlock", "userclass", "krbprincipalname", "krbcanonicalname", "ipasshpubkey"},
		objectClasses: []string{"top", "person", "organizationalperson", "inetorgperson", "inetuser", "posixaccount", "krbprincipalaux", "krbticketpolicyaux", "ipaobject", "ipasshuser", "ipaSshGroupOfPubKeys", "mepOriginEntry"},
	},
	"group": {
		name: "group", pkey: "cn", oname: "group", container: "cn=groups,cn=accounts", rdn: "cn",
		sumAdd: `Added group "%s"`, sumDel: `Deleted group "%s"`, sumMod: `Modified group "%s"`,
		findOne: "%d group matched", findMany: "%d groups matched",
		searchAttrs:   []string{"cn", "description"},
		defaultAttrs:  []string{"cn", "description", "gidnumber", "ipaexternalmember"},
		memberAttrs:   map[string][]string{"member": {"user", "group", "service", "idoverrideuser"}},
		objectClasses: []string{"top", "groupofnames", "nestedgroup", "ipausergroup", "ipaobject", "posixgroup"},
	},
	"sudorule": {
		name: "sudorule", pkey: "cn", oname: "sudo rule", container: "cn=sudorules,cn=sudo", rdn: "ipauniqueid",
		sumAdd: `Added Sudo Rule "%s"`, sumDel: `Deleted Sudo Rule "%s"`, sumMod: `Modified Sudo Rule "%s"`,
		findOne: "%d Sudo Rule matched", findMany: "%d Sudo Rules matched",
		searchAttrs:  []string{"cn", "description"},
		defaultAttrs: []string{"cn", "ipaenabledflag", "externaluser", "description", "usercategory", "hostcategory", "cmdcategory", "ipasudoopt", "ipasudorunasusercategory", "ipasudorunasgroupcategory", "sudoorder", "hostmask", "externalhost", "ipasudorunasextusergroup", "ipasudorunasextgroup", "ipasudorunasextuser"},
		memberAttrs: map[string][]string{
			"memberuser": {"user", "group"}, "memberhost": {"host", "hostgroup"},
			"memberallowcmd": {"sudocmd", "sudocmdgroup"}, "memberdenycmd": {"sudocmd", "sudocmdgroup"},
		},
		objectClasses: []string{"ipaassociation", "ipasudorule"},
	},
	"sudocmd": {
		name: "sudocmd", pkey: "sudocmd", oname: "sudo command", container: "cn=sudocmds,cn=sudo", rdn: "ipauniqueid",
		sumAdd: `Added Sudo Command "%s"`, sumDel: `Deleted Sudo Command "%s"`, sumMod: `Modified Sudo Command "%s"`,
		findOne: "%d Sudo Command matched", findMany: "%d Sudo Commands matched",
		searchAttrs:   []string{"sudocmd", "description"},
		defaultAttrs:  []string{"sudocmd", "description"},
		objectClasses: []string{"ipaobject", "ipasudocmd"},
	},
}

// kindOrder fixes the order of kinds in snapshots and output.
var kindOrder = []string{"host", "hostgroup", "service", "user", "group", "sudocmd", "sudorule"}

// entry is one stored object: LDAP-like attributes, lower-case names,
// always lists. Membership attributes hold references "kind:pkey".
type entry struct {
	Kind  string              `json:"kind"`
	Attrs map[string][]string `json:"attrs"`
}

func (e *entry) pkey() string { return first(e.Attrs[kinds[e.Kind].pkey]) }

func (e *entry) ref() string { return e.Kind + ":" + e.pkey() }

func (e *entry) clone() *entry {
	c := &entry{Kind: e.Kind, Attrs: make(map[string][]string, len(e.Attrs))}
	for k, v := range e.Attrs {
		c.Attrs[k] = slices.Clone(v)
	}
	return c
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func splitRef(ref string) (kind, pkey string) {
	kind, pkey, _ = strings.Cut(ref, ":")
	return kind, pkey
}

// store holds all entries. It is not safe for concurrent use; Server
// guards it with its mutex.
type store struct {
	entries map[string]map[string]*entry // kind -> lower(pkey) -> entry
	dns     map[string][]string          // fqdn -> A/AAAA values
	nextID  int
}

func newStore() *store {
	st := &store{entries: make(map[string]map[string]*entry), dns: make(map[string][]string), nextID: 1}
	for _, k := range kindOrder {
		st.entries[k] = make(map[string]*entry)
	}
	return st
}

func (st *store) get(kind, pkey string) *entry { return st.entries[kind][strings.ToLower(pkey)] }

func (st *store) put(e *entry) { st.entries[e.Kind][strings.ToLower(e.pkey())] = e }

func (st *store) remove(kind, pkey string) { delete(st.entries[kind], strings.ToLower(pkey)) }

// sorted returns a kind's entries in primary-key order, as LDAPSearch sorts.
func (st *store) sorted(kind string) []*entry {
	out := make([]*entry, 0, len(st.entries[kind]))
	for _, e := range st.entries[kind] {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].pkey()) < strings.ToLower(out[j].pkey()) })
	return out
}

// dropRefs removes every reference to ref, as 389-ds' referential integrity
// plugin does when an entry is deleted.
func (st *store) dropRefs(ref string) {
	for _, byKey := range st.entries {
		for _, e := range byKey {
			for attr := range kinds[e.Kind].memberAttrs {
				if vals, ok := e.Attrs[attr]; ok {
					e.Attrs[attr] = slices.DeleteFunc(vals, func(v string) bool { return strings.EqualFold(v, ref) })
					if len(e.Attrs[attr]) == 0 {
						delete(e.Attrs, attr)
					}
				}
			}
		}
	}
}

// renameRefs rewrites references after a rename.
func (st *store) renameRefs(oldRef, newRef string) {
	for _, byKey := range st.entries {
		for _, e := range byKey {
			for attr := range kinds[e.Kind].memberAttrs {
				for i, v := range e.Attrs[attr] {
					if strings.EqualFold(v, oldRef) {
						e.Attrs[attr][i] = newRef
					}
				}
			}
		}
	}
}

// inverse maps a reference to the references of the entries that list it in
// a memberOf-tracked attribute: the LDAP memberOf attribute.
func (st *store) inverse() map[string][]string {
	inv := make(map[string][]string)
	for _, k := range kindOrder {
		for _, e := range st.sorted(k) {
			for _, attr := range memberofSources {
				for _, m := range e.Attrs[attr] {
					key := strings.ToLower(m)
					inv[key] = append(inv[key], e.ref())
				}
			}
		}
	}
	return inv
}

// closure walks refs from start over next (excluding start itself) and
// returns every reachable reference, following only nesting kinds beyond the
// first step.
func closure(start []string, next func(ref string) []string) []string {
	seen := make(map[string]bool)
	var out []string
	queue := slices.Clone(start)
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[strings.ToLower(r)] {
			continue
		}
		seen[strings.ToLower(r)] = true
		out = append(out, r)
		if k, _ := splitRef(r); nestingKinds[k] {
			queue = append(queue, next(r)...)
		}
	}
	return out
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go ≥1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
