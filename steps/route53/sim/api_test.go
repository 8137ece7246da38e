package sim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

func TestZoneLookupByName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	idCom := e.createZone(t, "Example.COM")
	idSub := e.createZone(t, "a.example.com.")
	idNet, err := e.sim.CreateZone("lab.example.net")
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCounters()

	// Route 53 orders zones by reversed labels: com.example. < com.example.a. < net.example.lab.
	out, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String("example.com"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.HostedZones) != 1 || aws.ToString(out.HostedZones[0].Id) != "/hostedzone/"+idCom || aws.ToString(out.HostedZones[0].Name) != "example.com." {
		t.Fatalf("first page = %+v, want example.com. (%s)", out.HostedZones, idCom)
	}
	if !out.IsTruncated || aws.ToString(out.NextDNSName) != "a.example.com." || aws.ToString(out.NextHostedZoneId) != idSub {
		t.Fatalf("IsTruncated=%v NextDNSName=%q NextHostedZoneId=%q, want true a.example.com. %s", out.IsTruncated, aws.ToString(out.NextDNSName), aws.ToString(out.NextHostedZoneId), idSub)
	}
	next, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range next.HostedZones {
		names = append(names, aws.ToString(z.Name))
	}
	if want := []string{"a.example.com.", "lab.example.net."}; !slices.Equal(names, want) || next.IsTruncated {
		t.Fatalf("second page = %v (truncated %v), want %v", names, next.IsTruncated, want)
	}
	if got := e.sim.Count(sim.OpListHostedZonesByName); got != 2 {
		t.Errorf("ListHostedZonesByName calls = %d, want 2", got)
	}

	// A zone created through the Go API is visible with its delegation set.
	gz, err := e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String("/hostedzone/" + idNet)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(gz.HostedZone.Name) != "lab.example.net." || len(gz.DelegationSet.NameServers) != 4 || aws.ToInt64(gz.HostedZone.ResourceRecordSetCount) != 2 {
		t.Fatalf("GetHostedZone = %+v %+v", gz.HostedZone, gz.DelegationSet)
	}

	_, err = e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String("ZNOSUCHZONE")})
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) || !strings.Contains(nsz.ErrorMessage(), "ZNOSUCHZONE") {
		t.Fatalf("GetHostedZone(unknown) error = %v, want *types.NoSuchHostedZone", err)
	}
	if _, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{HostedZoneId: aws.String(idCom)}); !isInvalidInput(err) {
		t.Errorf("HostedZoneId without DNSName: error = %v, want InvalidInput", err)
	}
}

func isInvalidInput(err error) bool {
	var ii *types.InvalidInput
	return errors.As(err, &ii)
}

// seed creates n record sets in a zone through the SDK, in batches of 1000
// CREATEs (the per-request limit): pairs of A and AAAA at host-NNNN names.
func seed(t testing.TB, e *env, zoneID, zone string, n int) {
	t.Helper()
	var batch []types.Change
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("host-%04d.%s", i/2, zone)
		if i%2 == 0 {
			batch = append(batch, change(types.ChangeActionCreate, rrset(name, types.RRTypeA, 300, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))))
		} else {
			batch = append(batch, change(types.ChangeActionCreate, rrset(name, types.RRTypeAaaa, 300, fmt.Sprintf("2001:db8::%x", i))))
		}
		if len(batch) == 1000 || i == n-1 {
			e.mustChange(t, zoneID, batch...)
			batch = nil
		}
	}
}

