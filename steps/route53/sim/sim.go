// Package sim simulates Amazon Route 53 for gitops-runner: the REST-XML API
// the AWS SDK for Go v2 speaks (hosted zones, record sets, change batches with
// Route 53's validation and errors, SigV4 checking) and an authoritative DNS
// server answering from the live record sets. The route53 backend is tested
// against it, Pebble validates DNS-01 challenges through its DNS server, and
// `runner lab` runs it as the homelab's public DNS.
package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/internal/simapi"
)

// Default credentials accepted when Options.Credentials is empty.
const (
	DefaultAccessKeyID     = "AKIDROUTE53SIMULATOR"
	DefaultSecretAccessKey = "route53-simulator-secret-key" //nolint:gosec // a well-known simulator credential, not a secret
)

// Operation names, as used in counters, the request log and FailNext.
const (
	OpCreateHostedZone         = "CreateHostedZone"
	OpGetHostedZone            = "GetHostedZone"
	OpListHostedZones          = "ListHostedZones"
	OpListHostedZonesByName    = "ListHostedZonesByName"
	OpListResourceRecordSets   = "ListResourceRecordSets"
	OpChangeResourceRecordSets = "ChangeResourceRecordSets"
	OpGetChange                = "GetChange"
	// OpUnknown counts requests for paths the simulator does not serve.
	OpUnknown = "Unknown"
)

// Fault is an injected failure.
type Fault string

// Faults the simulator can inject.
const (
	// FaultThrottle answers 400 Throttling "Rate exceeded" (docs/api-facts.md §4: 5 req/s per account).
	FaultThrottle Fault = "Throttling"
	// FaultInternal answers 500 InternalFailure.
	FaultInternal Fault = "InternalFailure"
	// FaultPriorRequest answers 400 PriorRequestNotComplete.
	FaultPriorRequest Fault = "PriorRequestNotComplete"
	// FaultReset closes the connection with a TCP reset instead of answering.
	FaultReset Fault = "ConnectionReset"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Credentials maps access key IDs to secret access keys; requests must be
	// SigV4-signed with one of them. Empty means DefaultAccessKeyID and
	// DefaultSecretAccessKey.
	Credentials map[string]string
	// Region the signature's credential scope must name; default "us-east-1"
	// (Route 53 is a global service signed for us-east-1).
	Region string
	// MaxClockSkew is how far X-Amz-Date may be from Now; default 5 minutes.
	MaxClockSkew time.Duration

	// Latency delays every API call before it is processed.
	Latency time.Duration
	// ThrottleEvery answers every Nth API call with Throttling (0 = off).
	ThrottleEvery int
	// RateLimit throttles calls above this many per second (token bucket,
	// burst RateBurst, at least 1); 0 = off.
	RateLimit float64
	RateBurst int
	// InternalErrorEvery answers every Nth API call with 500 InternalFailure.
	InternalErrorEvery int
	// ResetEvery resets the connection of every Nth API call.
	ResetEvery int

	// ChangeDelay is how long a change stays PENDING in GetChange before it is
	// INSYNC. Records are served by DNS as soon as the change is accepted.
	ChangeDelay time.Duration
	// RejectWhilePending answers ChangeResourceRecordSets with
	// PriorRequestNotComplete while the zone's previous change is PENDING.
	RejectWhilePending bool

	// NameServers replaces the generated awsdns delegation set of new zones
	// (e.g. the lab's own name server names).
	NameServers []string

	// OnChange, if set, is called after every accepted change of zones or
	// records (API or Go setup API), outside the simulator's lock, so it may
	// call Snapshot to persist the state (the lab does).
	OnChange func()

	// Now is the clock (default time.Now); tests may drive it.
	Now func() time.Time
	// MaxLogEntries bounds the request and DNS query logs (default 10000).
	MaxLogEntries int
}

// Request is one entry of the API request log.
type Request struct {
	Time        time.Time
	Operation   string
	Method      string
	Path        string
	Query       string
	AccessKeyID string
	Status      int
	// ErrorCode is the AWS error code returned, or the injected fault.
	ErrorCode string
}

// DNSQuery is one entry of the DNS query log.
type DNSQuery struct {
	Time  time.Time
	Net   string // "udp" or "tcp"
	Name  string
	Type  string
	Rcode string
}

// Counters are the request counters since New or the last ResetCounters.
// Counts.Total counts API requests, refused and failed ones included;
// ByOp counts them per operation name (Op* constants); Writes are
// CreateHostedZone and ChangeResourceRecordSets calls, Reads the others;
// Faults counts injected faults of any kind.
type Counters struct {
	simapi.Counts
	// Errors counts API responses with an error status (injected ones included).
	Errors int
	// Throttled counts Throttling responses.
	Throttled int
	// AuthFailures counts requests refused for their signature.
	AuthFailures int
	// DNSQueries counts DNS queries answered.
	DNSQueries int
}

