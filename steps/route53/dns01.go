package route53

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/gitops-runner/gitops-runner/steps"
)

// ChallengeTTL is the TTL of the TXT record sets DNSProvider writes.
const ChallengeTTL = 60

// challengeAttempts is how often Present and CleanUp try a change whose
// error is transient (throttling, a change of the zone still PENDING).
const challengeAttempts = 5

// DNSProvider writes and removes the TXT records of ACME DNS-01 challenges
// ("_acme-challenge.<domain>") in Route 53, with the credentials of the
// backends.route53 section. Several values for one name are merged into one
// record set, as Route 53 requires. It is safe for concurrent use.
type DNSProvider struct {
	b *Backend
	// Each challenge record set is edited read-modify-write (a certificate
	// for x and *.x needs two values in one set), so edits of one name are
	// serialized; different names proceed concurrently, so certificates do
	// not wait for each other's DNS changes.
	mu    sync.Mutex
	names map[string]*sync.Mutex
}

// lockName serializes edits of one record set name.
func (p *DNSProvider) lockName(name string) (unlock func()) {
	p.mu.Lock()
	if p.names == nil {
		p.names = map[string]*sync.Mutex{}
	}
	m := p.names[name]
	if m == nil {
		m = &sync.Mutex{}
		p.names[name] = m
	}
	p.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// NewDNSProvider builds a DNS-01 provider from the backends.route53 section
// of the runner config (the same format as New).
func NewDNSProvider(raw json.RawMessage, red *steps.Redactor) (*DNSProvider, error) {
	if raw == nil {
		return nil, ErrNotConfigured
	}
	b, err := New(raw, red)
	if err != nil {
		return nil, err
	}
	return b.DNSProvider(), nil
}

// DNSProvider returns a DNS-01 provider sharing the backend's client.
func (b *Backend) DNSProvider() *DNSProvider { return &DNSProvider{b: b} }

// Present adds value to the TXT record set fqdn (e.g.
// "_acme-challenge.mydomain.com.") and waits until the change is INSYNC.
func (p *DNSProvider) Present(ctx context.Context, fqdn, value string) error {
	return p.edit(ctx, fqdn, func(vals []string) []string {
		if slices.Contains(vals, value) {
			return vals
		}
		return append(vals, value)
	})
}

// CleanUp removes value from the TXT record set fqdn (deleting the set when
// it was the last value) and waits until the change is INSYNC.
func (p *DNSProvider) CleanUp(ctx context.Context, fqdn, value string) error {
	return p.edit(ctx, fqdn, func(vals []string) []string {
		return slices.DeleteFunc(vals, func(v string) bool { return v == value })
	})
}

// Timeout returns how long a challenge may take to become visible and how
// often to check: the configured changeTimeout and pollInterval (the shape
// of lego's challenge.ProviderTimeout).
func (p *DNSProvider) Timeout() (timeout, interval time.Duration) {
	return time.Duration(p.b.cfg.ChangeTimeout), time.Duration(p.b.cfg.PollInterval)
}

func (p *DNSProvider) edit(ctx context.Context, fqdn string, f func([]string) []string) error {
	if err := p.b.configured(); err != nil {
		return err
	}
	name, err := normName(fqdn)
	if err != nil {
		return fmt.Errorf("DNS-01 record %q: %w", fqdn, err)
	}
	defer p.lockName(name)()
	var last error
	for attempt := 1; attempt <= challengeAttempts; attempt++ {
		last = p.editOnce(ctx, name, f)
		if last == nil || !steps.IsTransient(last) {
			return last
		}
		if err := steps.Sleep(ctx, time.Duration(attempt)*time.Duration(p.b.cfg.PollInterval)); err != nil {
			return fmt.Errorf("%w (after: %w)", err, last)
		}
	}
	return last
}

func (p *DNSProvider) editOnce(ctx context.Context, name string, f func([]string) []string) error {
	zone, id, err := p.zoneFor(ctx, name)
	if err != nil {
		return err
	}
	out, err := p.b.client.ListResourceRecordSets(ctx, &r53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(id), StartRecordName: aws.String(name + "."),
		StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return p.b.wrapAPI("ListResourceRecordSets "+name, err)
	}
	var cur *Observed
	if len(out.ResourceRecordSets) == 1 {
		o := observed(zone, id, out.ResourceRecordSets[0])
		if o.Name == name && o.Type == "TXT" {
			cur = o
		}
	}
	var vals []string
	if cur != nil {
		vals = slices.Clone(cur.Values)
	}
	next := f(slices.Clone(vals))
	slices.Sort(next)
	if slices.Equal(next, vals) {
		return nil
	}
	var ch types.Change
	if len(next) == 0 {
		ch = types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: &cur.set}
	} else {
		ttl := int64(ChallengeTTL)
		if cur != nil && cur.TTL != nil {
			ttl = *cur.TTL
		}
		ch = types.Change{Action: types.ChangeActionUpsert,
			ResourceRecordSet: recordSet(Spec{Name: name, Type: "TXT", TTL: &ttl, Values: next}, id)}
	}
	// Share the zone's slot with Apply's batches: Route 53 refuses a change
	// while another of the zone is PENDING (docs/api-facts.md §4).
	bt := p.b.batcher(zone, id)
	select {
	case bt.slot <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-bt.slot }()
	res, err := p.b.client.ChangeResourceRecordSets(ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id),
		ChangeBatch:  &types.ChangeBatch{Changes: []types.Change{ch}, Comment: aws.String("gitops-runner DNS-01")},
	})
	if err != nil {
		return p.b.wrapAPI(fmt.Sprintf("ChangeResourceRecordSets %s TXT", name), err)
	}
	return p.b.waitInsync(ctx, bareID(aws.ToString(res.ChangeInfo.Id)))
}

// zoneFor finds the hosted zone holding name: the longest zone name that is
// a suffix of it, among backends.route53.zones or else all public zones.
func (p *DNSProvider) zoneFor(ctx context.Context, name string) (string, string, error) {
	zones := p.b.zones
	if len(zones) == 0 {
		var err error
		if zones, err = p.b.allZones(ctx); err != nil {
			return "", "", err
		}
	}
	best := ""
	for _, z := range zones {
		if inZone(name, z) && name != z && len(z) > len(best) {
			best = z
		}
	}
	if best == "" {
		return "", "", fmt.Errorf("no hosted zone for %s; the zones available: %s", name, orNone(zones))
	}
	id, err := p.b.zoneID(ctx, best)
	if err != nil {
		return "", "", err
	}
	return best, id, nil
}