func TestListPaging5000Records(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	zones := []struct {
		name string
		n    int
	}{{"example.com", 2000}, {"example.org", 2000}, {"lab.example.net", 1000}}
	ids := make([]string, len(zones))
	for i, z := range zones {
		ids[i] = e.createZone(t, z.name)
		seed(t, e, ids[i], z.name, z.n)
	}
	if got := e.sim.Count(sim.OpChangeResourceRecordSets); got != 5 {
		t.Fatalf("ChangeResourceRecordSets calls while seeding = %d, want 5", got)
	}

	tests := []struct {
		name     string
		maxItems *int32
		perPage  int
	}{
		{"default page size", nil, 300},
		{"MaxItems 100", aws.Int32(100), 100},
		{"MaxItems above the 300 cap", aws.Int32(1000), 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.ResetCounters()
			wantCalls, total := 0, 0
			for i, z := range zones {
				sets := z.n + 2 // plus the apex NS and SOA
				wantCalls += (sets + tc.perPage - 1) / tc.perPage
				p := route53.NewListResourceRecordSetsPaginator(e.client, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(ids[i]), MaxItems: tc.maxItems})
				var got []string
				for _, page := range allPages(t, p) {
					if len(page.ResourceRecordSets) > tc.perPage {
						t.Fatalf("page of %d sets, want at most %d", len(page.ResourceRecordSets), tc.perPage)
					}
					for _, rs := range page.ResourceRecordSets {
						got = append(got, aws.ToString(rs.Name)+" "+string(rs.Type))
					}
				}
				if len(got) != sets {
					t.Fatalf("zone %s: listed %d sets, want %d", z.name, len(got), sets)
				}
				// Route 53 order: reversed-label name, then type; no duplicates across pages.
				want := slices.Clone(got)
				sort.SliceStable(want, func(a, b int) bool { return r53Less(want[a], want[b]) })
				if !slices.Equal(got, want) {
					t.Fatalf("zone %s: listing not in Route 53 order", z.name)
				}
				if got[0] != z.name+". NS" || got[1] != z.name+". SOA" {
					t.Fatalf("zone %s: first sets %v, want apex NS and SOA", z.name, got[:2])
				}
				if len(slices.Compact(slices.Clone(got))) != len(got) {
					t.Fatalf("zone %s: duplicate sets across pages", z.name)
				}
				total += len(got)
			}
			if total != 5006 {
				t.Errorf("listed %d sets in total, want 5006", total)
			}
			if got := e.sim.Count(sim.OpListResourceRecordSets); got != wantCalls {
				t.Errorf("ListResourceRecordSets calls = %d, want %d", got, wantCalls)
			}
		})
	}
}

// r53Less orders "name type" strings as Route 53 lists them.
func r53Less(a, b string) bool {
	an, at, _ := strings.Cut(a, " ")
	bn, bt, _ := strings.Cut(b, " ")
	ka, kb := reversed(an), reversed(bn)
	if ka != kb {
		return ka < kb
	}
	return at < bt
}

func reversed(name string) string {
	l := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(l)
	return strings.Join(l, ".") + "."
}

func TestListStartRecord(t *testing.T) {
	t.Parallel()
	e, id := newZone(t, "example.com",
		rrset("b.example.com", types.RRTypeA, 60, "192.0.2.1"),
		rrset("b.example.com", types.RRTypeTxt, 60, `"x"`),
		rrset("a.b.example.com", types.RRTypeA, 60, "192.0.2.2"),
		rrset("*.example.com", types.RRTypeA, 60, "192.0.2.3"),
	)
	out, err := e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(id), StartRecordName: aws.String("B.example.com"), StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceRecordSets) != 1 || aws.ToString(out.ResourceRecordSets[0].Name) != "b.example.com." || out.ResourceRecordSets[0].Type != types.RRTypeTxt {
		t.Fatalf("start at b TXT: %+v", out.ResourceRecordSets)
	}
	if !out.IsTruncated || aws.ToString(out.NextRecordName) != "a.b.example.com." || out.NextRecordType != types.RRTypeA {
		t.Fatalf("next = %v %q %q, want a.b.example.com. A", out.IsTruncated, aws.ToString(out.NextRecordName), out.NextRecordType)
	}
	all, err := e.sim.Records(id)
	if err != nil {
		t.Fatal(err)
	}
	// '*' (42) sorts before letters; Route 53 returns it as \052.
	if all[2].Name != `\052.example.com.` {
		t.Errorf("third set = %q, want the wildcard as \\052.example.com.", all[2].Name)
	}
	// Paging across the escaped wildcard name: the SDK sends NextRecordName
	// back as "\052.example.com." (signed like any other query string).
	first, err := e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id), MaxItems: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.NextRecordName) != `\052.example.com.` || first.NextRecordType != types.RRTypeA {
		t.Fatalf("next after the apex = %q %q", aws.ToString(first.NextRecordName), first.NextRecordType)
	}
	second, err := e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id),
		StartRecordName: first.NextRecordName, StartRecordType: first.NextRecordType, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(second.ResourceRecordSets[0].Name); got != `\052.example.com.` {
		t.Errorf("page after the apex starts at %q", got)
	}
	_, err = e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id), StartRecordType: types.RRTypeA})
	if !isInvalidInput(err) {
		t.Errorf("StartRecordType without name: error = %v, want InvalidInput", err)
	}
}

