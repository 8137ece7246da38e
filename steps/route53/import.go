package route53

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gitops-runner/gitops-runner/steps"
)

var _ steps.Importer = (*Backend)(nil)

// Import implements steps.Importer: every record set of the named public
// hosted zones (all the credentials see when zones is empty), as
// route53.record resources built with route53.libsonnet's zone helpers.
// It makes one ListHostedZonesByName call per zone (or one paged listing)
// and pages through ListResourceRecordSets; it writes nothing.
//
// Left out, and listed as unmanaged: the apex SOA and NS record sets, which
// Route 53 creates with the hosted zone and keeps (a zone's own NS and SOA
// cannot be deleted: Route 53 Developer Guide, "NS and SOA records that
// Amazon Route 53 creates for a public hosted zone"); record sets with a
// routing policy (a SetIdentifier); types the backend does not support;
// alias records whose target is outside the zone (CloudFront, ELB, S3).
func (b *Backend) Import(ctx context.Context, zones []string) (*steps.Imported, error) {
	if err := b.configured(); err != nil {
		return nil, err
	}
	im := &steps.Imported{File: "dns.libsonnet"}
	every := len(zones) == 0
	if every {
		all, err := b.allZones(ctx)
		if err != nil {
			return nil, err
		}
		zones = all
	}
	needed := map[string]bool{}
	for _, z := range zones {
		n, err := normName(z)
		if err != nil {
			return nil, fmt.Errorf("route53 zone %q: %w", z, err)
		}
		if len(b.zones) > 0 && !slices.Contains(b.zones, n) {
			// The repo could not declare its records (decode refuses a
			// zone outside backends.route53.zones).
			if !every {
				return nil, fmt.Errorf("%w: route53 zone %s is not in backends.route53.zones (%s); add it there to import it",
					steps.ErrNotConfigured, n, strings.Join(b.zones, ", "))
			}
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{Where: "Route 53 zone " + n,
				Why:  "not in backends.route53.zones: the runner may not manage its records",
				Then: "left alone; add it to backends.route53.zones and import it with --route53 " + n})
			continue
		}
		needed[n] = true
	}
	ids, err := b.resolveZones(ctx, needed)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(ids))

	var header strings.Builder
	header.WriteString("// Route 53 record sets, imported by `runner import`.\nlocal route53 = import 'route53.libsonnet';\n")
	locals := map[string]bool{"route53": true}
	for _, zone := range names {
		found, err := b.listZone(ctx, zone, ids[zone])
		if err != nil {
			return nil, err
		}
		local := zoneLocal(zone, locals)
		fmt.Fprintf(&header, "local %s = route53.zone(%s);\n", local, steps.JsonnetValue(zone))
		sets := make([]*Observed, 0, len(found))
		for _, o := range found {
			sets = append(sets, o)
		}
		// The apex first, then by name and type, as a person lists a zone.
		slices.SortFunc(sets, func(a, b *Observed) int {
			if c := compareBool(a.Name != zone, b.Name != zone); c != 0 {
				return c
			}
			return strings.Compare(a.Name+" "+a.Type, b.Name+" "+b.Type)
		})
		for _, o := range sets {
			if why := unmanaged(zone, ids[zone], o); why != "" {
				im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{
					Where: fmt.Sprintf("Route 53 zone %s: %s %s", zone, o.Name, o.Type),
					Why:   why,
					Then:  "left alone: the runner neither changes nor deletes it",
				})
				continue
			}
			im.Resources = append(im.Resources, steps.Found{
				ID:      steps.ID{Kind: Kind, Name: resourceName(o.Name, o.Type)},
				Spec:    o.Spec,
				Group:   "zone " + zone,
				Jsonnet: recordJsonnet(local, o.Spec),
			})
		}
	}
	im.Header = header.String()
	return im, nil
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// unmanaged says why a listed record set is left out of an import, or "".
func unmanaged(zone, zoneID string, o *Observed) string {
	switch {
	case o.Name == zone && (o.Type == "SOA" || o.Type == "NS"):
		return "Route 53 creates the zone's own " + o.Type + " record set with the hosted zone and keeps it"
	case o.Routing:
		return fmt.Sprintf("it has a routing policy (set identifier %q); the runner manages simple record sets only", aws.ToString(o.set.SetIdentifier))
	case !supportedTypes[o.Type]:
		return "the runner does not manage " + o.Type + " records"
	case o.Alias != nil && o.set.AliasTarget != nil && bareID(aws.ToString(o.set.AliasTarget.HostedZoneId)) != zoneID:
		return "it is an alias to a target outside the zone (" + o.Alias.Name + "); the runner manages aliases within a zone only"
	case slices.ContainsFunc(o.Values, func(v string) bool { return !utf8.ValidString(v) }):
		// Route 53 keeps any byte (an octal escape \240 in a TXT value);
		// a Jsonnet string is Unicode text and cannot hold one.
		return "a value holds bytes that are not UTF-8 (set with octal escapes such as \\240), which a Jsonnet string cannot hold; the runner cannot declare it exactly"
	}
	return ""
}

