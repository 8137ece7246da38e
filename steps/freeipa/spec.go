package freeipa

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The kinds of the backend.
const (
	KindHost      = "freeipa.host"
	KindHostGroup = "freeipa.hostgroup"
	KindService   = "freeipa.service"
	KindUser      = "freeipa.user"
	KindGroup     = "freeipa.group"
	KindSudoRule  = "freeipa.sudorule"
)

// allKinds lists the kinds of the backend.
var allKinds = []string{KindHost, KindHostGroup, KindService, KindUser, KindGroup, KindSudoRule}

// In every spec, an optional field that is absent (null) is not managed:
// the runner leaves the live value alone. An empty string or list is
// managed and clears the value.

// HostSpec is a freeipa.host: a machine that can enrol with
// ipa-client-install.
type HostSpec struct {
	FQDN        string  `json:"fqdn"`
	Description *string `json:"description,omitempty"`
	Locality    *string `json:"locality,omitempty"` // l
	Location    *string `json:"location,omitempty"` // nshostlocation
	// IPAddress is passed to host_add (IPA DNS adds A/PTR records); create only.
	IPAddress string `json:"ipAddress,omitempty"`
	// Force creates the host even if its name does not resolve (DNS not
	// served by FreeIPA); create only.
	Force bool `json:"force,omitempty"`
	// HostGroups are the host groups the host is a direct member of.
	HostGroups *[]string `json:"hostGroups,omitempty"`
	// ManagedBy are other hosts allowed to manage this one.
	ManagedBy *[]string `json:"managedBy,omitempty"`
	// OneTimePassword: on create, ask FreeIPA for a random enrolment
	// password and write it to the secret directory (default true).
	OneTimePassword *bool `json:"oneTimePassword,omitempty"`
	// DeleteEnrolled allows deleting the host although it is enrolled
	// (has a keytab). It must be pushed before the host is removed.
	DeleteEnrolled bool `json:"deleteEnrolled,omitempty"`
}

// HostGroupSpec is a freeipa.hostgroup.
type HostGroupSpec struct {
	Name        string    `json:"name"`
	Description *string   `json:"description,omitempty"`
	Hosts       *[]string `json:"hosts,omitempty"`      // member hosts
	HostGroups  *[]string `json:"hostGroups,omitempty"` // member host groups
}

// ServiceSpec is a freeipa.service, e.g. HTTP/nextcloud.example.test.
type ServiceSpec struct {
	// Principal is SERVICE/HOST, without the realm.
	Principal string `json:"principal"`
	// ManagedBy are further hosts allowed to manage the service (and fetch
	// its keytab); the service's own host always is.
	ManagedBy *[]string `json:"managedBy,omitempty"`
	// Force creates the service even if its host name does not resolve;
	// create only.
	Force bool `json:"force,omitempty"`
}

// UserSpec is a freeipa.user. Passwords are never managed.
type UserSpec struct {
	UID        string    `json:"uid"`
	FirstName  string    `json:"firstName"`
	LastName   string    `json:"lastName"`
	Email      *[]string `json:"email,omitempty"`
	LoginShell *string   `json:"loginShell,omitempty"`
	Title      *string   `json:"title,omitempty"`
}

// GroupSpec is a freeipa.group (a user group).
type GroupSpec struct {
	Name        string    `json:"name"`
	Description *string   `json:"description,omitempty"`
	Users       *[]string `json:"users,omitempty"`
	Groups      *[]string `json:"groups,omitempty"`
	// NonPosix creates a group without a GID; create only.
	NonPosix bool `json:"nonPosix,omitempty"`
}

// SudoRuleSpec is a freeipa.sudorule: who may run what where.
type SudoRuleSpec struct {
	Name        string  `json:"name"`
	Description *string `json:"description,omitempty"`
	// Enabled defaults to true.
	Enabled     *bool     `json:"enabled,omitempty"`
	AllHosts    bool      `json:"allHosts,omitempty"` // hostcategory=all
	Hosts       *[]string `json:"hosts,omitempty"`
	HostGroups  *[]string `json:"hostGroups,omitempty"`
	AllUsers    bool      `json:"allUsers,omitempty"` // usercategory=all
	Users       *[]string `json:"users,omitempty"`
	Groups      *[]string `json:"groups,omitempty"`
	AllCommands bool      `json:"allCommands,omitempty"` // cmdcategory=all
	// Commands are allowed commands (full paths); sudo command entries are
	// created for them when missing.
	Commands *[]string `json:"commands,omitempty"`
	// Options are sudoers options of the rule (ipaSudoOpt), e.g.
	// "!authenticate" or "env_keep+=SSH_AUTH_SOCK" (sudoers(5) "SUDOERS
	// OPTIONS"); case-sensitive.
	Options *[]string `json:"options,omitempty"`
}

