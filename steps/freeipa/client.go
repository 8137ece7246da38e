package freeipa

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// DefaultAPIVersion is the API version the client sends: FreeIPA 4.14's
// (VERSION.m4 of freeipa/freeipa @b16f3b80, = sim.APIVersion). Servers
// since FreeIPA 4.4 only reject a different major version (docs/api-facts.md §3).
const DefaultAPIVersion = "2.257"

// ClientOptions configure a Client.
type ClientOptions struct {
	// URL is the server's base URL, e.g. https://ipa.example.test.
	URL string
	// URLs are the servers of one FreeIPA domain (replicas) in the order
	// they are tried, instead of URL: calls go to one server until it
	// fails, then to the next (see Client.Call).
	URLs []string
	// User and Password log in through /ipa/session/login_password.
	User, Password string
	// APIVersion is sent as the "version" option (default DefaultAPIVersion).
	APIVersion string
	// CAFile is a PEM file with the CA that signed the server's certificate
	// (FreeIPA's /etc/ipa/ca.crt); empty uses the system roots.
	CAFile string
	// InsecureSkipVerify turns off certificate checks (tests and emergencies only).
	InsecureSkipVerify bool
	// Transport replaces the HTTP transport (tests: httptest's); CAFile and
	// InsecureSkipVerify are then ignored. An *http.Transport without a
	// dial function or a handshake timeout gets the client's bounds on
	// reaching a server (dialTimeout, handshakeTimeout).
	Transport http.RoundTripper
	// Attempts is how often a call is tried on one server when the
	// transport fails or the server refuses its session with a 401
	// (default 3); RetryWait the first wait, doubled per retry (default
	// 200ms). With several servers, one that cannot be reached is not
	// tried again: the call goes on to the next (see Client.each).
	Attempts  int
	RetryWait time.Duration
	// Timeout bounds one HTTP request (default 60s).
	Timeout time.Duration
	// Logf receives a line whenever calls move to another server, naming
	// both and why (default: nowhere).
	Logf func(format string, args ...any)
}

// Bounds on reaching a server, for the client's own transport and for a
// Transport given as an *http.Transport without bounds of its own.
// A FreeIPA server connects and completes its TLS handshake within
// milliseconds on a LAN or a VPN between sites; a replica that takes
// seconds is hung (a socket that accepts and never answers), and with
// replicas the next one should take over soon. SSSD, FreeIPA's own client
// daemon, gives up on connecting to one IPA server after 6 seconds before
// it fails over to the next (sssd-ldap(5), ldap_network_timeout, default
// 6); FreeIPA's ipa command waits up to 30 seconds for any answer
// (ipalib/constants.py, http_timeout = 30), which bounds a login here.
const (
	dialTimeout      = 5 * time.Second
	handshakeTimeout = 5 * time.Second
	loginTimeout     = 30 * time.Second
)

// Client is a FreeIPA JSON-RPC client with session login, over one server
// or several replicas. It is safe for concurrent use: calls share one
// session per server, and a session that expired is renewed once, by one
// caller.
type Client struct {
	servers    []*server
	cur        atomic.Pointer[server] // the server calls go to first
	served     atomic.Pointer[server] // the server that answered the last call
	user       string
	password   string
	apiVersion string
	attempts   int
	retryWait  time.Duration
	logf       func(format string, args ...any)
	now        func() time.Time
}

// server is one FreeIPA server of a Client, with its own session: a
// session cookie is only good at the server that issued it.
type server struct {
	base    string // https://host, no trailing slash
	referer string
	hc      *http.Client
	// traced: the transport reports how it got its connection
	// (net/http/httptrace), so a failure before one is known as such.
	traced bool

	// The last failure to reach the server (refused, timed out, TLS
	// handshake) and when; nil once it answers again. While another server
	// may answer, calls do not wait on this one again (Client.each).
	hmu     sync.Mutex
	downErr error
	downAt  time.Time
	// failing: a failure here was logged and the server has not answered since.
	failing atomic.Bool

	mu       sync.Mutex
	session  int // generation: incremented on every successful login
	loginErr error
	loginAt  time.Time
}

// rejectedLoginHold is how long a rejected password is not tried again.
const rejectedLoginHold = time.Minute

