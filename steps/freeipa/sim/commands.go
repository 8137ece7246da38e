package sim

import (
	"fmt"
	"net/netip"
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
	handlers["sudorule_enable"] = func(c *call) (map[string]any, *Error) { return c.enable(true) }
	handlers["sudorule_disable"] = func(c *call) (map[string]any, *Error) { return c.enable(false) }
	handlers["ping"] = func(*call) (map[string]any, *Error) {
		return map[string]any{"summary": "IPA server version " + ServerVersion + ". API version " + APIVersion}, nil
	}
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

// validateHostname is ipalib.util.validate_hostname for host fqdns.
func validateHostname(h string) *Error {
	bad := func(reason string) *Error { return errValidation("hostname", "invalid domain-name: "+reason) }
	if len(h) > 255 {
		return bad("cannot be longer that 255 characters")
	}
	if strings.Contains(h, "..") {
		return bad("hostname contains empty label (consecutive dots)")
	}
	if !strings.Contains(h, ".") {
		return bad("not fully qualified")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return bad("only letters, numbers, and - are allowed. DNS label may not start or end with -")
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return bad("only letters, numbers, and - are allowed. DNS label may not start or end with -")
			}
		}
	}
	return nil
}

// add is LDAPCreate with each kind's pre/post callbacks.
func (c *call) add(k *kindDef) (map[string]any, *Error) {
	key, err := c.normKey(k, c.str(k.pkey))
	if err != nil {
		return nil, err
	}
	attrs := map[string][]string{k.pkey: {key}}
	c.applyAttrOptions(k, attrs)
	if err := c.applyAttrEdits(k, attrs); err != nil {
		return nil, err
	}
	e := &entry{Kind: k.name, Attrs: attrs}
	var random string
	switch k.name {
	case "host":
		if random, err = c.preHostAdd(e, key); err != nil {
			return nil, err
		}
	case "service":
		if err := c.preServiceAdd(e, key); err != nil {
			return nil, err
		}
	case "user":
		random = c.preUserAdd(e, key)
	case "group":
		attrs["objectclass"] = slices.Clone(k.objectClasses)
		if c.flag("nonposix") || c.flag("external") {
			attrs["objectclass"] = slices.DeleteFunc(attrs["objectclass"], func(s string) bool { return s == "posixgroup" })
			delete(attrs, "gidnumber")
		} else if len(attrs["gidnumber"]) == 0 {
			attrs["gidnumber"] = []string{c.nextID()}
		}
	case "sudorule":
		if len(attrs["ipaenabledflag"]) == 0 {
			attrs["ipaenabledflag"] = []string{"TRUE"}
		}
	}
	if attrs["objectclass"] == nil {
		attrs["objectclass"] = slices.Clone(k.objectClasses)
	}
	attrs["ipauniqueid"] = []string{newUUID()}
	if c.s.st.get(k.name, key) != nil {
		return nil, errDuplicate(fmt.Sprintf(`%s with name "%s" already exists`, k.oname, key))
	}
	c.s.st.put(e)
	if k.name == "host" && c.str("ip_address") != "" && c.zoneManaged(parentDomain(key)) {
		c.s.st.dns[key] = append(c.s.st.dns[key], c.str("ip_address"))
	}
	if k.name == "user" {
		if g := c.s.st.get("group", "ipausers"); g != nil {
			g.Attrs["member"] = append(g.Attrs["member"], e.ref())
		}
	}
	res := c.render(e, c.view(false))
	if random != "" {
		res["randompassword"] = random
	}
	return map[string]any{"result": res, "value": key, "summary": fmt.Sprintf(k.sumAdd, key)}, nil
}

func parentDomain(fqdn string) string {
	_, d, _ := strings.Cut(fqdn, ".")
	return d
}