func TestCreateUpsertDelete(t *testing.T) {
	t.Parallel()
	e, id := newZone(t, "example.com")
	ci := e.mustChange(t, id, change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.10", "192.0.2.11")))
	if ci.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(ci.Id), "/change/") {
		t.Fatalf("ChangeInfo = %+v, want PENDING /change/...", ci)
	}
	e.mustChange(t, id, change(types.ChangeActionUpsert, rrset("WWW.example.com.", types.RRTypeA, 60, "192.0.2.12")))
	e.mustChange(t, id, change(types.ChangeActionUpsert, rrset("_acme-challenge.example.com", types.RRTypeTxt, 10, `"token-1"`, `"token-2"`)))

	out, err := e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rs := range out.ResourceRecordSets {
		var vals []string
		for _, r := range rs.ResourceRecords {
			vals = append(vals, aws.ToString(r.Value))
		}
		got = append(got, fmt.Sprintf("%s %s %d %s", aws.ToString(rs.Name), rs.Type, aws.ToInt64(rs.TTL), strings.Join(vals, ",")))
	}
	want := []string{
		"example.com. NS 172800 " + strings.Join(zoneNS(t, e, id), ","),
		"example.com. SOA 900 " + zoneNS(t, e, id)[0] + " awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400",
		`_acme-challenge.example.com. TXT 10 "token-1","token-2"`,
		"www.example.com. A 60 192.0.2.12",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("record sets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// DELETE with the exact values (in another order) succeeds.
	e.mustChange(t, id, change(types.ChangeActionDelete, rrset("_acme-challenge.example.com", types.RRTypeTxt, 10, `"token-2"`, `"token-1"`)))
	recs, err := e.sim.Records(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("after DELETE: %d sets, want 3: %+v", len(recs), recs)
	}
	if c := e.sim.Counters(); c.ByOp[sim.OpChangeResourceRecordSets] != 4 || c.Errors != 0 {
		t.Errorf("counters = %+v, want 4 changes, no errors", c)
	}
}

func zoneNS(t *testing.T, e *env, id string) []string {
	t.Helper()
	for _, z := range e.sim.Zones() {
		if z.ID == id {
			return z.NameServers
		}
	}
	t.Fatalf("zone %s not found", id)
	return nil
}

func TestChangeBatchErrors(t *testing.T) {
	t.Parallel()
	e, id := newZone(t, "example.com",
		rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1"),
		rrset("web.example.com", types.RRTypeCname, 300, "www.example.com"),
	)
	long := `"` + strings.Repeat("x", 256) + `"`
	tests := []struct {
		name    string
		changes []types.Change
		want    string // the whole message
	}{
		{"create existing", []types.Change{change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.9"))},
			"[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists]"},
		{"delete missing", []types.Change{change(types.ChangeActionDelete, rrset("nope.example.com", types.RRTypeA, 300, "192.0.2.9"))},
			"[Tried to delete resource record set [name='nope.example.com.', type='A'] but it was not found]"},
		{"delete with other TTL", []types.Change{change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 60, "192.0.2.1"))},
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values]"},
		{"delete with other values", []types.Change{change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.2"))},
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values]"},
		{"delete twice in one batch", []types.Change{
			change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1")),
			change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1"))},
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but it was not found]"},
		{"atomic: valid create plus failing create", []types.Change{
			change(types.ChangeActionCreate, rrset("new.example.com", types.RRTypeA, 300, "192.0.2.5")),
			change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1"))},
			"[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists]"},
		{"two failures reported together", []types.Change{
			change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 1, "192.0.2.1")),
			change(types.ChangeActionCreate, rrset("web.example.com", types.RRTypeCname, 300, "x.example.com"))},
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values, Tried to create resource record set [name='web.example.com.', type='CNAME'] but it already exists]"},
		{"CNAME at apex", []types.Change{change(types.ChangeActionCreate, rrset("example.com", types.RRTypeCname, 300, "www.example.com"))},
			"[RRSet of type CNAME with DNS name example.com. is not permitted at apex in zone example.com.]"},
		{"CNAME beside A", []types.Change{change(types.ChangeActionUpsert, rrset("www.example.com", types.RRTypeCname, 300, "web.example.com"))},
			"[RRSet of type CNAME with DNS name www.example.com. is not permitted as it conflicts with other records with the same DNS name in zone example.com.]"},
		{"TXT beside CNAME", []types.Change{change(types.ChangeActionCreate, rrset("web.example.com", types.RRTypeTxt, 300, `"v"`))},
			"[RRSet of type TXT with DNS name web.example.com. is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone example.com.]"},
		{"name outside the zone", []types.Change{change(types.ChangeActionCreate, rrset("www.example.org", types.RRTypeA, 300, "192.0.2.1"))},
			"[RRSet with DNS name www.example.org. is not permitted in zone example.com.]"},
		{"unquoted TXT", []types.Change{change(types.ChangeActionCreate, rrset("t.example.com", types.RRTypeTxt, 300, "abc"))},
			"[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'abc'']"},
		{"TXT string over 255", []types.Change{change(types.ChangeActionCreate, rrset("t.example.com", types.RRTypeTxt, 300, long))},
			"[Invalid Resource Record: 'FATAL problem: CharacterStringTooLong (Value is too long) encountered with '" + long + "'']"},
		{"bad IPv4", []types.Change{change(types.ChangeActionCreate, rrset("ip.example.com", types.RRTypeA, 300, "300.1.1.1"))},
			"[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '300.1.1.1'']"},
		{"delete apex SOA", []types.Change{change(types.ChangeActionDelete, soaOf(t, e, id))},
			"[A HostedZone must contain exactly one SOA record.]"},
	}
	before, err := e.sim.Records(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.change(context.Background(), id, tc.changes...)
			if got := invalidChangeBatch(t, err); got != tc.want {
				t.Errorf("message:\n got %s\nwant %s", got, tc.want)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
				t.Errorf("HTTP status: %v, want 400", err)
			}
			after, err := e.sim.Records(id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("zone changed by a refused batch:\n%v\nwant\n%v", after, before)
			}
		})
	}
	// Refused batches are not retried by the SDK: one request each.
	if got := e.sim.Count(sim.OpChangeResourceRecordSets); got != 1+len(tests) {
		t.Errorf("ChangeResourceRecordSets calls = %d, want %d", got, 1+len(tests))
	}
}