// NewClient returns a client; it does not connect.
func NewClient(o ClientOptions) (*Client, error) {
	urls := o.URLs
	switch {
	case o.URL != "" && len(urls) > 0:
		return nil, errors.New("freeipa: give url or urls, not both")
	case o.URL != "":
		urls = []string{o.URL}
	case len(urls) == 0:
		return nil, errors.New("freeipa: no server url")
	}
	if o.User == "" {
		return nil, errors.New("freeipa: no user to log in with")
	}
	c := &Client{
		user:       o.User,
		password:   o.Password,
		apiVersion: o.APIVersion,
		attempts:   o.Attempts,
		retryWait:  o.RetryWait,
		logf:       o.Logf,
		now:        time.Now,
	}
	if c.apiVersion == "" {
		c.apiVersion = DefaultAPIVersion
	}
	if c.attempts <= 0 {
		c.attempts = 3
	}
	if c.retryWait <= 0 {
		c.retryWait = 200 * time.Millisecond
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	tr := o.Transport
	if tr == nil {
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.InsecureSkipVerify {
			tlsConf.InsecureSkipVerify = true // explicit in the config; warned about on every run
		} else if o.CAFile != "" {
			pool, err := steps.CertPool(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("freeipa caFile: %w", err)
			}
			tlsConf.RootCAs = pool
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tlsConf
		t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = handshakeTimeout
		tr = t
	} else if t, ok := tr.(*http.Transport); ok && (t.DialContext == nil || t.TLSHandshakeTimeout == 0) {
		// httptest's client transport, say: no bound on the handshake.
		t = t.Clone()
		if t.DialContext == nil {
			t.DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext
		}
		if t.TLSHandshakeTimeout == 0 {
			t.TLSHandshakeTimeout = handshakeTimeout
		}
		tr = t
	}
	_, traced := tr.(*http.Transport)
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	seen := map[string]bool{}
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSuffix(raw, "/"))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("freeipa url %q: want https://HOST", raw)
		}
		if u.Scheme != "https" {
			// docs/api-facts.md §3: the server checks that Referer is https://<host>/ipa.
			return nil, fmt.Errorf("freeipa url %q: FreeIPA only accepts https", raw)
		}
		u.Path = strings.TrimSuffix(u.Path, "/ipa")
		s := &server{base: u.Scheme + "://" + u.Host + u.Path, traced: traced}
		if seen[s.base] {
			return nil, fmt.Errorf("freeipa url %q: given twice", raw)
		}
		seen[s.base] = true
		// docs/api-facts.md §3: Referer must be https://<api.env.host>/ipa exactly.
		s.referer = s.base + "/ipa"
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, err
		}
		s.hc = &http.Client{Transport: steps.APITransport("freeipa", tr), Jar: jar, Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		c.servers = append(c.servers, s)
	}
	c.cur.Store(c.servers[0])
	return c, nil
}

// APIVersion is the API version the client sends.
func (c *Client) APIVersion() string { return c.apiVersion }

// Server is the base URL of the server calls go to now.
func (c *Client) Server() string { return c.cur.Load().base }

// Served is the base URL of the server that answered the last call, ""
// before any call was answered.
func (c *Client) Served() string {
	if s := c.served.Load(); s != nil {
		return s.base
	}
	return ""
}

// Unreachable lists the servers that could not be reached at their last
// try, in the configured order, each as "https://host (reason)".
func (c *Client) Unreachable() []string {
	var out []string
	for _, s := range c.servers {
		if _, err := s.down(); err != nil {
			out = append(out, s.base+" ("+shortError(err)+")")
		}
	}
	return out
}

// prefer makes calls go to the server with base URL base first, then on
// to the ones after it in the configured order, wrapping around. It does
// nothing once a call was answered (the client then knows better) or for
// a base URL not configured; it reports whether it moved the start.
func (c *Client) prefer(base string) bool {
	if c.served.Load() != nil {
		return false
	}
	for _, s := range c.servers {
		if s.base == base {
			return c.cur.Swap(s) != s
		}
	}
	return false
}

// Login opens a session. Calls log in by themselves; Login is for checking
// credentials early.
func (c *Client) Login(ctx context.Context) error {
	return c.each(ctx, false, func(s *server) (bool, error) {
		s.mu.Lock()
		gen := s.session
		s.mu.Unlock()
		return false, c.relogin(ctx, s, gen, time.Now())
	})
}