// writeOps are the operations that change state, counted as Writes.
var writeOps = map[string]bool{OpCreateHostedZone: true, OpChangeResourceRecordSets: true}

// Server is a Route 53 simulator. It is an http.Handler for the API and a
// dns.Handler for the authoritative DNS; all methods are safe for concurrent use.
type Server struct {
	opts Options

	counters simapi.Counters
	log      simapi.Log[Request]
	dnsLog   simapi.Log[DNSQuery]
	faults   simapi.FaultQueue[Fault]

	mu sync.Mutex // guards the fields below
	st *state
	// more holds the Route 53 counters beyond simapi.Counts.
	more     Counters
	tokens   float64
	refilled time.Time

	lifeMu  sync.Mutex
	closed  bool
	dnsSrvs []*dns.Server
	httpSrv []*http.Server
	wg      sync.WaitGroup
}

// New returns a Server with no hosted zones.
func New(opts Options) *Server {
	if len(opts.Credentials) == 0 {
		opts.Credentials = map[string]string{DefaultAccessKeyID: DefaultSecretAccessKey}
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxLogEntries <= 0 {
		opts.MaxLogEntries = 10000
	}
	if opts.RateBurst < 1 {
		opts.RateBurst = 1
	}
	return &Server{
		opts:     opts,
		log:      simapi.Log[Request]{Limit: opts.MaxLogEntries},
		dnsLog:   simapi.Log[DNSQuery]{Limit: opts.MaxLogEntries},
		st:       newState(),
		tokens:   float64(opts.RateBurst),
		refilled: opts.Now(),
	}
}

// CreateZone creates a public hosted zone with its NS and SOA record sets and
// returns its bare ID ("Z...").
func (s *Server) CreateZone(name string) (string, error) {
	s.mu.Lock()
	z, _, e := s.st.createZone(name, newID("ref-"), "", slices.Clone(s.opts.NameServers), s.opts.Now())
	s.mu.Unlock()
	if e != nil {
		return "", fmt.Errorf("create zone %q: %w", name, e)
	}
	s.changed()
	return z.id, nil
}

// changed runs the OnChange hook; callers must not hold s.mu.
func (s *Server) changed() {
	if s.opts.OnChange != nil {
		s.opts.OnChange()
	}
}

// Zones lists the hosted zones in ListHostedZonesByName order.
func (s *Server) Zones() []Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Zone
	for _, z := range s.st.zonesSorted() {
		out = append(out, z.public())
	}
	return out
}

// Records returns a zone's record sets in ListResourceRecordSets order.
func (s *Server) Records(zoneID string) ([]RecordSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.st.zones[zoneID]
	if z == nil {
		return nil, fmt.Errorf("records of %s: %w", zoneID, ErrNoSuchZone)
	}
	out := make([]RecordSet, 0, len(z.sorted))
	for _, rs := range z.sorted {
		out = append(out, rs.public())
	}
	return out, nil
}

// UpsertRecords creates or replaces record sets in a zone as one atomic
// UPSERT batch, with the same validation as the API (for seeding the lab).
func (s *Server) UpsertRecords(zoneID string, sets ...RecordSet) error {
	if err := s.upsert(zoneID, sets); err != nil {
		return err
	}
	s.changed()
	return nil
}

func (s *Server) upsert(zoneID string, sets []RecordSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.st.zones[zoneID]
	if z == nil {
		return fmt.Errorf("upsert records in %s: %w", zoneID, ErrNoSuchZone)
	}
	changes := make([]changeReq, 0, len(sets))
	for _, rs := range sets {
		changes = append(changes, changeReq{action: "UPSERT", set: rs, hasTTL: rs.Alias == nil, hasRecords: rs.Alias == nil})
	}
	if e := s.st.applyBatch(z, changes); e != nil {
		return fmt.Errorf("upsert records in %s: %w", zoneID, e)
	}
	return nil
}

// Snapshot returns the zones, record sets and changes as JSON.
func (s *Server) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.snapshot()
}

// Restore replaces the whole state with a Snapshot.
func (s *Server) Restore(b []byte) error {
	st, err := restoreState(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	return nil
}

// FailNext queues fault f for the next n calls of operation op ("" = any
// operation, or a path.Match glob of Op* names), one fault per call, in the
// order they were queued.
func (s *Server) FailNext(op string, f Fault, n int) { s.faults.Arm(op, f, n) }

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.more
	c.Counts = s.counters.Snapshot()
	return c
}

// Count returns the number of API requests for one operation.
func (s *Server) Count(op string) int { return s.counters.Count(op) }

// Requests returns the API request log (the newest MaxLogEntries entries).
func (s *Server) Requests() []Request { return s.log.Entries() }