// resourceName is the resource name route53.libsonnet's id() gives a
// record set: "A-blog.mydomain.com", a wildcard label written "_wildcard".
func resourceName(name, typ string) string {
	return typ + "-" + strings.ReplaceAll(name, "*", "_wildcard")
}

// zoneLocal is the Jsonnet variable bound to a zone's helpers, one not in
// taken, which it is added to: "mydomain.com" → mydomain_com; a name
// another zone took already ("a-b.com" and "a.b.com" both map to a_b_com)
// gets "_2", "_3"…; one that would be a Jsonnet keyword or start with a
// digit gets "zone_" before it.
func zoneLocal(zone string, taken map[string]bool) string {
	l := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, zone)
	if l[0] >= '0' && l[0] <= '9' || jsonnetKeywords[l] {
		l = "zone_" + l
	}
	out := l
	for i := 2; taken[out]; i++ {
		out = l + "_" + strconv.Itoa(i)
	}
	taken[out] = true
	return out
}

// jsonnetKeywords cannot be a local's name (Jsonnet spec, "Lexing").
var jsonnetKeywords = map[string]bool{"assert": true, "else": true, "error": true, "false": true, "for": true,
	"function": true, "if": true, "import": true, "importstr": true, "importbin": true, "in": true, "local": true,
	"null": true, "tailstrict": true, "then": true, "self": true, "super": true, "true": true}

// relative writes name relative to zone, the way route53.libsonnet takes it.
func relative(zone, name string) string {
	rel, ok := strings.CutSuffix(name, "."+zone)
	switch {
	case name == zone:
		return "@"
	case !ok || rel == zone || strings.HasSuffix(rel, "."+zone):
		// the lib would take it as qualified already: say so with the dot
		return name + "."
	}
	return rel
}

// recordJsonnet is the lib call that builds s: the type's own helper where
// there is one, a TTL only when it is not the default, and adopt: true.
func recordJsonnet(local string, s Spec) string {
	opts := []string{}
	if s.TTL != nil && *s.TTL != DefaultTTL {
		opts = append(opts, fmt.Sprintf("ttl: %d", *s.TTL))
	}
	opts = append(opts, "adopt: true")
	name := steps.JsonnetValue(relative(s.Zone, s.Name))
	if s.Alias != nil {
		if s.Alias.EvaluateTargetHealth {
			return fmt.Sprintf("%s.record(%s, %s, null, { alias: %s, %s })", local, name, steps.JsonnetValue(s.Type),
				steps.JsonnetValue(s.Alias), strings.Join(opts, ", "))
		}
		return fmt.Sprintf("%s.alias(%s, %s, %s, { %s })", local, name, steps.JsonnetValue(s.Type),
			steps.JsonnetValue(relative(s.Zone, s.Alias.Name)), strings.Join(opts, ", "))
	}
	var values string
	if len(s.Values) == 1 {
		values = steps.JsonnetValue(s.Values[0])
	} else {
		values = steps.JsonnetValue(s.Values)
	}
	helper := map[string]string{"A": "a", "AAAA": "aaaa", "CNAME": "cname", "TXT": "txt", "MX": "mx", "CAA": "caa"}[s.Type]
	if helper == "" {
		return fmt.Sprintf("%s.record(%s, %s, %s, { %s })", local, name, steps.JsonnetValue(s.Type), values, strings.Join(opts, ", "))
	}
	return fmt.Sprintf("%s.%s(%s, %s, { %s })", local, helper, name, values, strings.Join(opts, ", "))
}
