package route53

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Kind is the resource kind of a Route 53 record set.
const Kind = "route53.record"

// DefaultTTL is the TTL of a record set whose spec names none.
const DefaultTTL = 300

// maxTTL is the largest TTL Route 53 accepts (a signed 32-bit number).
const maxTTL = math.MaxInt32

// maxValueChars bounds the characters of one record set's values: a change
// batch holds at most 32,000 and an UPSERT counts double (docs/api-facts.md §4), so a
// larger set could never be updated.
const maxValueChars = 16000

// Spec is the desired state of one record set: the decoded, normalized form
// of a route53.record resource. Decode(json.Marshal(spec)) returns the same
// spec.
type Spec struct {
	// Zone is the hosted zone's name, lower case, without the trailing dot.
	Zone string `json:"zone"`
	// Name is the record's fully qualified name, lower case, without the
	// trailing dot ("blog.mydomain.com", "*.apps.mydomain.com").
	Name string `json:"name"`
	// Type is the record type in upper case.
	Type string `json:"type"`
	// TTL in seconds; nil for alias records (they take the target's TTL).
	TTL *int64 `json:"ttl,omitempty"`
	// Values in canonical form, sorted. TXT values are the plain strings
	// (quoting and splitting happen on the wire).
	Values []string `json:"values,omitempty"`
	// Alias points the record at another record set of the same zone.
	Alias *Alias `json:"alias,omitempty"`
}

// Alias is the target of an alias record: a name in the same hosted zone
// with a record set of the same type.
type Alias struct {
	// Name is the target, fully qualified, lower case, without the trailing dot.
	Name string `json:"name"`
	// EvaluateTargetHealth is Route 53's flag of the same name.
	EvaluateTargetHealth bool `json:"evaluateTargetHealth,omitempty"`
}

// input is a spec as users write it; the routing-policy fields exist only to
// refuse them with a clear message.
type input struct {
	Zone   string           `json:"zone"`
	Name   string           `json:"name"`
	Type   string           `json:"type"`
	TTL    *int64           `json:"ttl"`
	Values []string         `json:"values"`
	Alias  *json.RawMessage `json:"alias"`

	SetIdentifier           json.RawMessage `json:"setIdentifier"`
	Weight                  json.RawMessage `json:"weight"`
	Region                  json.RawMessage `json:"region"`
	Failover                json.RawMessage `json:"failover"`
	GeoLocation             json.RawMessage `json:"geoLocation"`
	GeoProximityLocation    json.RawMessage `json:"geoProximityLocation"`
	MultiValueAnswer        json.RawMessage `json:"multiValueAnswer"`
	HealthCheckID           json.RawMessage `json:"healthCheckId"`
	CidrRoutingConfig       json.RawMessage `json:"cidrRoutingConfig"`
	TrafficPolicyInstanceID json.RawMessage `json:"trafficPolicyInstanceId"`
}

// supportedTypes are the record types a route53.record may have (issue 5).
var supportedTypes = map[string]bool{
	"A": true, "AAAA": true, "CNAME": true, "TXT": true, "MX": true,
	"SRV": true, "CAA": true, "NS": true,
}

// aliasTypes are the types an alias record may have.
var aliasTypes = map[string]bool{"A": true, "AAAA": true, "CNAME": true, "TXT": true, "MX": true, "SRV": true, "CAA": true}