// decodeStrict is steps.DecodeStrict plus exact field names: encoding/json
// matches names case-insensitively, so "hostgroups" would pass as
// "hostGroups" and later be written back under another spelling.
func decodeStrict(raw json.RawMessage, v any) error {
	if err := steps.DecodeStrict(raw, v); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil // not an object: DecodeStrict has judged it
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	for k := range keys {
		if !known[k] {
			return steps.FieldErrorf(k, "unknown field (names are case-sensitive; check the spelling)")
		}
	}
	return nil
}

// Decode implements steps.Backend.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return b.decodeSpec(kind, raw)
}

// DecodeLast implements steps.LastDecoder: a spec of the inventory as it
// was applied, whatever backends.freeipa.domains lists today (a host of a
// domain taken out of the list can still be deleted).
func (b *Backend) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	cfg := b.cfg
	cfg.Domains = nil
	return (&Backend{cfg: cfg}).decodeSpec(kind, raw)
}

// decodeSpec strictly decodes and validates a spec of kind.
func (b *Backend) decodeSpec(kind string, raw json.RawMessage) (steps.Spec, error) {
	switch kind {
	case KindHost:
		return decodeChecked(raw, b.checkHost)
	case KindHostGroup:
		return decodeChecked(raw, b.checkHostGroup)
	case KindService:
		return decodeChecked(raw, b.checkService)
	case KindUser:
		return decodeChecked(raw, checkUser)
	case KindGroup:
		return decodeChecked(raw, checkGroup)
	case KindSudoRule:
		return decodeChecked(raw, b.checkSudoRule)
	}
	return nil, steps.FieldErrorf("", "kind %s is not a FreeIPA kind (%s)", kind, strings.Join(allKinds, ", "))
}

// decodeChecked strictly decodes raw as a T and validates it with check. A
// spec with bad values fails with every problem at once: an errors.Join of
// *steps.FieldError, one per field.
func decodeChecked[T any](raw json.RawMessage, check func(*problems, *T)) (steps.Spec, error) {
	var s T
	if err := decodeStrict(raw, &s); err != nil {
		return nil, err
	}
	var p problems
	check(&p, &s)
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// problems collects the bad fields of one spec, in field order.
type problems []error

// add records a problem of field.
func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, steps.FieldErrorf(field, format, args...))
}

// err is nil without problems, else the errors.Join of them.
func (p problems) err() error { return errors.Join(p...) }

func (b *Backend) checkHostGroup(p *problems, s *HostGroupSpec) {
	checkName(p, "name", s.Name)
	b.checkHosts(p, "hosts", s.Hosts)
	checkNames(p, "hostGroups", s.HostGroups)
}

func (b *Backend) checkService(p *problems, s *ServiceSpec) {
	svc, host, ok := strings.Cut(s.Principal, "/")
	if !ok || svc == "" || host == "" || strings.Contains(s.Principal, "@") {
		p.add("principal", "want SERVICE/HOST without the realm, e.g. HTTP/web1.example.test, got %q", s.Principal)
	} else {
		b.checkFQDN(p, "principal", host)
	}
	b.checkHosts(p, "managedBy", s.ManagedBy)
}

func checkUser(p *problems, s *UserSpec) {
	checkName(p, "uid", s.UID)
	if s.FirstName == "" {
		p.add("firstName", "is required")
	}
	if s.LastName == "" {
		p.add("lastName", "is required")
	}
}

func checkGroup(p *problems, s *GroupSpec) {
	checkName(p, "name", s.Name)
	checkNames(p, "users", s.Users)
	checkNames(p, "groups", s.Groups)
}