// each runs f on the server in use and, while it fails with the server
// unreachable, on the next ones in turn; the server that answered is used
// from then on. A server that could not be reached (refused, timed out,
// TLS handshake) is skipped while another one may answer, so a hung
// replica costs one timeout per process, not one per call; when every
// server failed so, each is tried again (parallel calls share one login
// attempt per server: relogin). f reports whether the command may have
// reached the server it tried (some attempt was sent and got no answer
// that says it was not carried out). write says the command may change
// state: it then moves on only when it cannot have reached the command,
// and with several servers a write that may have is an
// *OutcomeUnknownError, whatever the last failure (a lost answer, then a
// dropped session, then a refused login): it is never repeated at another
// server, where replication may not have brought it yet; the next run
// reads the object back first. When no server answered, the error names
// each with its failure.
func (c *Client) each(ctx context.Context, write bool, f func(*server) (reached bool, err error)) error {
	first := c.cur.Load()
	start := slices.Index(c.servers, first)
	var try, skipped []*server
	for k := range c.servers {
		s := c.servers[(start+k)%len(c.servers)]
		if _, err := s.down(); err != nil {
			skipped = append(skipped, s)
		} else {
			try = append(try, s)
		}
	}
	if len(try) == 0 {
		try, skipped = skipped, nil
	}
	var (
		err   error
		fails []string
	)
	for k, s := range try {
		var reached bool
		if reached, err = f(s); err == nil {
			c.served.Store(s)
			if s != first && c.cur.CompareAndSwap(first, s) {
				c.logf("freeipa: calls go to %s from now on", s.base)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if write && reached && len(c.servers) > 1 {
			// Not marked transient: a retry could land at another server
			// before replication brought the write there.
			return &OutcomeUnknownError{Server: s.base, Err: err}
		}
		var te transportError
		if !errors.As(err, &te) || (write && reached) {
			return err
		}
		fails = append(fails, s.base+" ("+shortError(err)+")")
		if k+1 < len(try) && s.failing.CompareAndSwap(false, true) {
			c.logf("freeipa: %s failed (%v); trying %s", s.base, err, try[k+1].base)
		}
	}
	if len(c.servers) == 1 {
		return err
	}
	for _, s := range skipped {
		if at, derr := s.down(); derr != nil {
			fails = append(fails, fmt.Sprintf("%s (%s, %s ago)", s.base, shortError(derr), time.Since(at).Round(time.Second)))
		}
	}
	return steps.Transient(&unreachableError{fails: fails, last: err})
}

// unreachableError is a call that no server of several answered.
type unreachableError struct {
	fails []string // "https://host (reason)" per server, in the order tried
	last  error
}

func (e *unreachableError) Error() string {
	return "no FreeIPA server answered: " + strings.Join(e.fails, "; ")
}

func (e *unreachableError) Unwrap() error { return e.last }

// shortError is err without the request's method and URL (a *url.Error's
// "Post \"https://…\": "), which the caller names already.
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// OutcomeUnknownError is a write to one of several servers that got no
// answer: the server may have carried it out. It is not sent to another
// server (replication may not have brought it there yet); the next run
// reads the object back and converges. It does not unwrap to Err, whose
// transport failure is marked transient: this error is not, so the
// executor does not retry the change in this run.
type OutcomeUnknownError struct {
	Server string // base URL of the server that may have run it
	Err    error  // the last failure there
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%v; %s may have carried it out, so it is not sent to another server before the object is read back: run again (the next run reads it back)", e.Err, e.Server)
}

// down is when s last failed to be reached and how; nil while s answers.
func (s *server) down() (time.Time, error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.downAt, s.downErr
}

func (s *server) markDown(err error) {
	s.hmu.Lock()
	s.downErr, s.downAt = err, time.Now()
	s.hmu.Unlock()
}

func (s *server) markUp() {
	s.hmu.Lock()
	s.downErr = nil
	s.hmu.Unlock()
	s.failing.Store(false)
}

// relogin logs in at s unless another caller already did since generation
// gen. Callers queue here: while one logs in, the others wait, and when s
// could not be reached since asked (when the caller began with s) they
// take that failure instead of waiting on s themselves.
func (c *Client) relogin(ctx context.Context, s *server, gen int, asked time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session != gen {
		return nil // someone else renewed the session meanwhile
	}
	if s.loginErr != nil && c.now().Sub(s.loginAt) < rejectedLoginHold {
		// A rejected password is not retried at once: 401s are slow and
		// repeated failures lock the account (docs/api-facts.md §3).
		return s.loginErr
	}
	if at, derr := s.down(); derr != nil && !at.Before(asked) {
		return fmt.Errorf("freeipa login as %s at %s: %w", c.user, s.base, steps.Transient(derr))
	}
	form := url.Values{"user": {c.user}, "password": {c.password}}
	err := c.retry(ctx, func() error {
		lctx, cancel := context.WithTimeout(ctx, loginTimeout)
		defer cancel()
		resp, err := c.send(lctx, s, "/ipa/session/login_password", "application/x-www-form-urlencoded", "text/plain", strings.NewReader(form.Encode()))
		var te transportError
		if errors.As(err, &te) && !te.connect && len(c.servers) > 1 && ctx.Err() == nil {
			// No answer to a login (which runs no command): with another
			// server to go to, this one counts as unreachable.
			te.connect, te.reached = true, false
			s.markDown(te)
			return te
		}
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusUnauthorized:
			return &LoginError{User: c.user, Reason: resp.Header.Get("X-IPA-Rejection-Reason")}
		case resp.StatusCode >= 500:
			return serverError(resp)
		default:
			return fmt.Errorf("HTTP %s: %s", resp.Status, snippet(body))
		}
	})
	if err != nil {
		var le *LoginError
		err = fmt.Errorf("freeipa login as %s at %s: %w", c.user, s.base, err)
		if errors.As(err, &le) {
			s.loginErr, s.loginAt = err, c.now()
		}
		return err
	}
	s.loginErr = nil
	s.session++
	return nil
}

// envelope is the JSON-RPC answer (ipaserver/rpcserver.py jsonserver.marshal).
type envelope struct {
	Result  json.RawMessage `json:"result"`
	Error   *wireError      `json:"error"`
	Version string          `json:"version"`
}

type wireError struct {
	Code    int            `json:"code"`
	Name    string         `json:"name"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

// Call runs one command, e.g. Call(ctx, "host_find", nil, {"all": true}), and
// returns the command's output object ({"result", "value", "summary", ...}).
// A command error is an *APIError (errors.Is(err, NotFound) ...); a server
// that rejects the API version a *VersionError; a wrong password a
// *LoginError. Transport failures, and 401s to sessions whose login
// succeeded, are retried and then marked steps.Transient. With several
// servers, a call that fails that way goes on to the next server — a
// write only when it cannot have reached the command (no connection was
// made, or the server answered 503 Service Unavailable, RFC 9110
// §15.6.4); otherwise it is an *OutcomeUnknownError. When no server
// answered, the error (transient) names each with its failure.
func (c *Client) Call(ctx context.Context, method string, args []any, opts map[string]any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	o := make(map[string]any, len(opts)+1)
	for k, v := range opts {
		o[k] = v
	}
	o["version"] = c.apiVersion
	body, err := json.Marshal(map[string]any{"method": method, "params": []any{args, o}, "id": 0})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var out json.RawMessage
	err = c.each(ctx, !readOnly(method), func(s *server) (reached bool, err error) {
		out, reached, err = c.call(ctx, s, method, body)
		return reached, err
	})
	return out, err
}

// readOnly says whether a command only reads (FreeIPA's *_find and *_show
// and the session's own queries).
func readOnly(method string) bool {
	switch method {
	case "ping", "env", "whoami", "json_metadata", "i18n_messages", "schema":
		return true
	}
	return strings.HasSuffix(method, "_find") || strings.HasSuffix(method, "_show")
}

// call runs one command at s: log in when s has no session, and again
// when the session expired. reached says whether some attempt may have
// reached the command without an answer saying it was not carried out: a
// login, or an answer (even a 401), never did.
func (c *Client) call(ctx context.Context, s *server, method string, body []byte) (out json.RawMessage, reached bool, err error) {
	asked := time.Now()
	var env envelope
	resent := false
	rejected := 0 // 401s answered to this call
	for {
		s.mu.Lock()
		gen := s.session
		s.mu.Unlock()
		if gen == 0 {
			if err := c.relogin(ctx, s, gen, asked); err != nil {
				return nil, reached, err
			}
			continue
		}
		status, again, lost, err := c.post(ctx, s, body, &env)
		resent, reached = resent || again, reached || lost
		if err != nil {
			return nil, reached, fmt.Errorf("%s: %w", method, err)
		}
		if status != http.StatusUnauthorized {
			break
		}
		// docs/api-facts.md §3: an expired session is a 401 with an empty body; log
		// in again. A 401 to the session of a login that just succeeded is
		// not a wrong password (that fails the login itself, at once): the
		// session was dropped or is not usable yet, which passes. So the
		// call waits and tries again, and then gives up as transient.
		rejected++
		if rejected >= c.attempts {
			return nil, reached, steps.Transient(fmt.Errorf("%s: %s answered 401 to %d sessions in a row, although each login succeeded: "+
				"FreeIPA drops its sessions (check the server's health and its session lifetime)", method, s.base, rejected))
		}
		if rejected > 1 {
			if err := steps.Sleep(ctx, c.retryWait<<(rejected-2)); err != nil {
				return nil, reached, err
			}
		}
		if err := c.relogin(ctx, s, gen, asked); err != nil {
			return nil, reached, err
		}
	}
	if e := env.Error; e != nil {
		if e.Code == 901 {
			return nil, false, newVersionError(c.apiVersion, e)
		}
		return nil, false, &APIError{Method: method, Code: e.Code, Name: e.Name, Message: e.Message, Resent: resent}
	}
	return env.Result, false, nil
}

// send POSTs body to path at s once, with the Referer FreeIPA requires of
// every POST (docs/api-facts.md §3: missing or bad is 400 "denied"). A
// failure to get an answer at all is a transportError; it reached the
// server unless the connection could not be made.
func (c *Client) send(ctx context.Context, s *server, path, contentType, accept string, body io.Reader) (*http.Response, error) {
	var gotConn atomic.Bool
	rctx := ctx
	if s.traced {
		rctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }})
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", accept)
	req.Header.Set("Referer", s.referer)
	resp, err := s.hc.Do(req)
	if err != nil {
		// Without a connection (refused, timed out, a failed or hung TLS
		// handshake) nothing was sent.
		var op *net.OpError
		connect := (errors.As(err, &op) && op.Op == "dial") || (s.traced && !gotConn.Load() && ctx.Err() == nil)
		te := transportError{err: err, reached: !connect, connect: connect}
		if connect {
			s.markDown(te)
		}
		return nil, te
	}
	s.markUp()
	return resp, nil
}

// serverError is a 5xx answer: Apache or the WSGI process failing, worth
// another try. 503 says the server did not take the request on (RFC 9110
// §15.6.4: "currently unable to handle the request"); any other may come
// after the command ran.
func serverError(resp *http.Response) transportError {
	return transportError{err: fmt.Errorf("HTTP %s", resp.Status), reached: resp.StatusCode != http.StatusServiceUnavailable}
}

// post sends one JSON-RPC request to s, retrying transport failures. It
// returns the HTTP status (200 and 401 are answers; the rest are errors),
// whether it was sent more than once, and whether an attempt may have
// reached the command without an answer (lost).
func (c *Client) post(ctx context.Context, s *server, body []byte, env *envelope) (status int, resent, lost bool, err error) {
	tries := 0
	err = c.retry(ctx, func() error {
		tries++
		resp, err := c.send(ctx, s, "/ipa/session/json", "application/json", "application/json", bytes.NewReader(body))
		if err != nil {
			var te transportError
			lost = lost || (errors.As(err, &te) && te.reached)
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		status = resp.StatusCode
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			lost = true
			return transportError{err: err, reached: true}
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			return nil
		case resp.StatusCode >= 500:
			// Command errors come as 200 with "error" set.
			te := serverError(resp)
			lost = lost || te.reached
			return te
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("HTTP %s: %s", resp.Status, snippet(data))
		}
		*env = envelope{}
		if err := json.Unmarshal(data, env); err != nil {
			return fmt.Errorf("decode answer: %w (%s)", err, snippet(data))
		}
		return nil
	})
	return status, tries > 1, lost, err
}

// transportError is a failure before a complete answer arrived. reached
// says the request may have reached the command (it did not when the
// connection was refused or the server answered 503); connect, that the
// server could not be reached at all (no connection, or no answer to a
// login).
type transportError struct {
	err     error
	reached bool
	connect bool
}

func (e transportError) Error() string { return e.err.Error() }
func (e transportError) Unwrap() error { return e.err }

// retry runs f until it succeeds, fails with something other than a
// transport error, or runs out of attempts; the last transport error is
// marked steps.Transient.
func (c *Client) retry(ctx context.Context, f func() error) error {
	wait := c.retryWait
	var err error
	for i := 0; i < c.attempts; i++ {
		if i > 0 {
			if err := steps.Sleep(ctx, wait); err != nil {
				return err
			}
			wait *= 2
		}
		err = f()
		var te transportError
		if err == nil || !errors.As(err, &te) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if te.connect && len(c.servers) > 1 {
			// Another server can take the call now (Client.each).
			return steps.Transient(err)
		}
	}
	return steps.Transient(transportError{err: fmt.Errorf("after %d attempts: %w", c.attempts, err)})
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