// decodeSpec strictly decodes and normalizes a spec. zones, when not empty,
// restricts the zones a record may be in. The error names every bad field:
// one *steps.FieldError, or an errors.Join of them.
func decodeSpec(raw json.RawMessage, zones []string) (Spec, error) {
	var in input
	var p steps.Problems
	if err := p.Decode(raw, &in); err != nil {
		return Spec{}, err // not an object: nothing to check
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{
		{"setIdentifier", in.SetIdentifier}, {"weight", in.Weight}, {"region", in.Region},
		{"failover", in.Failover}, {"geoLocation", in.GeoLocation},
		{"geoProximityLocation", in.GeoProximityLocation}, {"multiValueAnswer", in.MultiValueAnswer},
		{"healthCheckId", in.HealthCheckID}, {"cidrRoutingConfig", in.CidrRoutingConfig},
		{"trafficPolicyInstanceId", in.TrafficPolicyInstanceID},
	} {
		if f.v != nil {
			p.Addf(f.name, "routing policies (weighted, latency, failover, geolocation, multivalue, health checks) are not supported: declare one simple record set per name and type")
		}
	}
	var checked steps.Problems
	s := checkFields(in, zones, &checked)
	p.AddNew(checked.Err())
	if err := p.Err(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// checkFields validates and normalizes in; the Spec is meaningful only when
// p stays empty. A field whose check depends on one found bad (the name on
// the zone, the values on the type) is not checked.
func checkFields(in input, zones []string, p *steps.Problems) Spec {
	var s Spec
	zone, err := normName(in.Zone)
	zoneOK := err == nil && zone != ""
	switch {
	case !zoneOK:
		p.Addf("zone", "want the hosted zone's name, e.g. mydomain.com, got %q", in.Zone)
	case len(zones) > 0 && !slices.Contains(zones, zone):
		p.Addf("zone", "zone %s may not be changed by this runner: backends.route53.zones allows only %s", zone, strings.Join(zones, ", "))
	}
	s.Zone = zone

	nameOK := zoneOK
	if zoneOK {
		name, err := qualify(in.Name, zone)
		if err != nil {
			p.Addf("name", "%v", err)
			nameOK = false
		}
		s.Name = name
	}

	s.Type = strings.ToUpper(strings.TrimSpace(in.Type))
	typeOK := false
	switch {
	case s.Type == "":
		p.Addf("type", "is required: one of A, AAAA, CNAME, TXT, MX, SRV, CAA, NS")
	case nameOK && (s.Type == "SOA" || (s.Type == "NS" && s.Name == zone)):
		p.Addf("type", "the apex %s record set of %s belongs to Route 53 and is never changed by the runner", s.Type, zone)
	case !supportedTypes[s.Type]:
		p.Addf("type", "%q is not supported: use one of A, AAAA, CNAME, TXT, MX, SRV, CAA, NS", in.Type)
	case nameOK && s.Type == "CNAME" && s.Name == zone:
		p.Addf("name", "a CNAME is not allowed at the zone apex %s (DNS forbids it beside the SOA and NS); use an alias record (alias: {name: ...}) or A records", zone)
	default:
		typeOK = true
	}

	if in.Alias != nil {
		return checkAlias(s, in, *in.Alias, typeOK, nameOK, p)
	}

	ttl := int64(DefaultTTL)
	if in.TTL != nil {
		ttl = *in.TTL
	}
	if ttl < 0 || ttl > maxTTL {
		p.Addf("ttl", "%d is out of range 0–%d seconds", ttl, maxTTL)
	}
	s.TTL = &ttl

	switch {
	case len(in.Values) == 0:
		p.Addf("values", "at least one value is required (or an alias)")
		return s
	case !typeOK:
		return s // the values are checked against the type
	case s.Type == "CNAME" && len(in.Values) != 1:
		p.Addf("values", "a CNAME has exactly one value, got %d", len(in.Values))
		return s
	}
	seen := map[string]bool{}
	valuesOK := true
	for i, v := range in.Values {
		c, err := canonicalValue(s.Type, v)
		if err != nil {
			p.Addf(fmt.Sprintf("values[%d]", i), "%v", err)
			valuesOK = false
			continue
		}
		if seen[c] {
			p.Addf(fmt.Sprintf("values[%d]", i), "duplicate value %q", v)
			valuesOK = false
			continue
		}
		seen[c] = true
		s.Values = append(s.Values, c)
	}
	slices.Sort(s.Values)
	if n := wireChars(s.Type, s.Values); valuesOK && n > maxValueChars {
		p.Addf("values", "too long: %d characters; one record set may have at most %d (Route 53 allows 32000 per change batch and counts an update twice)", n, maxValueChars)
	}
	return s
}

// checkAlias checks an alias record; typeOK and nameOK say whether the
// type and name passed their checks.
func checkAlias(s Spec, in input, raw json.RawMessage, typeOK, nameOK bool, p *steps.Problems) Spec {
	if len(in.Values) > 0 {
		p.Addf("values", "an alias record has no values: give either values or alias")
	}
	if in.TTL != nil {
		p.Addf("ttl", "an alias record has no TTL of its own (Route 53 uses the target's)")
	}
	if typeOK && !aliasTypes[s.Type] {
		p.Addf("type", "an alias record of type %s is not supported", s.Type)
	}
	var a Alias
	if err := steps.DecodeStrict(raw, &a); err != nil {
		p.Add(steps.PrefixFields("alias", err))
		return s
	}
	if !nameOK {
		return s // the target is qualified in the record's zone
	}
	target, err := qualify(a.Name, s.Zone)
	switch {
	case err != nil:
		p.Addf("alias.name", "%v (an alias must point at a record set in the same zone)", err)
	case target == s.Name:
		p.Addf("alias.name", "an alias cannot point at itself")
	}
	a.Name = target
	s.Alias = &a
	return s
}

// qualify turns a record name as written (relative to the zone, "@" or ""
// for the apex, or fully qualified, with or without the trailing dot) into
// its normalized fully qualified form, and checks that it lies in the zone.
func qualify(name, zone string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || name == "@":
		return zone, nil
	case strings.HasSuffix(name, "."):
		n, err := normName(name)
		if err != nil {
			return "", err
		}
		if !inZone(n, zone) {
			return "", fmt.Errorf("%s is outside zone %s", n, zone)
		}
		return n, nil
	}
	n, err := normName(name)
	if err != nil {
		return "", err
	}
	if inZone(n, zone) {
		return n, nil
	}
	full, err := normName(n + "." + zone)
	if err != nil {
		return "", err
	}
	return full, nil
}

// inZone reports whether name equals zone or lies below it.
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// normName lower-cases a domain name, drops the trailing dot and checks its
// labels. A leading "*" label (wildcard) is allowed.
func normName(s string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if n == "" {
		return "", fmt.Errorf("empty domain name")
	}
	if len(n) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", s)
	}
	for i, l := range strings.Split(n, ".") {
		if l == "" {
			return "", fmt.Errorf("%q has an empty label", s)
		}
		if len(l) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 characters", s)
		}
		if l == "*" && i == 0 {
			continue
		}
		for _, c := range l {
			if !isLDH(c) && c != '_' {
				return "", fmt.Errorf("%q: character %q is not allowed in a domain name (letters, digits, '-', '_'; '*' only as the whole first label)", s, c)
			}
		}
	}
	return n, nil
}