// preHostAdd is host_add.pre_callback (ipaserver/plugins/host.py).
func (c *call) preHostAdd(e *entry, fqdn string) (string, *Error) {
	if err := validateHostname(fqdn); err != nil {
		return "", err
	}
	if ip := c.str("ip_address"); ip != "" {
		addr, perr := netip.ParseAddr(ip)
		if perr != nil {
			return "", errValidation("ip_address", fmt.Sprintf("failed to detect a valid IP address from '%s'", ip))
		}
		if !c.s.opts.NoIntegratedDNS {
			// add_records_for_host_validation (ipaserver/plugins/dns.py):
			// the zone must exist, even with force; the IP must be unused.
			zone := parentDomain(fqdn)
			if !c.zoneManaged(zone) {
				return "", errNotFound(fmt.Sprintf("DNS zone %s. not found", zone))
			}
			for name, ips := range c.s.st.dns {
				if parentDomain(name) == zone && slices.Contains(ips, addr.String()) {
					return "", errDuplicate(fmt.Sprintf("IP address %s is already assigned in domain %s.", addr, zone))
				}
			}
		}
	} else if !c.flag("force") && !c.resolvable(fqdn) {
		return "", errDNSNotARecord(fqdn)
	}
	a := e.Attrs
	a["cn"] = []string{fqdn}
	short, _, _ := strings.Cut(fqdn, ".")
	a["serverhostname"] = []string{short}
	a["managedby"] = []string{"host:" + fqdn}
	var random string
	switch {
	case c.flag("random"):
		random = randomPassword()
		a["userpassword"] = []string{storedPassword}
	case c.str("userpassword") != "":
		a["userpassword"] = []string{storedPassword}
	default:
		p := "host/" + fqdn + "@" + c.s.opts.Realm
		a["krbprincipalname"] = []string{p}
		a["krbcanonicalname"] = []string{p}
	}
	return random, nil
}

// preServiceAdd is service_add.pre_callback (ipaserver/plugins/service.py).
func (c *call) preServiceAdd(e *entry, principal string) *Error {
	svc, rest, _ := strings.Cut(principal, "/")
	host, _, _ := strings.Cut(rest, "@")
	if svc == "host" && !c.flag("force") {
		return errHostService()
	}
	if !c.flag("skip_host_check") {
		h := c.s.st.get("host", host)
		if h == nil {
			return errNotFound(fmt.Sprintf("The host '%s' does not exist to add a service to.", host))
		}
		if !c.flag("force") && !c.resolvable(host) {
			return errDNSNotARecord(host)
		}
		e.Attrs["managedby"] = []string{h.ref()}
	}
	e.Attrs["krbprincipalname"] = []string{principal}
	e.Attrs["krbcanonicalname"] = []string{principal}
	e.Attrs["ipakrbprincipalalias"] = []string{principal}
	return nil
}

// preUserAdd fills user_add's autofilled attributes (baseuser.py, user.py).
func (c *call) preUserAdd(e *entry, uid string) string {
	a := e.Attrs
	gn, sn := first(a["givenname"]), first(a["sn"])
	full := strings.TrimSpace(gn + " " + sn)
	def := func(attr, v string) {
		if len(a[attr]) == 0 {
			a[attr] = []string{v}
		}
	}
	def("cn", full)
	def("displayname", full)
	def("gecos", full)
	initials := ""
	if gn != "" {
		initials += gn[:1]
	}
	if sn != "" {
		initials += sn[:1]
	}
	def("initials", initials)
	def("homedirectory", "/home/"+uid)
	def("loginshell", "/bin/sh")
	def("mail", uid+"@"+c.s.opts.Domain)
	def("krbprincipalname", uid+"@"+c.s.opts.Realm)
	def("krbcanonicalname", uid+"@"+c.s.opts.Realm)
	id := c.nextID()
	def("uidnumber", id)
	def("gidnumber", id)
	def("nsaccountlock", "FALSE")
	var random string
	if c.flag("random") {
		random = randomPassword()
		a["userpassword"] = []string{storedPassword}
	} else if c.str("userpassword") != "" {
		a["userpassword"] = []string{storedPassword}
	}
	return random
}

func (c *call) show(k *kindDef) (map[string]any, *Error) {
	e, _, err := c.lookup(k, c.str(k.pkey))
	if err != nil {
		return nil, err
	}
	return map[string]any{"result": c.render(e, c.view(false)), "value": e.pkey(), "summary": nil}, nil
}