// DNSQueries returns the DNS query log (the newest MaxLogEntries entries).
func (s *Server) DNSQueries() []DNSQuery { return s.dnsLog.Entries() }

// ResetCounters zeroes the counters and clears both logs; armed faults stay.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters.Reset()
	s.more = Counters{}
	s.log.Reset()
	s.dnsLog.Reset()
}

// ListenHTTP serves the API over HTTP on addr (e.g. "127.0.0.1:0") until
// Close, and returns its base URL for the SDK's BaseEndpoint.
func (s *Server) ListenHTTP(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("route53 sim: listen http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		_ = l.Close()
		return "", errors.New("route53 sim: listen http: server closed")
	}
	s.httpSrv = append(s.httpSrv, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(l) // returns http.ErrServerClosed on Close
	}()
	return "http://" + l.Addr().String(), nil
}

// Close stops the HTTP and DNS servers started by ListenHTTP and ListenDNS
// and waits for them to finish.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	s.closed = true
	dnsSrvs, httpSrvs := s.dnsSrvs, s.httpSrv
	s.dnsSrvs, s.httpSrv = nil, nil
	s.lifeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, d := range dnsSrvs {
		if err := d.ShutdownContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("route53 sim: stop dns %s: %w", d.Net, err))
		}
	}
	for _, h := range httpSrvs {
		if err := h.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("route53 sim: stop http: %w", err))
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// newRequestID returns a UUID-shaped request ID like Route 53's.
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never happens on supported platforms
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// maxBody bounds request bodies; a maximal change batch is well below it.
const maxBody = 4 << 20

// ServeHTTP serves the Route 53 REST-XML API under /2013-04-01/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	op, params := route(r.Method, r.URL.Path)
	if !simapi.Delay(r.Context(), s.opts.Latency) {
		return
	}
	reqID := newRequestID()
	rec := Request{Operation: op, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}

	var resp response
	authFailed := false
	if len(body) > maxBody {
		resp = errorResponse(invalidInput("Request body too large"), reqID)
	} else {
		key, aerr := s.verify(r, body)
		rec.AccessKeyID = key
		if aerr != nil {
			resp, authFailed = errorResponse(aerr, reqID), true
		} else {
			resp = s.dispatch(op, params, r, body, reqID)
		}
	}
	s.account(&rec, resp, authFailed)
	if resp.reset {
		simapi.ResetConn(w)
		return
	}
	resp.write(w, reqID)
}

// account records one request in the counters and the log.
func (s *Server) account(rec *Request, resp response, authFailed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Time = s.opts.Now()
	rec.Status = resp.status
	rec.ErrorCode = resp.code
	s.counters.Request()
	s.counters.Op(rec.Operation, writeOps[rec.Operation])
	if resp.status >= 400 || resp.reset {
		s.more.Errors++
	}
	if resp.code == string(FaultThrottle) {
		s.more.Throttled++
	}
	if resp.injected {
		s.counters.Fault()
	}
	if authFailed {
		s.more.AuthFailures++
	}
	s.log.Add(*rec)
}

// injected decides whether this call gets a fault: a queued FailNext fault
// first, then the every-Nth and rate options. It runs before the operation.
func (s *Server) injected(op string) Fault {
	if f, ok := s.faults.Take(op); ok {
		return f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.counters.Total() + 1 // this call's number
	if s.opts.ResetEvery > 0 && n%s.opts.ResetEvery == 0 {
		return FaultReset
	}
	if s.opts.InternalErrorEvery > 0 && n%s.opts.InternalErrorEvery == 0 {
		return FaultInternal
	}
	if s.opts.ThrottleEvery > 0 && n%s.opts.ThrottleEvery == 0 {
		return FaultThrottle
	}
	if s.opts.RateLimit > 0 {
		now := s.opts.Now()
		s.tokens += now.Sub(s.refilled).Seconds() * s.opts.RateLimit
		s.refilled = now
		if burst := float64(s.opts.RateBurst); s.tokens > burst {
			s.tokens = burst
		}
		if s.tokens < 1 {
			return FaultThrottle
		}
		s.tokens--
	}
	return ""
}

func faultResponse(f Fault, reqID string) response {
	var resp response
	switch f {
	case FaultReset:
		resp = response{status: 0, reset: true, code: string(FaultReset)}
	case FaultInternal:
		resp = errorResponse(&apiError{status: 500, code: "InternalFailure", message: "An internal error occurred."}, reqID)
	case FaultPriorRequest:
		resp = errorResponse(&apiError{status: 400, code: "PriorRequestNotComplete",
			message: "The request was rejected because Route 53 was still processing a prior request."}, reqID)
	default:
		resp = errorResponse(&apiError{status: 400, code: "Throttling", message: "Rate exceeded"}, reqID)
	}
	resp.injected = true
	return resp
}