func soaOf(t *testing.T, e *env, id string) *types.ResourceRecordSet {
	t.Helper()
	recs, err := e.sim.Records(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Type == "SOA" {
			return rrset(r.Name, types.RRTypeSoa, r.TTL, r.Values...)
		}
	}
	t.Fatal("no SOA")
	return nil
}

func TestChangeBatchLimits(t *testing.T) {
	t.Parallel()
	e, id := newZone(t, "example.com")
	values := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}
		return v
	}
	txt := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf(`"%03d%s"`, i, strings.Repeat("y", 247))
		}
		return v
	}
	tests := []struct {
		name    string
		changes []types.Change
		want    string // "" = accepted
	}{
		{"1000 records CREATE", []types.Change{change(types.ChangeActionCreate, rrset("a.example.com", types.RRTypeA, 60, values(1000)...))}, ""},
		{"1001 records CREATE", []types.Change{change(types.ChangeActionCreate, rrset("b.example.com", types.RRTypeA, 60, values(1001)...))},
			"[Number of records limit of 1000 exceeded.]"},
		{"500 records UPSERT (counts 1000)", []types.Change{change(types.ChangeActionUpsert, rrset("c.example.com", types.RRTypeA, 60, values(500)...))}, ""},
		{"501 records UPSERT (counts 1002)", []types.Change{change(types.ChangeActionUpsert, rrset("d.example.com", types.RRTypeA, 60, values(501)...))},
			"[Number of records limit of 1000 exceeded.]"},
		{"128 TXT values of 252 chars (32256)", []types.Change{change(types.ChangeActionCreate, rrset("e.example.com", types.RRTypeTxt, 60, txt(128)...))},
			"[RDATA character limit of 32000 exceeded.]"},
		{"64 TXT values UPSERT (16128, counts double)", []types.Change{change(types.ChangeActionUpsert, rrset("f.example.com", types.RRTypeTxt, 60, txt(64)...))},
			"[RDATA character limit of 32000 exceeded.]"},
		{"63 TXT values UPSERT", []types.Change{change(types.ChangeActionUpsert, rrset("g.example.com", types.RRTypeTxt, 60, txt(63)...))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.change(context.Background(), id, tc.changes...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				return
			}
			if got := invalidChangeBatch(t, err); got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
		})
	}

	// Malformed batches are InvalidInput.
	_, err := e.client.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id), ChangeBatch: &types.ChangeBatch{Changes: []types.Change{}}})
	if !isInvalidInput(err) {
		t.Errorf("empty batch: error = %v, want *types.InvalidInput", err)
	}
	both := rrset("h.example.com", types.RRTypeA, 60, "192.0.2.1")
	both.AliasTarget = &types.AliasTarget{HostedZoneId: aws.String(id), DNSName: aws.String("a.example.com"), EvaluateTargetHealth: false}
	_, err = e.change(context.Background(), id, change(types.ChangeActionCreate, both))
	if !isInvalidInput(err) || !strings.Contains(err.Error(), "Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]") {
		t.Errorf("alias plus records: error = %v, want InvalidInput", err)
	}
	_, err = e.change(context.Background(), "ZNOSUCHZONE", change(types.ChangeActionCreate, rrset("x.example.com", types.RRTypeA, 60, "192.0.2.1")))
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) {
		t.Errorf("unknown zone: error = %v, want *types.NoSuchHostedZone", err)
	}
}