// find is LDAPSearch.execute: criteria over the search attributes, exact
// attribute filters, membership filters, sorted by primary key, sizelimit.
func (c *call) find(k *kindDef) (map[string]any, *Error) {
	term := strings.ToLower(c.str("criteria"))
	limit := c.s.opts.SearchLimit
	if n, ok := c.p["sizelimit"].(int64); ok {
		if n < 0 {
			return nil, errValidation("sizelimit", "must be at least 0")
		}
		limit = int(n)
	}
	if n, ok := c.p["timelimit"].(int64); ok && n < 0 {
		return nil, errValidation("timelimit", "must be at least 0")
	}
	var matched []*entry
	for _, e := range c.s.st.sorted(k.name) {
		if term != "" && !c.matchTerm(k, e, term) {
			continue
		}
		if !c.matchFilters(k, e) {
			continue
		}
		matched = append(matched, e)
	}
	truncated := false
	if limit > 0 && len(matched) > limit {
		matched, truncated = matched[:limit], true
	}
	v := c.view(true)
	results := make([]any, len(matched))
	for i, e := range matched {
		results[i] = c.render(e, v)
	}
	res := map[string]any{"count": len(matched), "result": results, "truncated": truncated}
	format := k.findMany
	if len(matched) == 1 {
		format = k.findOne
	}
	res["summary"] = fmt.Sprintf(format, len(matched))
	if truncated {
		c.msgs = append(c.msgs, message(13017, "SearchResultTruncated", "warning",
			"Search result has been truncated: Configured size limit exceeded",
			map[string]any{"reason": "Configured size limit exceeded"}))
	}
	return res, nil
}

func (c *call) matchTerm(k *kindDef, e *entry, term string) bool {
	for _, a := range k.searchAttrs {
		for _, v := range e.Attrs[a] {
			if strings.Contains(strings.ToLower(v), term) {
				return true
			}
		}
	}
	return false
}

// matchFilters applies the find options: in_X/not_in_X (memberOf, nested
// included, as 389-ds keeps it), man_by_X/not_man_by_X, X/no_X (direct
// members), and plain attributes (exact, case-insensitive).
func (c *call) matchFilters(k *kindDef, e *entry) bool {
	for name, v := range c.p {
		if controlOpts[name] || v == nil {
			continue
		}
		if _, isFlag := v.(bool); isFlag {
			continue
		}
		want := attrValues(v)
		switch {
		case strings.HasPrefix(name, "not_in_"):
			if c.inGroups(e, strings.TrimPrefix(name, "not_in_"), want, true) {
				return false
			}
		case strings.HasPrefix(name, "in_"):
			if !c.inGroups(e, strings.TrimPrefix(name, "in_"), want, false) {
				return false
			}
		case strings.HasPrefix(name, "not_man_by_"):
			if hasRefs(e.Attrs["managedby"], strings.TrimPrefix(name, "not_man_by_"), want, true) {
				return false
			}
		case strings.HasPrefix(name, "man_by_"):
			if !hasRefs(e.Attrs["managedby"], strings.TrimPrefix(name, "man_by_"), want, false) {
				return false
			}
		case strings.HasPrefix(name, "no_") && kinds[strings.TrimPrefix(name, "no_")] != nil && k.memberAttrs["member"] != nil:
			if hasRefs(e.Attrs["member"], strings.TrimPrefix(name, "no_"), want, true) {
				return false
			}
		case kinds[name] != nil && k.memberAttrs["member"] != nil:
			if !hasRefs(e.Attrs["member"], name, want, false) {
				return false
			}
		case slices.Contains([]string{"enroll_by_user", "not_enroll_by_user", "man_host", "not_man_host"}, name) ||
			strings.HasPrefix(name, "membermanager_") || strings.HasPrefix(name, "not_membermanager_"):
			// relationships the simulator does not keep: nothing matches
			// a positive filter, everything a negative one.
			if !strings.HasPrefix(name, "not_") {
				return false
			}
		default:
			for _, w := range want {
				if !containsFold(e.Attrs[name], w) {
					return false
				}
			}
		}
	}
	return true
}

// hasRefs: all (or, with any, at least one) of names of kind are in refs.
func hasRefs(refs []string, kind string, names []string, anyOf bool) bool {
	for _, n := range names {
		in := containsFold(refs, kind+":"+n)
		if anyOf && in {
			return true
		}
		if !anyOf && !in {
			return false
		}
	}
	return !anyOf
}

