package sim

import (
	"fmt"
	"slices"
	"strings"
)

// The commands that change entries: *_mod, *_del, the member commands
// and *_enable/*_disable.

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

// sudoOption is sudorule_add_option / sudorule_remove_option
// (ipaserver/plugins/sudorule.py): ipasudoopt+ values are added (one
// already set is DuplicateEntry) or removed (one not set is
// AttrValueNotFound), all or none; the answer is the rule with its default
// attributes.
func (c *call) sudoOption(add bool) (map[string]any, *Error) {
	k := kinds["sudorule"]
	e, _, err := c.lookup(k, c.str("cn"))
	if err != nil {
		return nil, err
	}
	opts := c.strs("ipasudoopt")
	if len(opts) == 0 {
		return nil, errEmptyModlist()
	}
	have := slices.Clone(e.Attrs["ipasudoopt"])
	for _, o := range opts {
		i := slices.Index(have, o) // sudo options compare case-sensitively
		switch {
		case add && i >= 0:
			return nil, errDuplicate("This entry already exists")
		case add:
			have = append(have, o)
		case i < 0:
			return nil, errAttrValueNotFound("ipasudoopt", o)
		default:
			have = slices.Delete(have, i, i+1)
		}
	}
	e.Attrs["ipasudoopt"] = have
	return map[string]any{"result": c.render(e, c.view(false)), "value": e.pkey(), "summary": nil}, nil
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
