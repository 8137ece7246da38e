package sim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// RecordSet is one resource record set of a hosted zone, in the form the
// Route 53 API returns it.
type RecordSet struct {
	// Name is fully qualified, lower case, with Route 53's \ooo escapes
	// ("\052.example.com." for a wildcard).
	Name string `json:"name"`
	// Type is the record type: A, AAAA, CNAME, TXT, MX, SRV, CAA, NS, SOA, ...
	Type string `json:"type"`
	// TTL in seconds; zero for alias record sets.
	TTL int64 `json:"ttl,omitempty"`
	// Values are the ResourceRecord values as sent (TXT values carry their quotes).
	Values []string `json:"values,omitempty"`
	// Alias is set for alias record sets (which have no TTL and no values).
	Alias *Alias `json:"alias,omitempty"`
}

// Alias is the AliasTarget of an alias record set.
type Alias struct {
	// HostedZoneID is the zone holding the target, without the "/hostedzone/" prefix.
	HostedZoneID string `json:"hostedZoneId"`
	// DNSName is the target name.
	DNSName string `json:"dnsName"`
	// EvaluateTargetHealth is stored and returned; the simulator has no health checks.
	EvaluateTargetHealth bool `json:"evaluateTargetHealth,omitempty"`
}

// Zone describes a hosted zone.
type Zone struct {
	// ID is the bare zone ID ("Z0123..."), without the "/hostedzone/" prefix.
	ID string `json:"id"`
	// Name is the zone apex, fully qualified.
	Name            string `json:"name"`
	CallerReference string `json:"callerReference"`
	Comment         string `json:"comment,omitempty"`
	// NameServers is the zone's delegation set (also its apex NS record set).
	NameServers []string `json:"nameServers"`
	// RecordSetCount counts all record sets, including the apex SOA and NS.
	RecordSetCount int `json:"recordSetCount"`
}

type rrKey struct{ name, typ string }

// rrset is the stored form of a record set: internal name (see normName),
// values as sent, and the parsed records the DNS server answers with.
type rrset struct {
	name   string
	key    string // sortKey(name), cached for listing and lookups
	typ    string
	ttl    int64
	values []string
	alias  *Alias // DNSName in internal form
	rrs    []dns.RR
}

type zone struct {
	id, name, callerRef, comment string
	nameServers                  []string
	sets                         map[rrKey]*rrset
	sorted                       []*rrset // in ListResourceRecordSets order
	lastChange                   string   // ID of the newest change, for RejectWhilePending
}

type change struct {
	ID        string    `json:"id"`
	ZoneID    string    `json:"zoneId"`
	Submitted time.Time `json:"submitted"`
	Comment   string    `json:"comment,omitempty"`
}

func (z *zone) resort() {
	z.sorted = z.sorted[:0]
	for _, s := range z.sets {
		z.sorted = append(z.sorted, s)
	}
	sort.Slice(z.sorted, func(i, j int) bool { return lessSet(z.sorted[i], z.sorted[j]) })
}

// lessSet orders record sets as ListResourceRecordSets does: by reversed-label
// name, then by type (API reference, "Sort order").
func lessSet(a, b *rrset) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.typ < b.typ
}

func (z *zone) public() Zone {
	return Zone{
		ID: z.id, Name: apiName(z.name), CallerReference: z.callerRef, Comment: z.comment,
		NameServers: slices.Clone(z.nameServers), RecordSetCount: len(z.sets),
	}
}

func (s *rrset) public() RecordSet {
	rs := RecordSet{Name: apiName(s.name), Type: s.typ, TTL: s.ttl, Values: slices.Clone(s.values)}
	if s.alias != nil {
		a := *s.alias
		a.DNSName = apiName(a.DNSName)
		rs.Alias = &a
	}
	return rs
}

// newID returns a Route 53 style identifier: the prefix and 20 characters
// from [A-Z0-9] (hosted zone IDs look like "Z0123456789ABCDEFGHIJ").
func newID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never happens on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}