func TestAliasRecords(t *testing.T) {
	t.Parallel()
	e, id := newZone(t, "example.com")
	alias := func(name, target string) *types.ResourceRecordSet {
		return &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String(id), DNSName: aws.String(target), EvaluateTargetHealth: false}}
	}
	// Target and alias in one batch: the alias sees the target created before it.
	e.mustChange(t, id,
		change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.80")),
		change(types.ChangeActionCreate, alias("example.com", "www.example.com")),
	)
	out, err := e.client.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(id), StartRecordName: aws.String("example.com"), StartRecordType: types.RRTypeA, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	rs := out.ResourceRecordSets[0]
	if rs.AliasTarget == nil || aws.ToString(rs.AliasTarget.DNSName) != "www.example.com." || rs.TTL != nil || len(rs.ResourceRecords) != 0 {
		t.Fatalf("alias set = %+v", rs)
	}
	// Deleting an alias must match its target exactly.
	_, err = e.change(context.Background(), id, change(types.ChangeActionDelete, alias("example.com", "other.example.com")))
	if msg := invalidChangeBatch(t, err); !strings.Contains(msg, "do not match the current values") {
		t.Errorf("delete alias with other target: %s", msg)
	}
	_, err = e.change(context.Background(), id, change(types.ChangeActionCreate, alias("x.example.com", "missing.example.com")))
	if msg := invalidChangeBatch(t, err); msg != "[Tried to create an alias that targets missing.example.com., type A in zone "+id+", but that target was not found]" {
		t.Errorf("alias to missing target: %s", msg)
	}
	e.mustChange(t, id, change(types.ChangeActionDelete, alias("example.com", "www.example.com")))
}

func TestSignatureRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{Credentials: map[string]string{"AKIDGOOD": "good-secret"}})
	ctx := context.Background()

	// Unsigned request.
	resp, err := http.Get(e.url + "/2013-04-01/hostedzonesbyname")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned: %d %s", resp.StatusCode, body)
	}

	tests := []struct {
		name, key, secret, wantCode string
	}{
		{"wrong secret", "AKIDGOOD", "bad-secret", "SignatureDoesNotMatch"},
		{"unknown key", "AKIDUNKNOWN", "good-secret", "InvalidClientTokenId"},
		{"good", "AKIDGOOD", "good-secret", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(e.url, tc.key, tc.secret, noRetries)
			_, err := c.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{})
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae smithy.APIError
			var re *awshttp.ResponseError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.wantCode || !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
				t.Fatalf("error = %v, want %s with HTTP 403", err, tc.wantCode)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error message leaks the secret: %v", err)
			}
		})
	}

	// A correctly signed request whose body was changed after signing.
	signed := `<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><CallerReference>r1</CallerReference><Name>signed.example.</Name></CreateHostedZoneRequest>`
	req, err := http.NewRequest(http.MethodPost, e.url+"/2013-04-01/hostedzone", strings.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(signed))
	err = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIDGOOD", SecretAccessKey: "good-secret"}, req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(signed, "signed.example.", "evil01.example.", 1)
	req.Body = io.NopCloser(bytes.NewReader([]byte(tampered)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("tampered body: %d %s", resp.StatusCode, body)
	}
	if len(e.sim.Zones()) != 0 {
		t.Errorf("a refused request created a zone")
	}
	if c := e.sim.Counters(); c.AuthFailures != 4 || c.Total != 5 {
		t.Errorf("counters = %+v, want 4 auth failures of 5 requests", c)
	}
}

func TestThrottlingAndFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("every 2nd call throttled, raw error without retries", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, sim.Options{ThrottleEvery: 2}, noRetries)
		list := func() error {
			_, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{})
			return err
		}
		if err := list(); err != nil {
			t.Fatalf("call 1: %v", err)
		}
		err := list()
		var ae smithy.APIError
		var re *awshttp.ResponseError
		if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" || ae.ErrorMessage() != "Rate exceeded" || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
			t.Fatalf("call 2: error = %v, want Throttling: Rate exceeded (400)", err)
		}
		if c := e.sim.Counters(); c.Total != 2 || c.Throttled != 1 {
			t.Errorf("counters = %+v", c)
		}
	})

	t.Run("SDK retries throttling", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, sim.Options{})
		e.sim.FailNext(sim.OpListHostedZonesByName, sim.FaultThrottle, 2)
		if _, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{}); err != nil {
			t.Fatal(err)
		}
		if c := e.sim.Counters(); c.ByOp[sim.OpListHostedZonesByName] != 3 || c.Throttled != 2 {
			t.Errorf("counters = %+v, want 3 calls, 2 throttled", c)
		}
	})

	// A failed change (an error answer, or no answer at all) is retried by
	// the SDK and applied once.
	for _, fault := range []sim.Fault{sim.FaultInternal, sim.FaultReset} {
		t.Run(string(fault)+" is retried and applied once", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Options{})
			id := e.createZone(t, "example.com")
			e.sim.FailNext(sim.OpChangeResourceRecordSets, fault, 1)
			e.mustChange(t, id, change(types.ChangeActionCreate, rrset("x.example.com", types.RRTypeA, 60, "192.0.2.1")))
			if got := e.sim.Count(sim.OpChangeResourceRecordSets); got != 2 {
				t.Errorf("ChangeResourceRecordSets calls = %d, want 2", got)
			}
			recs, err := e.sim.Records(id)
			if err != nil || len(recs) != 3 {
				t.Errorf("records = %v, %v; want apex NS, SOA and x", recs, err)
			}
		})
	}

	t.Run("500 InternalFailure without retries", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, sim.Options{})
		id := e.createZone(t, "example.com")
		e.sim.FailNext("", sim.FaultInternal, 1)
		_, err := e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(id)}, noRetries)
		var re *awshttp.ResponseError
		var ae smithy.APIError
		if !errors.As(err, &re) || re.HTTPStatusCode() != 500 || !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
			t.Errorf("error = %v, want 500 InternalFailure", err)
		}
	})

	t.Run("PriorRequestNotComplete while a change is pending", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		e := newEnv(t, sim.Options{Now: clock.Now, ChangeDelay: time.Minute, RejectWhilePending: true}, noRetries)
		id := e.createZone(t, "example.com")
		clock.Advance(time.Minute)
		e.mustChange(t, id, change(types.ChangeActionCreate, rrset("x.example.com", types.RRTypeA, 60, "192.0.2.1")))
		_, err := e.change(ctx, id, change(types.ChangeActionCreate, rrset("y.example.com", types.RRTypeA, 60, "192.0.2.1")))
		var prnc *types.PriorRequestNotComplete
		if !errors.As(err, &prnc) {
			t.Fatalf("error = %v, want *types.PriorRequestNotComplete", err)
		}
		clock.Advance(time.Minute)
		e.mustChange(t, id, change(types.ChangeActionCreate, rrset("y.example.com", types.RRTypeA, 60, "192.0.2.1")))
	})
}