// hostName canonicalizes a host name inside a value: fully qualified with
// the trailing dot, lower case.
func hostName(s string) (string, error) {
	n, err := normName(s)
	if err != nil {
		return "", err
	}
	if !strings.Contains(n, ".") {
		return "", fmt.Errorf("%q is not a fully qualified name (write e.g. %s.mydomain.com)", s, n)
	}
	return n + ".", nil
}

// canonicalValue checks one value of a record type and returns its canonical
// form, in which values written differently but meaning the same compare
// equal (and which live values are brought to, too).
func canonicalValue(typ, v string) (string, error) {
	switch typ {
	case "A":
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || !ip.Is4() {
			return "", fmt.Errorf("%q is not an IPv4 address", v)
		}
		return ip.String(), nil
	case "AAAA":
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
			return "", fmt.Errorf("%q is not an IPv6 address", v)
		}
		return ip.String(), nil
	case "CNAME", "NS":
		return hostName(v)
	case "TXT":
		if len(v) > maxValueChars {
			return "", fmt.Errorf("the string is %d bytes long; at most %d", len(v), maxValueChars)
		}
		return v, nil
	case "MX":
		f := strings.Fields(v)
		if len(f) != 2 {
			return "", fmt.Errorf("%q: want \"PRIORITY HOST\", e.g. \"10 mail.mydomain.com\"", v)
		}
		p, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return "", fmt.Errorf("%q: priority %q is not a number 0–65535", v, f[0])
		}
		h, err := hostName(f[1])
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d %s", p, h), nil
	case "SRV":
		f := strings.Fields(v)
		if len(f) != 4 {
			return "", fmt.Errorf("%q: want \"PRIORITY WEIGHT PORT HOST\", e.g. \"10 5 5060 sip.mydomain.com\"", v)
		}
		var n [3]uint64
		for i := range 3 {
			x, err := strconv.ParseUint(f[i], 10, 16)
			if err != nil {
				return "", fmt.Errorf("%q: %q is not a number 0–65535", v, f[i])
			}
			n[i] = x
		}
		h := "."
		if f[3] != "." {
			var err error
			if h, err = hostName(f[3]); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("%d %d %d %s", n[0], n[1], n[2], h), nil
	case "CAA":
		f := strings.SplitN(strings.TrimSpace(v), " ", 3)
		if len(f) != 3 {
			return "", fmt.Errorf("%q: want \"FLAGS TAG VALUE\", e.g. \"0 issue letsencrypt.org\"", v)
		}
		fl, err := strconv.ParseUint(f[0], 10, 8)
		if err != nil {
			return "", fmt.Errorf("%q: flags %q is not a number 0–255", v, f[0])
		}
		tag := strings.ToLower(f[1])
		for _, c := range tag {
			if !isLDH(c) || c == '-' {
				return "", fmt.Errorf("%q: tag %q must be letters and digits (issue, issuewild, iodef)", v, f[1])
			}
		}
		val := strings.TrimSpace(f[2])
		if u, err := strconv.Unquote(val); err == nil && strings.HasPrefix(val, `"`) {
			val = u
		}
		if strings.ContainsAny(val, "\"\\") {
			return "", fmt.Errorf("%q: the value may not contain quotes or backslashes", v)
		}
		return fmt.Sprintf("%d %s %q", fl, tag, val), nil
	}
	return "", fmt.Errorf("unsupported type %s", typ)
}

