package route53

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"golang.org/x/sync/errgroup"

	"github.com/gitops-runner/gitops-runner/steps"
)

// listPageSize is the most record sets ListResourceRecordSets returns per
// call (maxitems default and maximum 300).
const listPageSize = 300

// zoneFanOut bounds how many zones are listed at once.
const zoneFanOut = 4

// Live is what Observe found for one target.
type Live struct {
	// Record is the record set at the target's zone, name and type (the
	// desired ones, or the last applied ones for a delete); nil if absent.
	Record *Observed `json:"record,omitempty"`
	// Old is the record set at the last applied zone, name and type when the
	// resource now names other ones (it is deleted by the change).
	Old *Observed `json:"old,omitempty"`
}

// Observed is one live record set.
type Observed struct {
	// Spec is the record set in the normalized form of a spec.
	Spec
	// ZoneID is the hosted zone's bare ID.
	ZoneID string `json:"zoneId"`
	// Routing is set when the record set uses a routing policy (it has a
	// SetIdentifier): the runner does not manage those.
	Routing bool `json:"routing,omitempty"`
	// set is the record set exactly as listed: a DELETE must repeat it.
	set types.ResourceRecordSet
}

// Observe implements steps.Backend: one zone lookup per zone and all record
// sets of each zone, paginated; never a call per record.
func (b *Backend) Observe(ctx context.Context, ts []steps.Target) (map[steps.ID]steps.Live, error) {
	if err := b.configured(); err != nil {
		return nil, err
	}
	if err := checkConflicts(ts); err != nil {
		return nil, err
	}
	needed := map[string]bool{} // zone → a desired record needs it
	for _, t := range ts {
		if w, ok := t.Want.(Spec); ok {
			needed[w.Zone] = true
		}
		if l, ok := t.Last.(Spec); ok && !needed[l.Zone] {
			needed[l.Zone] = false
		}
	}
	ids, err := b.resolveZones(ctx, needed)
	if err != nil {
		return nil, err
	}
	sets := make(map[key]*Observed)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(zoneFanOut)
	for zone, id := range ids {
		g.Go(func() error {
			found, err := b.listZone(gctx, zone, id)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for k, o := range found {
				sets[k] = o
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[steps.ID]steps.Live, len(ts))
	for _, t := range ts {
		var l Live
		w, hasWant := t.Want.(Spec)
		last, hasLast := t.Last.(Spec)
		switch {
		case hasWant:
			l.Record = sets[specKey(w)]
			if hasLast && specKey(last) != specKey(w) {
				l.Old = sets[specKey(last)]
			}
		case hasLast:
			l.Record = sets[specKey(last)]
		}
		if l.Record != nil || l.Old != nil {
			out[t.ID] = &l
		}
	}
	return out, nil
}

// checkConflicts refuses two resources for one record set, and a CNAME
// declared beside other types at the same name (DNS forbids both).
func checkConflicts(ts []steps.Target) error {
	byKey := map[key]steps.ID{}
	byName := map[string][]steps.ID{}
	cname := map[string]steps.ID{}
	var errs []string
	for _, t := range ts {
		w, ok := t.Want.(Spec)
		if !ok {
			continue
		}
		k := specKey(w)
		if o, dup := byKey[k]; dup {
			errs = append(errs, fmt.Sprintf("%s and %s both declare the record set %s", o, t.ID, k))
			continue
		}
		byKey[k] = t.ID
		byName[w.Name] = append(byName[w.Name], t.ID)
		if w.Type == "CNAME" {
			cname[w.Name] = t.ID
		}
	}
	for name, id := range cname {
		if others := byName[name]; len(others) > 1 {
			var names []string
			for _, o := range others {
				if o != id {
					names = append(names, o.String())
				}
			}
			sort.Strings(names)
			errs = append(errs, fmt.Sprintf("%s declares a CNAME at %s, which may not have other records, but %s declare(s) some", id, name, strings.Join(names, ", ")))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("conflicting route53.record resources: %s", strings.Join(errs, "; "))
	}
	return nil
}

// resolveZones finds the hosted zone IDs by name, one ListHostedZonesByName
// call per zone, and remembers them for Apply. A zone needed only for
// deletes may be missing (its records are gone).
func (b *Backend) resolveZones(ctx context.Context, needed map[string]bool) (map[string]string, error) {
	ids := map[string]string{}
	var missing []string
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(zoneFanOut)
	for zone, must := range needed {
		g.Go(func() error {
			id, err := b.lookupZone(gctx, zone)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case id != "":
				ids[zone] = id
			case must:
				missing = append(missing, zone)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		have, err := b.allZones(ctx)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("hosted zone(s) %s not found; the public zones these credentials see: %s",
			strings.Join(missing, ", "), orNone(have))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for z, id := range ids {
		b.zoneIDs[z] = id
	}
	return ids, nil
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ", ")
}

// lookupZone returns the bare ID of the public hosted zone named zone, or ""
// when there is none.
func (b *Backend) lookupZone(ctx context.Context, zone string) (string, error) {
	out, err := b.client.ListHostedZonesByName(ctx, &r53.ListHostedZonesByNameInput{
		DNSName: aws.String(zone + "."), MaxItems: aws.Int32(10),
	})
	if err != nil {
		return "", b.wrapAPI("ListHostedZonesByName "+zone, err)
	}
	var found []string
	for _, z := range out.HostedZones {
		if lowerTrim(aws.ToString(z.Name)) != zone || (z.Config != nil && z.Config.PrivateZone) {
			continue
		}
		found = append(found, bareID(aws.ToString(z.Id)))
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("there are %d public hosted zones named %s (%s): the runner cannot tell which one to manage", len(found), zone, strings.Join(found, ", "))
}

// allZones lists the names of all public hosted zones (for messages and the
// DNS-01 provider's zone search).
func (b *Backend) allZones(ctx context.Context) ([]string, error) {
	var names []string
	in := &r53.ListHostedZonesByNameInput{}
	for {
		out, err := b.client.ListHostedZonesByName(ctx, in)
		if err != nil {
			return nil, b.wrapAPI("ListHostedZonesByName", err)
		}
		for _, z := range out.HostedZones {
			if z.Config == nil || !z.Config.PrivateZone {
				names = append(names, lowerTrim(aws.ToString(z.Name)))
			}
		}
		if !out.IsTruncated {
			break
		}
		in = &r53.ListHostedZonesByNameInput{DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// zoneID returns a zone's ID from the last Observe, or looks it up.
func (b *Backend) zoneID(ctx context.Context, zone string) (string, error) {
	b.mu.Lock()
	id, ok := b.zoneIDs[zone]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	ids, err := b.resolveZones(ctx, map[string]bool{zone: true})
	if err != nil {
		return "", err
	}
	return ids[zone], nil
}

// listZone reads all record sets of a zone.
func (b *Backend) listZone(ctx context.Context, zone, id string) (map[key]*Observed, error) {
	out := map[key]*Observed{}
	p := r53.NewListResourceRecordSetsPaginator(b.client, &r53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(id), MaxItems: aws.Int32(listPageSize),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, b.wrapAPI("ListResourceRecordSets "+zone, err)
		}
		for _, s := range page.ResourceRecordSets {
			o := observed(zone, id, s)
			out[specKey(o.Spec)] = o
		}
	}
	return out, nil
}

// observed converts a listed record set into the spec form.
func observed(zone, id string, s types.ResourceRecordSet) *Observed {
	o := &Observed{ZoneID: id, set: s, Routing: s.SetIdentifier != nil}
	o.Zone = zone
	o.Name = apiNameToPlain(aws.ToString(s.Name))
	o.Type = string(s.Type)
	if s.AliasTarget != nil {
		o.Alias = &Alias{Name: apiNameToPlain(aws.ToString(s.AliasTarget.DNSName)), EvaluateTargetHealth: s.AliasTarget.EvaluateTargetHealth}
		return o
	}
	if s.TTL != nil {
		ttl := *s.TTL
		o.TTL = &ttl
	}
	for _, r := range s.ResourceRecords {
		v := aws.ToString(r.Value)
		if o.Type == "TXT" {
			v = txtPlain(v)
		} else if c, err := canonicalValue(o.Type, v); err == nil {
			v = c
		}
		o.Values = append(o.Values, v)
	}
	slices.Sort(o.Values)
	return o
}

// bareID strips the "/hostedzone/" or "/change/" prefix of an ID.
func bareID(id string) string {
	return id[strings.LastIndexByte(id, '/')+1:]
}

// lowerTrim lower-cases a name and drops its trailing dot.
func lowerTrim(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
