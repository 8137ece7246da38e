package acme

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Kind is the resource kind of a certificate.
const Kind = "acme.certificate"

// Spec is the desired state of one certificate (kind acme.certificate).
type Spec struct {
	// Domains are the certificate's names (SANs); the first is the subject.
	// Wildcards ("*.apps.example.com") are allowed: challenges are DNS-01.
	Domains []string `json:"domains"`
	// KeyType is ec256 (default), ec384, rsa2048 or rsa4096.
	KeyType string `json:"keyType,omitempty"`
	// RenewBefore renews this long before expiry ("30d", "720h"); empty: the
	// CA's ARI window when it offers one, else 30 days.
	RenewBefore string `json:"renewBefore,omitempty"`
	// Challenge is the ACME challenge type; only "dns-01" (the default) is
	// supported.
	Challenge string `json:"challenge,omitempty"`
	// Zone is the DNS zone that must contain every domain (a check; the
	// solver finds the hosted zone itself). Empty: any configured zone.
	Zone string `json:"zone,omitempty"`
	// Deploy says where and how the files are written.
	Deploy Deploy `json:"deploy,omitempty"`
}

// Deploy is where a certificate's files go on the runner host.
type Deploy struct {
	// Dir holds {cert,chain,fullchain,privkey}.pem; relative to the
	// certificate root, or absolute inside it. Default live/<name>, the
	// certbot layout.
	Dir string `json:"dir,omitempty"`
	// Owner and Group (names or numeric IDs) own the files; empty: unchanged
	// (the runner's user).
	Owner string `json:"owner,omitempty"`
	Group string `json:"group,omitempty"`
	// Mode is the mode of cert.pem, chain.pem and fullchain.pem (default
	// "0644"); KeyMode that of privkey.pem (default "0600"; never
	// world-readable).
	Mode    string `json:"mode,omitempty"`
	KeyMode string `json:"keyMode,omitempty"`
	// Reload runs after new files are in place.
	Reload *Reload `json:"reload,omitempty"`
}

// Reload is a command run after a deploy (e.g. to reload a web server).
type Reload struct {
	// Command is the program and its arguments (no shell).
	Command []string `json:"command"`
	// Timeout kills the command after this long (default "30s").
	Timeout string `json:"timeout,omitempty"`
}

// keyTypes maps spec key types to lego's.
var keyTypes = map[string]certcrypto.KeyType{
	"ec256":   certcrypto.EC256,
	"ec384":   certcrypto.EC384,
	"rsa2048": certcrypto.RSA2048,
	"rsa4096": certcrypto.RSA4096,
}

// validated is a decoded spec with its parsed values.
type validated struct {
	domains     []string // lower case, as given (order kept)
	keyType     string
	renewBefore time.Duration // 0: ARI or 30 days
	mode        uint32
	keyMode     uint32
	reloadWait  time.Duration
}

const defaultRenewBefore = 30 * 24 * time.Hour

// Decode implements steps.Backend: a strict Spec.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeKind(kind, raw, b.cfg)
}

// DecodeLast implements steps.LastDecoder: a spec of the inventory as it
// was applied, whatever zones backends.acme lists today (deleting a
// certificate's files solves no challenge); the deploy directory and the
// reload command are checked as in Decode.
func (b *Backend) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	cfg := b.cfg
	cfg.zones = nil
	return decodeKind(kind, raw, cfg)
}

// decodeKind is decodeSpec of a resource of kind.
func decodeKind(kind string, raw json.RawMessage, cfg settings) (steps.Spec, error) {
	if kind != Kind {
		return nil, fmt.Errorf("the acme backend has no kind %q", kind)
	}
	return decodeSpec(raw, cfg)
}

// specOf is the spec a target is observed and deleted by.
func specOf(t steps.Target) (Spec, bool) {
	if s, ok := t.Want.(Spec); ok {
		return s, true
	}
	s, ok := t.Last.(Spec)
	return s, ok
}

