package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// internal runs a command from Go setup code: same validation and
// behaviour as over HTTP, but not counted or logged.
func (s *Server) internal(name string, args []any, opts map[string]any) (map[string]any, error) {
	cmd, h := s.api[name], handlers[name]
	if cmd == nil || h == nil {
		return nil, fmt.Errorf("freeipa sim: %s: not simulated", name)
	}
	if opts == nil {
		opts = map[string]any{}
	}
	opts["version"] = APIVersion
	params, perr := cmd.bind(args, opts)
	if perr != nil {
		return nil, fmt.Errorf("freeipa sim: %s: %w", name, perr)
	}
	c := &call{s: s, name: name, p: params, clientMinor: minor(APIVersion)}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, herr := h(c)
	if herr != nil {
		return nil, fmt.Errorf("freeipa sim: %s: %w", name, herr)
	}
	return res, nil
}

func anyList(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// AddHost adds a host without DNS checks (force). An enrolled host has a
// keytab, as after ipa-client-install.
func (s *Server) AddHost(fqdn string, enrolled bool) error {
	if _, err := s.internal("host_add", []any{fqdn}, map[string]any{"force": true}); err != nil {
		return err
	}
	if enrolled {
		return s.Enroll(fqdn)
	}
	return nil
}

// addGroup adds a group of kind obj ("hostgroup", "group") with the given
// members of memberType.
func (s *Server) addGroup(obj, name, memberType string, members []string) error {
	if _, err := s.internal(obj+"_add", []any{name}, nil); err != nil {
		return err
	}
	if len(members) == 0 {
		return nil
	}
	return s.addMembers(obj+"_add_member", name, memberType, members)
}

// AddHostGroup adds a host group with the given member hosts.
func (s *Server) AddHostGroup(name string, hosts ...string) error {
	return s.addGroup("hostgroup", name, "host", hosts)
}

// AddService adds a service principal such as "HTTP/web1.int.mydomain"
// for an existing host.
func (s *Server) AddService(principal string) error {
	_, err := s.internal("service_add", []any{principal}, map[string]any{"force": true})
	return err
}

// AddUser adds a user. Users named in Options.Users can log in; others have
// no usable password.
func (s *Server) AddUser(uid, first, last string) error {
	_, err := s.internal("user_add", []any{uid}, map[string]any{"givenname": first, "sn": last})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.passwds[strings.ToLower(uid)]; ok {
		if e := s.st.get("user", uid); e != nil {
			// The password itself lives in passwds, never in the entry.
			e.Attrs["userpassword"] = []string{storedPassword}
			e.Attrs["krbprincipalkey"] = []string{"simulated"}
		}
	}
	return nil
}

// AddGroup adds a user group with the given member users.
func (s *Server) AddGroup(name string, users ...string) error {
	return s.addGroup("group", name, "user", users)
}

func (s *Server) addMembers(cmd, name, kind string, members []string) error {
	res, err := s.internal(cmd, []any{name}, map[string]any{kind: anyList(members)})
	if err != nil {
		return err
	}
	if n, _ := res["completed"].(int); n != len(members) {
		return fmt.Errorf("freeipa sim: %s %s: %d of %d members added: %v", cmd, name, n, len(members), res["failed"])
	}
	return nil
}

// AddDNSRecord makes fqdn resolve to ip, as an A/AAAA record in a zone
// IPA manages would.
func (s *Server) AddDNSRecord(fqdn, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	s.st.dns[fqdn] = append(s.st.dns[fqdn], ip)
}

// Enroll simulates ipa-client-install on the host: the one-time password
// is used up and the host gets a keytab (has_keytab true, has_password false).
func (s *Server) Enroll(fqdn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	e := s.st.get("host", fqdn)
	if e == nil {
		return fmt.Errorf("freeipa sim: enroll: %w", errNoEntry(fqdn, "host"))
	}
	delete(e.Attrs, "userpassword")
	e.Attrs["krbprincipalkey"] = []string{"simulated"}
	// ipa-pwd-extop sets krbLastPwdChange when it stores a host's keys
	// (ipa_pwd_extop.c set_krbLastPwdChange; prepost.c: "krbLastPwdChange is
	// used to tell whether we have a valid keytab"). Readable by all
	// (host.py "System: Read Hosts"), so host_find all=True returns it.
	e.Attrs["krblastpwdchange"] = []string{s.opts.Now().UTC().Format("20060102150405Z")}
	p := "host/" + fqdn + "@" + s.opts.Realm
	if len(e.Attrs["krbprincipalname"]) == 0 {
		e.Attrs["krbprincipalname"] = []string{p}
		e.Attrs["krbcanonicalname"] = []string{p}
	}
	return nil
}

// snapshotV1 is the Snapshot format.
type snapshotV1 struct {
	Format  int                 `json:"format"`
	Realm   string              `json:"realm"`
	Domain  string              `json:"domain"`
	NextID  int                 `json:"next_id"`
	Entries []*entry            `json:"entries"`
	DNS     map[string][]string `json:"dns"`
}

// Snapshot returns the directory state as JSON (entries, DNS records, ID
// counter). Sessions, counters and login passwords are not included.
func (s *Server) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshotV1{Format: 1, Realm: s.opts.Realm, Domain: s.opts.Domain, NextID: s.st.nextID, DNS: s.st.dns}
	for _, k := range kindOrder {
		snap.Entries = append(snap.Entries, s.st.sorted(k)...)
	}
	b, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		return nil, fmt.Errorf("freeipa sim: snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the directory state with a Snapshot of a server with the
// same realm and domain.
func (s *Server) Restore(data []byte) error {
	var snap snapshotV1
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("freeipa sim: restore: %w", err)
	}
	if snap.Format != 1 {
		return fmt.Errorf("freeipa sim: restore: unknown snapshot format %d", snap.Format)
	}
	if snap.Realm != s.opts.Realm || snap.Domain != s.opts.Domain {
		return fmt.Errorf("freeipa sim: restore: snapshot is of %s/%s, server is %s/%s", snap.Realm, snap.Domain, s.opts.Realm, s.opts.Domain)
	}
	st := newStore()
	for _, e := range snap.Entries {
		if e == nil || kinds[e.Kind] == nil || e.pkey() == "" {
			return errors.New("freeipa sim: restore: bad entry")
		}
		st.put(e)
	}
	if snap.DNS != nil {
		st.dns = snap.DNS
	}
	st.nextID = max(snap.NextID, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	return nil
}

// The reference homelab (homelab-infrastructure.md): realm INT.MYDOMAIN,
// one /24 network and DNS domain per site, and a two-node FreeIPA cluster:
// a VPS at OVH and a replica in an LXC container on the Hetzner server.
// The document does not name the machines; these names follow its
// "<site>.int.mydomain" pattern.
const (
	HomelabRealm  = "INT.MYDOMAIN"
	HomelabDomain = "int.mydomain"
)

// HomelabServers returns the two IPA servers of the reference homelab,
// the first (at OVH) being the one HomelabOptions serves as.
func HomelabServers() []string {
	return []string{"ipa.ovh.int.mydomain", "ipa.hetzner.int.mydomain"}
}

// HomelabOptions returns Options for the reference homelab with an admin
// user whose password is adminPassword. Host is the first IPA server; set
// it to the name clients use in their Referer when that differs.
func HomelabOptions(adminPassword string) Options {
	return Options{
		Realm:  HomelabRealm,
		Domain: HomelabDomain,
		Host:   HomelabServers()[0],
		Users:  map[string]string{"admin": adminPassword},
		DNSZones: []string{
			"int.mydomain", "hetzner.int.mydomain", "flat1.int.mydomain",
			"flat2.int.mydomain", "ovh.int.mydomain",
		},
	}
}

// SeedHomelab adds what a freshly installed two-server FreeIPA has: the
// servers as enrolled hosts with HTTP and ldap services, the ipaservers host
// group, and the admins (with admin) and ipausers groups.
func (s *Server) SeedHomelab() error {
	servers := HomelabServers()
	for _, h := range servers {
		if err := s.AddHost(h, true); err != nil {
			return err
		}
		for _, svc := range []string{"HTTP", "ldap"} {
			if err := s.AddService(svc + "/" + h); err != nil {
				return err
			}
		}
	}
	if err := s.AddHostGroup("ipaservers", servers...); err != nil {
		return err
	}
	admins := []string{}
	s.mu.Lock()
	if s.st.get("user", "admin") != nil {
		admins = append(admins, "admin")
	}
	s.mu.Unlock()
	if err := s.AddGroup("admins", admins...); err != nil {
		return err
	}
	return s.AddGroup("ipausers")
}