// knownTypes are the record types Route 53 accepts (RRType enum of the API).
var knownTypes = map[string]bool{
	"SOA": true, "A": true, "TXT": true, "NS": true, "CNAME": true, "MX": true, "NAPTR": true,
	"PTR": true, "SRV": true, "SPF": true, "AAAA": true, "CAA": true, "DS": true, "TLSA": true,
	"SSHFP": true, "SVCB": true, "HTTPS": true,
}

// Limits of one ChangeResourceRecordSets request (Developer Guide, "Quotas":
// 1,000 ResourceRecord elements and 32,000 characters of values; "When the
// value of the Action element is UPSERT, each ResourceRecord element is
// counted twice"; docs/api-facts.md §4).
const (
	maxRecordsPerRequest = 1000
	maxCharsPerRequest   = 32000
)

// changeReq is one Change element of a batch, before validation.
type changeReq struct {
	action     string
	set        RecordSet
	hasTTL     bool
	hasRecords bool
	routing    []string // routing-policy elements present (not simulated)
}

// apiError is an error the API reports with its code, message and status.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidInput(format string, a ...any) *apiError {
	return &apiError{status: 400, code: "InvalidInput", message: fmt.Sprintf(format, a...)}
}

// invalidChangeBatch builds the error for semantic failures of a batch. Route 53
// reports all of them in one message, as a bracketed comma-separated list:
// "[Tried to delete ... do not match the current values, Tried to create ...
// but it already exists]" (aws-sdk-kotlin#1435 shows the current wire form).
func invalidChangeBatch(msgs []string) *apiError {
	return &apiError{status: 400, code: "InvalidChangeBatch", message: "[" + strings.Join(msgs, ", ") + "]"}
}