func (c *call) inGroups(e *entry, kind string, names []string, anyOf bool) bool {
	inv := c.inv()
	all := closure(inv[strings.ToLower(e.ref())], func(r string) []string { return inv[strings.ToLower(r)] })
	return hasRefs(all, kind, names, anyOf)
}

// mod is LDAPUpdate with host_mod's password rules.
func (c *call) mod(k *kindDef) (map[string]any, *Error) {
	e, _, err := c.lookup(k, c.str(k.pkey))
	if err != nil {
		return nil, err
	}
	n := e.clone()
	c.applyAttrOptions(k, n.Attrs)
	if err := c.applyAttrEdits(k, n.Attrs); err != nil {
		return nil, err
	}
	if k.name == "sudorule" {
		if err := sudoCategoryCheck(c, e); err != nil {
			return nil, err
		}
	}
	var random string
	if (k.name == "host" || k.name == "user") && (c.flag("random") || c.str("userpassword") != "") {
		// host_mod.pre_callback: no OTP on an enrolled host.
		if k.name == "host" && len(e.Attrs["krbprincipalkey"]) > 0 && len(e.Attrs["userpassword"]) == 0 {
			return nil, errValidation("password", "Password cannot be set on enrolled host.")
		}
		if c.flag("random") {
			random = randomPassword()
		}
		n.Attrs["userpassword"] = []string{storedPassword}
	}
	newKey := ""
	if r := c.str("rename"); r != "" {
		newKey, err = c.normKey(k, r)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(newKey, e.pkey()) {
			return nil, errValidation("rename", "New name must be different from the old one")
		}
		if c.s.st.get(k.name, newKey) != nil {
			return nil, errDuplicate(fmt.Sprintf(`%s with name "%s" already exists`, k.oname, newKey))
		}
		n.Attrs[k.pkey] = []string{newKey}
	}
	if random == "" && !c.has("userpassword") && equalAttrs(e.Attrs, n.Attrs) {
		return nil, errEmptyModlist()
	}
	if newKey != "" {
		oldRef := e.ref()
		c.s.st.remove(k.name, e.pkey())
		c.s.st.renameRefs(oldRef, n.ref())
		// the clone still holds the old references to itself
		for attr := range k.memberAttrs {
			for i, v := range n.Attrs[attr] {
				if strings.EqualFold(v, oldRef) {
					n.Attrs[attr][i] = n.ref()
				}
			}
		}
	}
	c.s.st.put(n)
	res := c.render(n, c.view(false))
	if random != "" {
		res["randompassword"] = random
	}
	return map[string]any{"result": res, "value": n.pkey(), "summary": fmt.Sprintf(k.sumMod, n.pkey())}, nil
}

