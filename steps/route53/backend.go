// Package route53 is the DNS backend of gitops-runner: it manages Route 53
// record sets (kind route53.record) through aws-sdk-go-v2. Observe lists whole
// zones with pagination, Diff is pure, and Apply gathers the concurrent
// changes of one zone into few ChangeResourceRecordSets batches and waits for
// INSYNC. It also offers a DNS-01 provider (DNSProvider) so the ACME backend
// solves challenges with the same credentials.
package route53

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Config is the backends.route53 section of the runner configuration.
type Config struct {
	// Region signs the requests; default us-east-1 (Route 53 is global).
	Region string `json:"region,omitempty"`
	// Endpoint replaces the API endpoint (BaseEndpoint), e.g. the simulator's URL.
	Endpoint string `json:"endpoint,omitempty"`
	// AccessKeyID and SecretAccessKey name static credentials (a file or an
	// environment variable each). Without them, Profile or the standard AWS
	// chain (environment, shared config and credentials files, SSO, IMDS)
	// applies.
	AccessKeyID     *steps.SecretRef `json:"accessKeyId,omitempty"`
	SecretAccessKey *steps.SecretRef `json:"secretAccessKey,omitempty"`
	// Profile selects a profile of the shared AWS config files.
	Profile string `json:"profile,omitempty"`
	// ChangeTimeout bounds the wait for a change to be INSYNC (default 5m).
	ChangeTimeout Duration `json:"changeTimeout,omitempty"`
	// PollInterval is the GetChange polling interval (default 5s).
	PollInterval Duration `json:"pollInterval,omitempty"`
	// BatchWindow is how long Apply waits for more changes of the same zone
	// before it submits a batch (default 20ms).
	BatchWindow Duration `json:"batchWindow,omitempty"`
	// BatchSize caps the ResourceRecord elements of one change batch
	// (default and maximum 1000; an UPSERT counts double).
	BatchSize int `json:"batchSize,omitempty"`
	// Zones, when set, are the only hosted zones records may be declared in.
	Zones []string `json:"zones,omitempty"`
}

// Duration is a duration string in the config ("10s", "250ms").
type Duration = steps.Duration

// Defaults of the configuration.
const (
	DefaultChangeTimeout = 5 * time.Minute
	DefaultPollInterval  = 5 * time.Second
	DefaultBatchWindow   = 20 * time.Millisecond
	// MaxBatchRecords is Route 53's limit of ResourceRecord elements per
	// change batch (docs/api-facts.md §4).
	MaxBatchRecords = 1000
	// MaxBatchChars is Route 53's limit of value characters per change batch.
	MaxBatchChars = 32000
)

// ErrNotConfigured is returned by Observe and Apply when the runner config
// has no backends.route53 section.
var ErrNotConfigured = steps.NotConfigured("route53", "backends.route53")

// Backend manages route53.record resources. It is safe for concurrent use.
type Backend struct {
	cfg    Config
	zones  []string // normalized cfg.Zones
	client *r53.Client
	red    *steps.Redactor

	mu       sync.Mutex
	zoneIDs  map[string]string // zone name → bare hosted zone ID, from the last Observe
	batchers map[string]*batcher
}

// New builds the backend from the backends.route53 section of the runner
// config (strict). A nil section gives a backend that decodes specs but
// refuses to observe or apply (ErrNotConfigured).
func New(raw json.RawMessage, red *steps.Redactor) (*Backend, error) {
	return newBackend(raw, red)
}

// newBackend is New with extra client options (tests tune the SDK retryer).
func newBackend(raw json.RawMessage, red *steps.Redactor, optFns ...func(*r53.Options)) (*Backend, error) {
	b := &Backend{red: red, zoneIDs: map[string]string{}, batchers: map[string]*batcher{}}
	if raw == nil {
		return b, nil
	}
	if err := steps.DecodeStrict(raw, &b.cfg); err != nil {
		return nil, err
	}
	c := &b.cfg
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.ChangeTimeout == 0 {
		c.ChangeTimeout = Duration(DefaultChangeTimeout)
	}
	if c.PollInterval == 0 {
		c.PollInterval = Duration(DefaultPollInterval)
	}
	if c.BatchWindow == 0 {
		c.BatchWindow = Duration(DefaultBatchWindow)
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = MaxBatchRecords
	case c.BatchSize < 2 || c.BatchSize > MaxBatchRecords:
		return nil, steps.FieldErrorf("batchSize", "%d is out of range 2–%d", c.BatchSize, MaxBatchRecords)
	}
	for i, z := range c.Zones {
		n, err := normName(z)
		if err != nil {
			return nil, steps.FieldErrorf(fmt.Sprintf("zones[%d]", i), "%v", err)
		}
		b.zones = append(b.zones, n)
	}
	if (c.AccessKeyID == nil) != (c.SecretAccessKey == nil) {
		return nil, steps.FieldErrorf("accessKeyId", "give both accessKeyId and secretAccessKey, or neither (then profile or the standard AWS chain applies)")
	}
	if c.AccessKeyID != nil && c.Profile != "" {
		return nil, steps.FieldErrorf("profile", "give either static keys (accessKeyId, secretAccessKey) or a profile, not both")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(c.Region)}
	if c.AccessKeyID != nil {
		id, err := c.AccessKeyID.Read(red)
		if err != nil {
			return nil, steps.FieldErrorf("accessKeyId", "%v", err)
		}
		secret, err := c.SecretAccessKey.Read(red)
		if err != nil {
			return nil, steps.FieldErrorf("secretAccessKey", "%v", err)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %s", red.Redact(err.Error()))
	}
	b.client = r53.NewFromConfig(awsCfg, func(o *r53.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		for _, f := range optFns {
			f(o)
		}
		// Set by now: the SDK resolves its client (its default, or the
		// config's, e.g. for AWS_CA_BUNDLE) before it applies the options,
		// so the counting wraps what is used, never nil.
		o.HTTPClient = steps.APIDoer("route53", o.HTTPClient)
	})
	return b, nil
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "route53" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return []string{Kind} }

func (b *Backend) configured() error {
	if b.client == nil {
		return ErrNotConfigured
	}
	return nil
}

// MaxParallel implements steps.ParallelApplier: Apply only queues a change
// into its zone's batch, so up to a full batch of changes may be in flight
// at once regardless of the executor's global bound.
func (b *Backend) MaxParallel() int { return b.cfg.BatchSize }

// Rank places DNS records after guests and identity, before certificates.
func (b *Backend) Rank(string) int { return 30 }

// Identities implements steps.Identifier: the record set a target manages
// (the desired one, else the last applied), as
// "rrset:<zone>/<name>/<TYPE>" with absolute lower-case names, e.g.
// "rrset:mydomain.com./www.mydomain.com./A". Route 53 compares names
// case-insensitively and lists them absolute, with the trailing dot
// (docs/api-facts.md §4); a record set is one zone, name and type.
func (b *Backend) Identities(t steps.Target) []string {
	s, ok := t.Want.(Spec)
	if !ok {
		if s, ok = t.Last.(Spec); !ok {
			return nil
		}
	}
	return []string{"rrset:" + lowerTrim(s.Zone) + "./" + lowerTrim(s.Name) + "./" + strings.ToUpper(s.Type)}
}

// The interfaces the pipeline and the executor look for.
var (
	_ steps.Backend         = (*Backend)(nil)
	_ steps.Ranker          = (*Backend)(nil)
	_ steps.ParallelApplier = (*Backend)(nil)
	_ steps.Identifier      = (*Backend)(nil)
	_ steps.LastDecoder     = (*Backend)(nil)
)
