package sim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The *_add commands: LDAPCreate with the host, service and user rules.

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
	def("homedirectory", HomesRootDir+"/"+uid)
	def("loginshell", DefaultLoginShell)
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