// precheck rejects malformed batches as a whole (InvalidInput) and enforces
// the size limits (InvalidChangeBatch), before any record is looked at.
func precheck(changes []changeReq) *apiError {
	if len(changes) == 0 {
		return invalidInput("1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	records, chars := 0, 0
	for i, c := range changes {
		switch c.action {
		case "CREATE", "DELETE", "UPSERT":
		default:
			return invalidInput("1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]", c.action, i+1)
		}
		if c.set.Name == "" || c.set.Type == "" {
			return invalidInput("Invalid request: Name and Type are required in Change with [Action=%s, Name=%s, Type=%s]", c.action, c.set.Name, c.set.Type)
		}
		if !knownTypes[c.set.Type] {
			return invalidInput("1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.resourceRecordSet.type' failed to satisfy constraint: Member must satisfy enum value set: [SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS, TLSA, SSHFP, SVCB, HTTPS]", c.set.Type, i+1)
		}
		if len(c.routing) > 0 {
			return invalidInput("Invalid request: %s in Change with [Action=%s, Name=%s, Type=%s]: routing policies are not supported by the Route 53 simulator", strings.Join(c.routing, ", "), c.action, c.set.Name, c.set.Type)
		}
		plain := c.hasTTL && c.hasRecords
		if c.set.Alias != nil && (c.hasTTL || c.hasRecords) || c.set.Alias == nil && !plain {
			found := "none"
			if c.set.Alias != nil {
				found = "more than one"
			}
			return invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found %s in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", found, c.action, c.set.Name, c.set.Type)
		}
		if c.hasTTL && (c.set.TTL < 0 || c.set.TTL > 2147483647) {
			return invalidInput("1 validation error detected: Value '%d' at 'changeBatch.changes.%d.member.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value between 0 and 2147483647", c.set.TTL, i+1)
		}
		if c.hasRecords && len(c.set.Values) == 0 {
			return invalidInput("1 validation error detected: Value '[]' at 'changeBatch.changes.%d.member.resourceRecordSet.resourceRecords' failed to satisfy constraint: Member must have length greater than or equal to 1", i+1)
		}
		weight := 1
		if c.action == "UPSERT" {
			weight = 2
		}
		records += weight * len(c.set.Values)
		for _, v := range c.set.Values {
			chars += weight * len(v)
		}
	}
	// Messages as Route 53 returns them (seen in DNSControl#1114 and #908).
	var msgs []string
	if records > maxRecordsPerRequest {
		msgs = append(msgs, fmt.Sprintf("Number of records limit of %d exceeded.", maxRecordsPerRequest))
	}
	if chars > maxCharsPerRequest {
		msgs = append(msgs, fmt.Sprintf("RDATA character limit of %d exceeded.", maxCharsPerRequest))
	}
	if len(msgs) > 0 {
		return invalidChangeBatch(msgs)
	}
	return nil
}

// state is everything the simulator stores; Server guards it with its mutex.
type state struct {
	zones   map[string]*zone // by ID
	changes map[string]*change
}

func newState() *state {
	return &state{zones: map[string]*zone{}, changes: map[string]*change{}}
}

// zonesSorted returns the zones in ListHostedZonesByName order: reversed-label
// name, then ID.
func (st *state) zonesSorted() []*zone {
	zs := make([]*zone, 0, len(st.zones))
	for _, z := range st.zones {
		zs = append(zs, z)
	}
	sort.Slice(zs, func(i, j int) bool {
		ki, kj := sortKey(zs[i].name), sortKey(zs[j].name)
		if ki != kj {
			return ki < kj
		}
		return zs[i].id < zs[j].id
	})
	return zs
}

// createZone adds a hosted zone with its delegation set: the apex NS record
// set (TTL 172800) and SOA (TTL 900, "awsdns-hostmaster.amazon.com." as
// Route 53 creates them).
func (st *state) createZone(name, callerRef, comment string, nameServers []string, now time.Time) (*zone, *change, *apiError) {
	n, err := normName(name)
	if err != nil || n == "." {
		return nil, nil, &apiError{status: 400, code: "InvalidDomainName", message: fmt.Sprintf("%s is not a valid domain name.", name)}
	}
	for _, z := range st.zones {
		if z.callerRef == callerRef {
			return nil, nil, &apiError{status: 409, code: "HostedZoneAlreadyExists",
				message: fmt.Sprintf("A hosted zone has already been created with the specified caller reference: %s", callerRef)}
		}
	}
	z := &zone{id: newID("Z"), name: n, callerRef: callerRef, comment: comment, sets: map[rrKey]*rrset{}}
	z.nameServers = nameServers
	if len(z.nameServers) == 0 {
		z.nameServers = defaultNameServers(len(st.zones))
	}
	nsValues := slices.Clone(z.nameServers)
	soa := fmt.Sprintf("%s awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400", z.nameServers[0])
	for _, rs := range []RecordSet{{Name: n, Type: "NS", TTL: 172800, Values: nsValues}, {Name: n, Type: "SOA", TTL: 900, Values: []string{soa}}} {
		s, msg := buildSet(z, rs)
		if msg != "" {
			return nil, nil, &apiError{status: 400, code: "InvalidInput", message: msg}
		}
		z.sets[rrKey{s.name, s.typ}] = s
	}
	z.resort()
	st.zones[z.id] = z
	c := &change{ID: newID("C"), ZoneID: z.id, Submitted: now, Comment: comment}
	st.changes[c.ID] = c
	z.lastChange = c.ID
	return z, c, nil
}

// defaultNameServers mimics a Route 53 delegation set: four servers in the
// .com, .net, .org and .co.uk awsdns domains.
func defaultNameServers(seed int) []string {
	a := 1 + (seed*37)%500
	return []string{
		fmt.Sprintf("ns-%d.awsdns-%02d.org.", 1024+a, a%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.co.uk.", 1536+a, a%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.com.", a, a%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.net.", 512+a, a%64),
	}
}

// buildSet validates one record set against its zone and parses its values
// into DNS records. It returns an InvalidChangeBatch message on failure.
func buildSet(z *zone, rs RecordSet) (*rrset, string) {
	name, err := normName(rs.Name)
	if err != nil {
		return nil, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", rs.Name, apiName(z.name))
	}
	if !inZone(name, z.name) {
		return nil, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", apiName(name), apiName(z.name))
	}
	s := &rrset{name: name, key: sortKey(name), typ: rs.Type, ttl: rs.TTL, values: slices.Clone(rs.Values)}
	if rs.Alias != nil {
		a := *rs.Alias
		a.HostedZoneID = strings.TrimPrefix(a.HostedZoneID, "/hostedzone/")
		t, err := normName(a.DNSName)
		if err != nil {
			return nil, fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the alias target name is not valid", a.DNSName, rs.Type, a.HostedZoneID)
		}
		a.DNSName = t
		s.alias = &a
		s.ttl = 0
		return s, ""
	}
	if rs.Type == "CNAME" && name == z.name {
		return nil, fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", apiName(name), apiName(z.name))
	}
	if rs.Type == "CNAME" && len(rs.Values) > 1 {
		// [U] exact AWS wording not verified.
		return nil, fmt.Sprintf("RRSet of type CNAME with DNS name %s contains more than one resource record", apiName(name))
	}
	for _, v := range rs.Values {
		rr, msg := parseValue(name, rs.Type, rs.TTL, v)
		if msg != "" {
			return nil, msg
		}
		// Route 53 refuses a set listing one value twice: "InvalidChangeBatch:
		// [Duplicate Resource Record: '10.160.0.188']" (external-dns#1929,
		// kubernetes#42131). Compared as DNS data (dns.IsDuplicate); whether
		// Route 53 also matches "2001:db8::1" with "2001:DB8::1" is [U].
		for _, prev := range s.rrs {
			if dns.IsDuplicate(prev, rr) {
				return nil, fmt.Sprintf("Duplicate Resource Record: '%s'", v)
			}
		}
		s.rrs = append(s.rrs, rr)
	}
	return s, ""
}

// invalidRecord formats Route 53's message for a value it cannot parse, e.g.
// "Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value
// should be enclosed in quotation marks) encountered with 'abc”" (seen in
// external-dns#4792, cfn-ses-provider#21).
func invalidRecord(problem, value string) string {
	return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: %s encountered with '%s''", problem, value)
}

// parseValue checks one value the way Route 53 does for the common types and
// turns it into a DNS record.
func parseValue(name, typ string, ttl int64, v string) (dns.RR, string) {
	switch typ {
	case "A":
		ip, err := netip.ParseAddr(v)
		if err != nil || !ip.Is4() {
			return nil, invalidRecord("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)", v)
		}
	case "AAAA":
		ip, err := netip.ParseAddr(v)
		if err != nil || !ip.Is6() || ip.Is4In6() {
			return nil, invalidRecord("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)", v)
		}
	case "TXT", "SPF":
		if msg := checkTXT(v); msg != "" {
			return nil, invalidRecord(msg, v)
		}
	}
	rdata := v
	if typ == "TXT" || typ == "SPF" {
		rdata = decimalEscapes(v)
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", dnsName(name), ttl, typ, rdata))
	if err != nil || rr == nil {
		return nil, invalidRecord("InvalidRDATA (Value is not valid for the record type)", v) // [U] wording
	}
	return rr, ""
}

// decimalEscapes rewrites Route 53's \ooo octal escapes in a TXT value to
// the \DDD decimal escapes of RFC 1035 zone files, which miekg/dns reads
// (Developer Guide, "Supported DNS record types": TXT special characters are
// given as octal codes).
func decimalEscapes(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		if i+3 < len(v) && isOctal(v[i+1]) && isOctal(v[i+2]) && isOctal(v[i+3]) {
			n := (int(v[i+1]-'0')<<6 | int(v[i+2]-'0')<<3 | int(v[i+3]-'0')) & 0xff
			fmt.Fprintf(&b, "\\%03d", n)
			i += 3
			continue
		}
		b.WriteByte(v[i])
		b.WriteByte(v[i+1])
		i++
	}
	return b.String()
}

// checkTXT enforces Route 53's TXT syntax: one or more double-quoted character
// strings separated by whitespace, each at most 255 characters (escapes count
// as one character).
func checkTXT(v string) string {
	i := 0
	n := 0
	for i < len(v) {
		if v[i] == ' ' || v[i] == '\t' {
			i++
			continue
		}
		if v[i] != '"' {
			return "InvalidCharacterString (Value should be enclosed in quotation marks)"
		}
		i++
		length := 0
		closed := false
		for i < len(v) {
			c := v[i]
			if c == '\\' && i+1 < len(v) {
				if i+3 < len(v) && isOctal(v[i+1]) && isOctal(v[i+2]) && isOctal(v[i+3]) {
					i += 4
				} else {
					i += 2
				}
				length++
				continue
			}
			i++
			if c == '"' {
				closed = true
				break
			}
			length++
		}
		if !closed {
			return "InvalidCharacterString (Value should be enclosed in quotation marks)"
		}
		if length > 255 {
			return "CharacterStringTooLong (Value is too long)"
		}
		n++
	}
	if n == 0 {
		return "InvalidCharacterString (Value should be enclosed in quotation marks)"
	}
	return ""
}

// sameSet reports whether a DELETE's record set matches the stored one
// exactly: TTL, alias target and the values as a set (order does not matter).
func sameSet(a, b *rrset) bool {
	if a.ttl != b.ttl || (a.alias == nil) != (b.alias == nil) {
		return false
	}
	if a.alias != nil && (a.alias.DNSName != b.alias.DNSName || a.alias.HostedZoneID != b.alias.HostedZoneID ||
		a.alias.EvaluateTargetHealth != b.alias.EvaluateTargetHealth) {
		return false
	}
	if len(a.values) != len(b.values) {
		return false
	}
	x, y := slices.Clone(a.values), slices.Clone(b.values)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// applyBatch validates and applies a change batch to zone z atomically: the
// changes are applied one after another to a working copy (so DELETE then
// CREATE of one set works and a second DELETE of it fails), every failure is
// collected, and the copy replaces the zone's records only if none failed.
func (st *state) applyBatch(z *zone, changes []changeReq) *apiError {
	if e := precheck(changes); e != nil {
		return e
	}
	work := make(map[rrKey]*rrset, len(z.sets)+len(changes))
	for k, v := range z.sets {
		work[k] = v
	}
	var msgs []string
	for _, c := range changes {
		s, msg := buildSet(z, c.set)
		if msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		k := rrKey{s.name, s.typ}
		cur := work[k]
		desc := fmt.Sprintf("[name='%s', type='%s']", apiName(s.name), s.typ)
		switch c.action {
		case "CREATE":
			if cur != nil {
				msgs = append(msgs, "Tried to create resource record set "+desc+" but it already exists")
				continue
			}
		case "DELETE":
			if cur == nil {
				msgs = append(msgs, "Tried to delete resource record set "+desc+" but it was not found")
				continue
			}
			if !sameSet(cur, s) {
				msgs = append(msgs, "Tried to delete resource record set "+desc+" but the values provided do not match the current values")
				continue
			}
			if s.name == z.name && s.typ == "SOA" {
				msgs = append(msgs, "A HostedZone must contain exactly one SOA record.")
				continue
			}
			if s.name == z.name && s.typ == "NS" {
				msgs = append(msgs, "A HostedZone must contain at least one NS record for the zone itself.")
				continue
			}
			delete(work, k)
			continue
		}
		if msg := conflicts(work, z, s); msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		if s.alias != nil {
			if msg := st.checkAlias(work, z, s); msg != "" {
				msgs = append(msgs, msg)
				continue
			}
		}
		work[k] = s
	}
	if len(msgs) > 0 {
		return invalidChangeBatch(msgs)
	}
	z.sets = work
	z.resort()
	return nil
}

// conflicts enforces the CNAME rule: a CNAME cannot share its name with any
// other record set (messages as Route 53 returns them, see README).
func conflicts(work map[rrKey]*rrset, z *zone, s *rrset) string {
	if s.typ == "CNAME" {
		for k := range work {
			if k.name == s.name && k.typ != "CNAME" {
				return fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", apiName(s.name), apiName(z.name))
			}
		}
		return ""
	}
	if _, ok := work[rrKey{s.name, "CNAME"}]; ok {
		return fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone %s", s.typ, apiName(s.name), apiName(z.name))
	}
	return ""
}

// checkAlias requires the alias target to be a record set of the same type in
// a hosted zone of this simulator (the batch's own zone is checked against the
// working copy, so a target created earlier in the batch counts).
func (st *state) checkAlias(work map[rrKey]*rrset, z *zone, s *rrset) string {
	a := s.alias
	target := st.zones[a.HostedZoneID]
	sets := work
	if target == nil {
		return fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but that target was not found", apiName(a.DNSName), s.typ, a.HostedZoneID)
	}
	if target != z {
		sets = target.sets
	}
	if !inZone(a.DNSName, target.name) {
		return fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the alias target name does not lie within the target zone", apiName(a.DNSName), s.typ, a.HostedZoneID)
	}
	if a.DNSName == s.name && target == z {
		return fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the alias target is the record itself", apiName(a.DNSName), s.typ, a.HostedZoneID) // [U] wording
	}
	if sets[rrKey{a.DNSName, s.typ}] == nil {
		return fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but that target was not found", apiName(a.DNSName), s.typ, a.HostedZoneID)
	}
	return ""
}

// snapshot is the JSON form of the simulator's state.
type snapshot struct {
	Version int            `json:"version"`
	Zones   []snapshotZone `json:"zones"`
	Changes []*change      `json:"changes,omitempty"`
}

type snapshotZone struct {
	Zone
	RecordSets []RecordSet `json:"recordSets"`
}

func (st *state) snapshot() ([]byte, error) {
	snap := snapshot{Version: 1}
	for _, z := range st.zonesSorted() {
		sz := snapshotZone{Zone: z.public()}
		for _, s := range z.sorted {
			sz.RecordSets = append(sz.RecordSets, s.public())
		}
		snap.Zones = append(snap.Zones, sz)
	}
	for _, c := range st.changes {
		snap.Changes = append(snap.Changes, c)
	}
	sort.Slice(snap.Changes, func(i, j int) bool { return snap.Changes[i].ID < snap.Changes[j].ID })
	b, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b, nil
}

// restoreState rebuilds a state from a snapshot, validating every record set.
func restoreState(b []byte) (*state, error) {
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if snap.Version != 1 {
		return nil, fmt.Errorf("decode snapshot: unsupported version %d", snap.Version)
	}
	st := newState()
	for _, sz := range snap.Zones {
		n, err := normName(sz.Name)
		if err != nil || sz.ID == "" {
			return nil, fmt.Errorf("restore zone %q (%s): invalid name or ID", sz.Name, sz.ID)
		}
		if st.zones[sz.ID] != nil {
			return nil, fmt.Errorf("restore zone %s: duplicate ID", sz.ID)
		}
		z := &zone{id: sz.ID, name: n, callerRef: sz.CallerReference, comment: sz.Comment,
			nameServers: slices.Clone(sz.NameServers), sets: map[rrKey]*rrset{}}
		st.zones[z.id] = z
		for _, rs := range sz.RecordSets {
			s, msg := buildSet(z, rs)
			if msg != "" {
				return nil, fmt.Errorf("restore zone %s: %s", z.id, msg)
			}
			z.sets[rrKey{s.name, s.typ}] = s
		}
		z.resort()
	}
	for _, c := range snap.Changes {
		if c == nil || st.zones[c.ZoneID] == nil {
			continue
		}
		st.changes[c.ID] = c
	}
	return st, nil
}

// ErrNoSuchZone is returned by the Go setup API for an unknown zone ID.
var ErrNoSuchZone = errors.New("no such hosted zone")