func TestGetChangeInsync(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, sim.Options{Now: clock.Now, ChangeDelay: 30 * time.Second})
	ctx := context.Background()
	id := e.createZone(t, "example.com")
	ci := e.mustChange(t, id, change(types.ChangeActionUpsert, rrset("_acme-challenge.example.com", types.RRTypeTxt, 10, `"abc"`)))
	get := func() types.ChangeStatus {
		out, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: ci.Id})
		if err != nil {
			t.Fatal(err)
		}
		return out.ChangeInfo.Status
	}
	if s := get(); s != types.ChangeStatusPending {
		t.Fatalf("status right after the change = %s, want PENDING", s)
	}
	clock.Advance(29 * time.Second)
	if s := get(); s != types.ChangeStatusPending {
		t.Fatalf("status after 29s = %s, want PENDING", s)
	}
	clock.Advance(time.Second)
	if s := get(); s != types.ChangeStatusInsync {
		t.Fatalf("status after 30s = %s, want INSYNC", s)
	}
	// The SDK waiter (as lego uses it) ends on INSYNC.
	w := route53.NewResourceRecordSetsChangedWaiter(e.client, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: ci.Id}, 10*time.Second); err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if got := e.sim.Count(sim.OpGetChange); got != 4 {
		t.Errorf("GetChange calls = %d, want 4", got)
	}
	_, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("/change/CNOSUCH")})
	var nsc *types.NoSuchChange
	if !errors.As(err, &nsc) {
		t.Errorf("unknown change: error = %v, want *types.NoSuchChange", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	// The lab persists a snapshot from OnChange after every accepted change.
	var (
		mu        sync.Mutex
		srv       *sim.Server
		persisted []byte
		hooks     int
	)
	e := newEnv(t, sim.Options{OnChange: func() {
		mu.Lock()
		defer mu.Unlock()
		b, err := srv.Snapshot()
		if err != nil {
			t.Error(err)
		}
		persisted, hooks = b, hooks+1
	}})
	mu.Lock()
	srv = e.sim
	mu.Unlock()
	id := e.createZone(t, "example.com")
	e.mustChange(t, id,
		change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1")),
		change(types.ChangeActionCreate, rrset("txt.example.com", types.RRTypeTxt, 300, `"a b" "c"`)),
		change(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("example.com"), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String(id), DNSName: aws.String("www.example.com")}}),
	)
	// A refused change does not call the hook.
	if _, err := e.change(context.Background(), id, change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1"))); err == nil {
		t.Fatal("duplicate CREATE accepted")
	}
	mu.Lock()
	snap := persisted
	if hooks != 2 {
		t.Errorf("OnChange called %d times, want 2 (zone, batch)", hooks)
	}
	mu.Unlock()
	e2 := newEnv(t, sim.Options{})
	if err := e2.sim.Restore(snap); err != nil {
		t.Fatal(err)
	}
	r1, _ := e.sim.Records(id)
	r2, err := e2.sim.Records(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(e.sim.Zones(), e2.sim.Zones()) {
		t.Fatalf("restored state differs:\n%v\n%v", r1, r2)
	}
	// The restored simulator serves the API for the same zone ID.
	e2.mustChange(t, id, change(types.ChangeActionDelete, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.1")))
	if err := e2.sim.Restore([]byte(`{"version":1,"zones":[{"id":"Z1","name":"x.","recordSets":[{"name":"a.x.","type":"TXT","ttl":1,"values":["bad"]}]}]}`)); err == nil {
		t.Error("Restore accepted an invalid TXT value")
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, sim.Options{Now: clock.Now, RateLimit: 5, RateBurst: 2}, noRetries)
	ctx := context.Background()
	list := func() error {
		_, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{})
		return err
	}
	var results []string
	for i := 0; i < 3; i++ {
		results = append(results, errCode(list()))
	}
	clock.Advance(200 * time.Millisecond) // one token at 5 per second
	results = append(results, errCode(list()), errCode(list()))
	want := []string{"", "", "Throttling", "", "Throttling"}
	if !slices.Equal(results, want) {
		t.Fatalf("results = %q, want %q", results, want)
	}
	if c := e.sim.Counters(); c.Throttled != 2 || c.Total != 5 {
		t.Errorf("counters = %+v", c)
	}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestEveryNthFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{InternalErrorEvery: 3, ResetEvery: 4}, noRetries)
	ctx := context.Background()
	var got []string
	for i := 0; i < 6; i++ {
		_, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{})
		got = append(got, errCode(err))
	}
	// Request 4 is reset; net/http itself retries an idempotent GET whose
	// reused connection was reset before any response, so the SDK's 4th
	// call gets request 5, and its 5th call request 6 (a 3rd: 500).
	if want := []string{"", "", "InternalFailure", "", "InternalFailure", ""}; !slices.Equal(got, want) {
		t.Fatalf("results = %q, want %q", got, want)
	}
	log := e.sim.Requests()
	if len(log) != 7 || log[3].ErrorCode != string(sim.FaultReset) || log[2].Status != 500 || log[5].Status != 500 ||
		log[0].Operation != sim.OpListHostedZonesByName || log[0].AccessKeyID != sim.DefaultAccessKeyID {
		t.Errorf("request log = %+v", log)
	}
	if c := e.sim.Counters(); c.Faults != 3 || c.Errors != 3 || c.Total != 7 {
		t.Errorf("counters = %+v, want 3 injected errors", c)
	}
	e.sim.ResetCounters()
	if c := e.sim.Counters(); c.Total != 0 || len(c.ByOp) != 0 || len(e.sim.Requests()) != 0 {
		t.Errorf("after ResetCounters: %+v", c)
	}
}

func TestGoSetupAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{NameServers: []string{"ns1.lab.example.", "ns2.lab.example."}})
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := e.sim.CreateZone(fmt.Sprintf("z%d.lab.example", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := e.sim.CreateZone("bad..name"); err == nil {
		t.Error("CreateZone accepted an invalid name")
	}
	err := e.sim.UpsertRecords(ids[0],
		sim.RecordSet{Name: "www.z0.lab.example", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}},
		sim.RecordSet{Name: "z0.lab.example", Type: "A", Alias: &sim.Alias{HostedZoneID: ids[0], DNSName: "www.z0.lab.example"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UpsertRecords(ids[0], sim.RecordSet{Name: "x.other.example", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}}); err == nil {
		t.Error("UpsertRecords accepted a name outside the zone")
	}
	recs, err := e.sim.Records(ids[0])
	if err != nil || len(recs) != 4 || recs[1].Values[0] != "ns1.lab.example." {
		t.Fatalf("records = %+v, %v", recs, err)
	}
	// ListHostedZones pages with Marker/NextMarker.
	p := route53.NewListHostedZonesPaginator(e.client, &route53.ListHostedZonesInput{MaxItems: aws.Int32(2)})
	n := 0
	for _, page := range allPages(t, p) {
		n += len(page.HostedZones)
	}
	if n != 5 || e.sim.Count(sim.OpListHostedZones) != 3 {
		t.Errorf("listed %d zones in %d calls, want 5 in 3", n, e.sim.Count(sim.OpListHostedZones))
	}
}