func (b *Backend) checkSudoRule(p *problems, s *SudoRuleSpec) {
	if s.Name == "" {
		p.add("name", "is required")
	}
	if s.AllHosts && (len(deref(s.Hosts)) > 0 || len(deref(s.HostGroups)) > 0) {
		p.add("allHosts", "cannot be combined with hosts or hostGroups (FreeIPA refuses members when the category is all)")
	}
	b.checkHosts(p, "hosts", s.Hosts)
	checkNames(p, "hostGroups", s.HostGroups)
	if s.AllUsers && (len(deref(s.Users)) > 0 || len(deref(s.Groups)) > 0) {
		p.add("allUsers", "cannot be combined with users or groups")
	}
	checkNames(p, "users", s.Users)
	checkNames(p, "groups", s.Groups)
	if s.AllCommands && len(deref(s.Commands)) > 0 {
		p.add("allCommands", "cannot be combined with commands")
	}
	for i, c := range deref(s.Commands) {
		if !strings.HasPrefix(c, "/") {
			p.add("commands["+itoa(i)+"]", "want a full path such as /usr/bin/systemctl, got %q", c)
		}
	}
	for i, o := range deref(s.Options) {
		// sudorule_add_option refuses an empty option (EmptyModlist); sudo
		// reads a Defaults entry up to white space.
		if o == "" || strings.TrimSpace(o) != o {
			p.add("options["+itoa(i)+"]", "want a sudoers option such as !authenticate, without surrounding spaces, got %q", o)
		}
	}
	dupCheck(p, "options", deref(s.Options))
}

func (b *Backend) checkHost(p *problems, s *HostSpec) {
	b.checkFQDN(p, "fqdn", s.FQDN)
	if s.IPAddress != "" {
		if _, err := netip.ParseAddr(s.IPAddress); err != nil {
			p.add("ipAddress", "%q is not an IP address", s.IPAddress)
		}
	}
	checkNames(p, "hostGroups", s.HostGroups)
	b.checkHosts(p, "managedBy", s.ManagedBy)
}

// checkFQDN checks a host name as ipalib.util.validate_hostname does, and
// against the config's domains when it names any.
func (b *Backend) checkFQDN(p *problems, field, h string) {
	switch {
	case h == "":
		p.add(field, "is required")
	case h != strings.ToLower(h) || strings.HasSuffix(h, "."):
		p.add(field, "write the host name in lower case without a trailing dot, got %q", h)
	case !strings.Contains(h, "."):
		p.add(field, "%q is not fully qualified: want a name such as %s.example.test", h, h)
	case slices.ContainsFunc(strings.Split(h, "."), badLabel):
		p.add(field, "%q is not a valid host name (letters, digits and -, labels not starting or ending with -)", h)
	case len(b.cfg.Domains) > 0 && !slices.ContainsFunc(b.cfg.Domains, func(d string) bool { return strings.HasSuffix(h, "."+d) }):
		p.add(field, "%s is not in a domain this FreeIPA manages (%s)", h, strings.Join(b.cfg.Domains, ", "))
	}
}

// badLabel reports whether l is not a host name label (ipalib.util
// validate_dns_label: letters, digits and -, not at either end, 1-63).
func badLabel(l string) bool {
	return l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") ||
		strings.IndexFunc(l, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' }) >= 0
}

func (b *Backend) checkHosts(p *problems, field string, hs *[]string) {
	for i, h := range deref(hs) {
		b.checkFQDN(p, field+"["+itoa(i)+"]", h)
	}
	dupCheck(p, field, deref(hs))
}

func checkName(p *problems, field, n string) {
	switch {
	case n == "":
		p.add(field, "is required")
	case n != strings.ToLower(n):
		p.add(field, "write %q in lower case (FreeIPA stores names in lower case)", n)
	case strings.ContainsAny(n, " /,"):
		p.add(field, "%q: no spaces, slashes or commas", n)
	}
}

func checkNames(p *problems, field string, ns *[]string) {
	for i, n := range deref(ns) {
		checkName(p, field+"["+itoa(i)+"]", n)
	}
	dupCheck(p, field, deref(ns))
}

func dupCheck(p *problems, field string, l []string) {
	s := slices.Clone(l)
	slices.Sort(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] && (i == 1 || s[i] != s[i-2]) {
			p.add(field, "%q is listed twice", s[i])
		}
	}
}

func deref(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

func itoa(i int) string { return strconv.Itoa(i) }