// txtWire renders a plain TXT string the way Route 53 expects it: quoted
// character strings of at most 255 bytes each, separated by a space, with
// quotes, backslashes and bytes outside printable ASCII escaped (api-facts
// §4: "TXT values must carry their own quotes").
func txtWire(s string) string {
	var b strings.Builder
	for start := 0; start == 0 || start < len(s); start += 255 {
		end := min(start+255, len(s))
		if start > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for i := start; i < end; i++ {
			c := s[i]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c >= 0x7f:
				fmt.Fprintf(&b, "\\%03o", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		if len(s) == 0 {
			break
		}
	}
	return b.String()
}

// txtPlain turns a TXT value as Route 53 returns it (quoted character
// strings, escapes) back into the plain string: the strings concatenated.
func txtPlain(w string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case !in && c == '"':
			in = true
		case !in:
			// whitespace between strings (or an unquoted value: keep it)
			if c != ' ' && c != '\t' {
				b.WriteByte(c)
			}
		case c == '"':
			in = false
		case c == '\\' && i+3 < len(w) && isOctal(w[i+1]) && isOctal(w[i+2]) && isOctal(w[i+3]):
			v, _ := strconv.ParseUint(w[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
		case c == '\\' && i+1 < len(w):
			b.WriteByte(w[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isLDH reports whether c is a lower-case letter, a digit or a hyphen.
func isLDH(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// wireValue renders one canonical value for the API.
func wireValue(typ, v string) string {
	if typ == "TXT" {
		return txtWire(v)
	}
	return v
}

// wireChars counts the characters a set's values take on the wire (the unit
// of Route 53's 32,000-character batch limit).
func wireChars(typ string, values []string) int {
	n := 0
	for _, v := range values {
		n += len(wireValue(typ, v))
	}
	return n
}

// apiNameToPlain decodes a name as Route 53 lists it ("\052.apps.x.com.")
// into the normalized form of Spec.Name.
func apiNameToPlain(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		if n[i] == '\\' && i+3 < len(n) && isOctal(n[i+1]) && isOctal(n[i+2]) && isOctal(n[i+3]) {
			v, _ := strconv.ParseUint(n[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(n[i])
	}
	return strings.ToLower(strings.TrimSuffix(b.String(), "."))
}

// Decode implements steps.Backend: a strict decode of a route53.record spec
// into a normalized Spec.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeKind(kind, raw, b.zones)
}

// DecodeLast implements steps.LastDecoder: a spec of the inventory as it
// was applied, whatever backends.route53.zones allows today (a record of a
// zone that left the list is a blocked delete, Diff).
func (b *Backend) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeKind(kind, raw, nil)
}

// decodeKind is decodeSpec of a resource of kind, as a steps.Spec (nil on
// error).
func decodeKind(kind string, raw json.RawMessage, zones []string) (steps.Spec, error) {
	if kind != Kind {
		return nil, fmt.Errorf("backend route53 has no kind %s", kind)
	}
	s, err := decodeSpec(raw, zones)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// key identifies a record set: zone, name and type.
type key struct{ zone, name, typ string }

func (k key) String() string { return k.name + " " + k.typ }

func specKey(s Spec) key { return key{s.Zone, s.Name, s.Type} }
