package sim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/gitops-runner/gitops-runner/internal/simapi"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
)

// newFakeClock is a settable clock for Options.Now. It starts at the real
// time because the SDK signs requests with the real time.
func newFakeClock() *simapi.Clock { return simapi.NewClock(time.Now()) }

// fastRetryer is the SDK's standard retryer without backoff sleeps and
// without the client-side retry quota, so tests stay fast and deterministic.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

// env is a simulator behind httptest plus a real SDK client pointed at it.
type env struct {
	sim    *sim.Server
	url    string
	client *route53.Client
}

func newEnv(t testing.TB, opts sim.Options, optFns ...func(*route53.Options)) *env {
	t.Helper()
	s := sim.New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return &env{sim: s, url: hs.URL, client: newClient(hs.URL, sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, optFns...)}
}

func newClient(url, key, secret string, optFns ...func(*route53.Options)) *route53.Client {
	o := route53.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(url),
		Retryer:      fastRetryer(),
	}
	for _, fn := range optFns {
		fn(&o)
	}
	return route53.New(o)
}

func noRetries(o *route53.Options) { o.Retryer = aws.NopRetryer{} }

// listenDNS serves the zones over DNS (UDP and TCP) on a free local port and
// returns its address.
func (e *env) listenDNS(t testing.TB) string {
	t.Helper()
	return simtest.Listen(t, e.sim.ListenDNS)
}

// createZone creates a hosted zone through the SDK and returns its bare ID.
func (e *env) createZone(t testing.TB, name string) string {
	t.Helper()
	out, err := e.client.CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name: aws.String(name), CallerReference: aws.String(fmt.Sprintf("ref-%s-%d", name, time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatalf("CreateHostedZone %s: %v", name, err)
	}
	id := aws.ToString(out.HostedZone.Id)
	const prefix = "/hostedzone/"
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		t.Fatalf("CreateHostedZone %s: Id = %q, want /hostedzone/ prefix", name, id)
	}
	return id[len(prefix):]
}

func rrset(name string, typ types.RRType, ttl int64, values ...string) *types.ResourceRecordSet {
	rs := &types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(ttl)}
	for _, v := range values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

func change(action types.ChangeAction, rs *types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: rs}
}

// newZone starts a simulator with one hosted zone, created with sets in one
// batch, and returns it with the zone's ID.
func newZone(t testing.TB, name string, sets ...*types.ResourceRecordSet) (*env, string) {
	t.Helper()
	e := newEnv(t, sim.Options{})
	id := e.createZone(t, name)
	if len(sets) > 0 {
		changes := make([]types.Change, len(sets))
		for i, rs := range sets {
			changes[i] = change(types.ChangeActionCreate, rs)
		}
		e.mustChange(t, id, changes...)
	}
	return e, id
}

func (e *env) change(ctx context.Context, zoneID string, changes ...types.Change) (*route53.ChangeResourceRecordSetsOutput, error) {
	return e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), ChangeBatch: &types.ChangeBatch{Changes: changes},
	})
}

func (e *env) mustChange(t testing.TB, zoneID string, changes ...types.Change) *types.ChangeInfo {
	t.Helper()
	out, err := e.change(context.Background(), zoneID, changes...)
	if err != nil {
		t.Fatalf("ChangeResourceRecordSets: %v", err)
	}
	return out.ChangeInfo
}

// invalidChangeBatch asserts err is the SDK's typed InvalidChangeBatch and
// returns its message.
func invalidChangeBatch(t *testing.T, err error) string {
	t.Helper()
	var icb *types.InvalidChangeBatch
	if !errors.As(err, &icb) {
		t.Fatalf("error = %v (%T), want *types.InvalidChangeBatch", err, err)
	}
	return icb.ErrorMessage()
}

// paginator is an AWS SDK v2 paginator of route53.
type paginator[O any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*route53.Options)) (O, error)
}

// allPages reads every page of p, failing the test on an error.
func allPages[O any](tb testing.TB, p paginator[O]) []O {
	tb.Helper()
	var out []O
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, page)
	}
	return out
}