func decodeSpec(raw json.RawMessage, cfg settings) (Spec, error) {
	var s Spec
	var p steps.Problems
	if err := p.Decode(raw, &s); err != nil {
		return s, err // not an object: nothing to check
	}
	// Every problem at once: the checks of the fields that decoded, too.
	_, err := s.check(cfg)
	p.AddNew(err)
	if err := p.Err(); err != nil {
		return s, err
	}
	// Normalise so that the inventory and diffs compare like with like.
	for i, d := range s.Domains {
		s.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if s.KeyType == "" {
		s.KeyType = "ec256"
	}
	return s, nil
}

// check validates the spec; it does no I/O. The error names every bad
// field (one *steps.FieldError, or an errors.Join of them).
func (s Spec) check(cfg settings) (validated, error) {
	var v validated
	var p steps.Problems
	if len(s.Domains) == 0 {
		p.Addf("domains", "at least one domain is required")
	}
	seen := map[string]bool{}
	for i, d := range s.Domains {
		field := "domains[" + strconv.Itoa(i) + "]"
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if err := checkDomain(d); err != nil {
			p.Addf(field, "%q: %v", s.Domains[i], err)
			continue
		}
		if seen[d] {
			p.Addf(field, "%q is listed twice", d)
			continue
		}
		seen[d] = true
		base := strings.TrimPrefix(d, "*.")
		if s.Zone != "" && !inZone(base, canonicalName(s.Zone)) {
			p.Addf(field, "%q is not in zone %s", d, s.Zone)
			continue
		}
		if len(cfg.zones) > 0 && !slices.ContainsFunc(cfg.zones, func(z string) bool { return inZone(base, z) }) {
			p.Addf(field, "%q is in no DNS zone the runner manages (%s): DNS-01 needs a TXT record in a managed zone",
				d, strings.Join(cfg.zones, ", "))
			continue
		}
		v.domains = append(v.domains, d)
	}
	if s.Zone != "" && len(cfg.zones) > 0 && !slices.Contains(cfg.zones, canonicalName(s.Zone)) {
		p.Addf("zone", "%q is not a zone the runner manages (%s)", s.Zone, strings.Join(cfg.zones, ", "))
	}
	switch s.Challenge {
	case "", "dns-01":
	case "http-01", "tls-alpn-01":
		p.Addf("challenge", "%q is not supported: this runner solves only DNS-01 (through the DNS backend), which also covers wildcards and hosts not reachable from the internet; remove the field", s.Challenge)
	default:
		p.Addf("challenge", "unknown challenge type %q; only dns-01 is supported", s.Challenge)
	}
	v.keyType = s.KeyType
	if v.keyType == "" {
		v.keyType = "ec256"
	}
	if _, ok := keyTypes[v.keyType]; !ok {
		p.Addf("keyType", "unknown key type %q; want one of ec256 (default), ec384, rsa2048, rsa4096", s.KeyType)
	}
	if s.RenewBefore != "" {
		d, err := ParseDuration(s.RenewBefore)
		if err != nil || d == 0 {
			p.Addf("renewBefore", "%q is not a positive duration; want e.g. 30d or 720h", s.RenewBefore)
		}
		v.renewBefore = d
	}
	if _, err := deployDir(cfg.certRoot, s.Deploy.Dir, "x"); err != nil {
		p.Addf("deploy.dir", "%v", err)
	}
	var err error
	if v.mode, err = parseMode(s.Deploy.Mode, 0o644); err != nil {
		p.Addf("deploy.mode", "%v", err)
	}
	if v.keyMode, err = parseMode(s.Deploy.KeyMode, 0o600); err != nil {
		p.Addf("deploy.keyMode", "%v", err)
	} else if v.keyMode&0o007 != 0 {
		p.Addf("deploy.keyMode", "%s would make the private key readable by every user; use 0600 or 0640 with a group", s.Deploy.KeyMode)
	}
	if r := s.Deploy.Reload; r != nil {
		switch {
		case len(r.Command) == 0 || r.Command[0] == "":
			p.Addf("deploy.reload.command", "give the program and its arguments, e.g. [\"systemctl\", \"reload\", \"apache2\"]")
		case !slices.Contains(cfg.reloadAllowed, r.Command[0]):
			p.Addf("deploy.reload.command", "program %q is not allowed: the runner runs only the reload programs listed in backends.acme.reloadAllowed (now: %s)",
				r.Command[0], strings.Join(cfg.reloadAllowed, ", "))
		}
		v.reloadWait = 30 * time.Second
		if r.Timeout != "" {
			d, err := ParseDuration(r.Timeout)
			if err != nil || d == 0 {
				p.Addf("deploy.reload.timeout", "%q is not a positive duration", r.Timeout)
			}
			v.reloadWait = d
		}
	}
	return v, p.Err()
}

// checkDomain accepts a DNS name, with an optional leading "*." label.
func checkDomain(d string) error {
	if net.ParseIP(d) != nil {
		return fmt.Errorf("IP addresses are not supported; give a DNS name")
	}
	base, wild := strings.CutPrefix(d, "*.")
	if strings.Contains(base, "*") {
		return fmt.Errorf("a wildcard may only be the whole first label (*.example.com)")
	}
	labels := strings.Split(base, ".")
	if len(labels) < 2 || len(d) > 253 {
		return fmt.Errorf("not a fully qualified domain name")
	}
	if wild && len(labels) < 2 {
		return fmt.Errorf("a wildcard needs at least two labels below it")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("empty or over-long label")
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("character %q is not allowed in a domain name", c)
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("a label may not start or end with '-'")
		}
	}
	return nil
}

// canonicalName lower-cases a name and drops the trailing dot.
func canonicalName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// inZone reports whether name is zone or below it.
func inZone(name, zone string) bool { return name == zone || strings.HasSuffix(name, "."+zone) }

func parseMode(s string, def uint32) (uint32, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode such as \"0640\"", s)
	}
	return uint32(m), nil
}

// deployDir resolves a deploy directory against the certificate root and
// refuses one outside it (lexically; Apply re-checks with symlinks resolved).
func deployDir(root, dir, name string) (string, error) {
	if dir == "" {
		dir = filepath.Join("live", name)
	}
	p := dir
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	p = filepath.Clean(p)
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%q is outside the certificate root %s (set by backends.acme.certRoot)", dir, root)
	}
	return p, nil
}