func equalAttrs(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// del is LDAPDelete: each key, "continue" collects failures.
func (c *call) del(k *kindDef) (map[string]any, *Error) {
	var deleted, failed []string
	for _, raw := range c.strs(k.pkey) {
		e, key, err := c.lookup(k, raw)
		if err == nil && k.name == "host" {
			// host_del.pre_callback → host_is_master.
			if g := c.s.st.get("hostgroup", "ipaservers"); g != nil && containsFold(g.Attrs["member"], e.ref()) {
				err = errValidation("hostname", "An IPA master host cannot be deleted or disabled")
			}
		}
		if err != nil {
			if !c.flag("continue") {
				return nil, err
			}
			failed = append(failed, key)
			continue
		}
		c.s.st.remove(k.name, e.pkey())
		c.s.st.dropRefs(e.ref())
		if k.name == "host" {
			for _, svc := range c.s.st.sorted("service") {
				_, rest, _ := strings.Cut(svc.pkey(), "/")
				if h, _, _ := strings.Cut(rest, "@"); h == e.pkey() {
					c.s.st.remove("service", svc.pkey())
					c.s.st.dropRefs(svc.ref())
				}
			}
			if c.flag("updatedns") {
				delete(c.s.st.dns, e.pkey())
			}
		}
		deleted = append(deleted, e.pkey())
	}
	if failed == nil {
		failed = []string{}
	}
	if deleted == nil {
		deleted = []string{}
	}
	return map[string]any{
		"result":  map[string]any{"failed": c.value(failed)},
		"value":   c.value(deleted),
		"summary": fmt.Sprintf(k.sumDel, strings.Join(deleted, ",")),
	}, nil
}

// member is LDAPAddMember/LDAPRemoveMember: per-member failures are
// reported in "failed", not as errors; "completed" counts the changes.
func (c *call) member(m memberCmd) (map[string]any, *Error) {
	k := kinds[m.kind]
	e, _, err := c.lookup(k, c.str(k.pkey))
	if err != nil {
		return nil, err
	}
	if m.add && m.category != "" && strings.EqualFold(first(e.Attrs[m.category]), "all") {
		return nil, errMutuallyExclusive(m.what)
	}
	memberKinds := k.memberAttrs[m.attr]
	failed := map[string]any{}
	byKind := map[string]any{}
	failed[m.attr] = byKind
	completed := 0
	for _, mk := range memberKinds {
		fails := [][]string{}
		for _, raw := range c.strs(mk) {
			name := raw
			var target *entry
			if kd := kinds[mk]; kd != nil {
				if t, key, err := c.lookup(kd, raw); err == nil {
					target, name = t, t.pkey()
				} else if key != "" {
					name = key
				}
			}
			ref := mk + ":" + name
			cur := e.Attrs[m.attr]
			switch {
			case m.add && target == nil && m.external != "":
				if containsFold(e.Attrs[m.external], name) {
					fails = append(fails, []string{raw, msgAlreadyMember})
				} else {
					e.Attrs[m.external] = append(e.Attrs[m.external], name)
					completed++
				}
			case m.add && target == nil:
				fails = append(fails, []string{raw, msgNoSuchEntry})
			case m.add && target == e && nestingKinds[mk]:
				fails = append(fails, []string{raw, msgSameGroup})
			case m.add && containsFold(cur, ref):
				fails = append(fails, []string{raw, msgAlreadyMember})
			case m.add:
				e.Attrs[m.attr] = append(cur, ref)
				completed++
			case containsFold(cur, ref):
				e.Attrs[m.attr] = slices.DeleteFunc(cur, func(v string) bool { return strings.EqualFold(v, ref) })
				if len(e.Attrs[m.attr]) == 0 {
					delete(e.Attrs, m.attr)
				}
				completed++
			case m.external != "" && containsFold(e.Attrs[m.external], name):
				e.Attrs[m.external] = slices.DeleteFunc(e.Attrs[m.external], func(v string) bool { return strings.EqualFold(v, name) })
				if len(e.Attrs[m.external]) == 0 {
					delete(e.Attrs, m.external)
				}
				completed++
			default:
				fails = append(fails, []string{raw, msgNotMember})
			}
		}
		byKind[mk] = fails
	}
	if m.attr == "memberhost" && m.add {
		for _, mask := range c.strs("hostmask") {
			if !containsFold(e.Attrs["hostmask"], mask) {
				e.Attrs["hostmask"] = append(e.Attrs["hostmask"], mask)
				completed++
			}
		}
	}
	return map[string]any{"completed": completed, "failed": failed, "result": c.render(e, c.view(false))}, nil
}

func (c *call) enable(on bool) (map[string]any, *Error) {
	e, _, err := c.lookup(kinds["sudorule"], c.str("cn"))
	if err != nil {
		return nil, err
	}
	v := "FALSE"
	if on {
		v = "TRUE"
	}
	e.Attrs["ipaenabledflag"] = []string{v}
	return map[string]any{"result": true}, nil
}

// sudoCategoryCheck is sudorule_mod.pre_callback (ipaserver/plugins/
// sudorule.py): a category cannot become 'all' while the rule has members
// of that kind.
func sudoCategoryCheck(c *call, e *entry) *Error {
	for _, ci := range []struct {
		cat, typ, objects string
		attrs             []string
	}{
		{"usercategory", "user", "users", []string{"memberuser", "externaluser"}},
		{"hostcategory", "host", "hosts", []string{"memberhost", "externalhost", "hostmask"}},
		{"cmdcategory", "command", "commands", []string{"memberallowcmd"}},
	} {
		if !strings.EqualFold(c.str(ci.cat), "all") {
			continue
		}
		for _, a := range ci.attrs {
			if len(e.Attrs[a]) > 0 {
				return errMutuallyExclusive(fmt.Sprintf("%s category cannot be set to 'all' while there are allowed %s", ci.typ, ci.objects))
			}
		}
	}
	return nil
}
