package freeipa

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
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
	// InsecureSkipVerify are then ignored.
	Transport http.RoundTripper
	// Attempts is how often a call is tried when the transport fails or
	// the server refuses its session with a 401 (default 3); RetryWait the
	// first wait, doubled per retry (default 200ms).
	Attempts  int
	RetryWait time.Duration
	// Timeout bounds one HTTP request (default 60s).
	Timeout time.Duration
}

// Client is a FreeIPA JSON-RPC client with session login. It is safe for
// concurrent use: calls share one session, and a session that expired is
// renewed once, by one caller.
type Client struct {
	base       string // https://host, no trailing slash
	referer    string
	user       string
	password   string
	apiVersion string
	hc         *http.Client
	attempts   int
	retryWait  time.Duration

	mu       sync.Mutex
	session  int // generation: incremented on every successful login
	loginErr error
	loginAt  time.Time
	now      func() time.Time
}

// rejectedLoginHold is how long a rejected password is not tried again.
const rejectedLoginHold = time.Minute

// NewClient returns a client; it does not connect.
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(o.URL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("freeipa url %q: want https://HOST", o.URL)
	}
	if u.Scheme != "https" {
		// docs/api-facts.md §3: the server checks that Referer is https://<host>/ipa.
		return nil, fmt.Errorf("freeipa url %q: FreeIPA only accepts https", o.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/ipa")
	if o.User == "" {
		return nil, errors.New("freeipa: no user to log in with")
	}
	c := &Client{
		base:       u.Scheme + "://" + u.Host + u.Path,
		user:       o.User,
		password:   o.Password,
		apiVersion: o.APIVersion,
		attempts:   o.Attempts,
		retryWait:  o.RetryWait,
		now:        time.Now,
	}
	// docs/api-facts.md §3: Referer must be https://<api.env.host>/ipa exactly.
	c.referer = c.base + "/ipa"
	if c.apiVersion == "" {
		c.apiVersion = DefaultAPIVersion
	}
	if c.attempts <= 0 {
		c.attempts = 3
	}
	if c.retryWait <= 0 {
		c.retryWait = 200 * time.Millisecond
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
		tr = t
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	c.hc = &http.Client{Transport: steps.APITransport("freeipa", tr), Jar: jar, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// APIVersion is the API version the client sends.
func (c *Client) APIVersion() string { return c.apiVersion }

// Login opens a session. Calls log in by themselves; Login is for checking
// credentials early.
func (c *Client) Login(ctx context.Context) error {
	c.mu.Lock()
	gen := c.session
	c.mu.Unlock()
	return c.relogin(ctx, gen)
}

// relogin logs in unless another caller already did since generation gen.
func (c *Client) relogin(ctx context.Context, gen int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != gen {
		return nil // someone else renewed the session meanwhile
	}
	if c.loginErr != nil && c.now().Sub(c.loginAt) < rejectedLoginHold {
		// A rejected password is not retried at once: 401s are slow and
		// repeated failures lock the account (docs/api-facts.md §3).
		return c.loginErr
	}
	form := url.Values{"user": {c.user}, "password": {c.password}}
	err := c.retry(ctx, func() error {
		resp, err := c.send(ctx, "/ipa/session/login_password", "application/x-www-form-urlencoded", "text/plain", strings.NewReader(form.Encode()))
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
			return transportError{fmt.Errorf("HTTP %s", resp.Status)}
		default:
			return fmt.Errorf("HTTP %s: %s", resp.Status, snippet(body))
		}
	})
	if err != nil {
		var le *LoginError
		err = fmt.Errorf("freeipa login as %s at %s: %w", c.user, c.base, err)
		if errors.As(err, &le) {
			c.loginErr, c.loginAt = err, c.now()
		}
		return err
	}
	c.loginErr = nil
	c.session++
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
// succeeded, are retried and then marked steps.Transient.
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
	var env envelope
	resent := false
	rejected := 0 // 401s answered to this call
	for {
		c.mu.Lock()
		gen := c.session
		c.mu.Unlock()
		if gen == 0 {
			if err := c.relogin(ctx, gen); err != nil {
				return nil, err
			}
			continue
		}
		status, again, err := c.post(ctx, body, &env)
		resent = resent || again
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
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
			return nil, steps.Transient(fmt.Errorf("%s: the server answered 401 to %d sessions in a row, although each login succeeded: "+
				"FreeIPA drops its sessions (check the server's health and its session lifetime)", method, rejected))
		}
		if rejected > 1 {
			if err := sleep(ctx, c.retryWait<<(rejected-2)); err != nil {
				return nil, err
			}
		}
		if err := c.relogin(ctx, gen); err != nil {
			return nil, err
		}
	}
	if e := env.Error; e != nil {
		if e.Code == 901 {
			return nil, newVersionError(c.apiVersion, e)
		}
		return nil, &APIError{Method: method, Code: e.Code, Name: e.Name, Message: e.Message, Resent: resent}
	}
	return env.Result, nil
}

// send POSTs body to path once, with the Referer FreeIPA requires of every
// POST (docs/api-facts.md §3: missing or bad is 400 "denied"). A failure to
// get an answer at all is a transportError.
func (c *Client) send(ctx context.Context, path, contentType, accept string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", accept)
	req.Header.Set("Referer", c.referer)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, transportError{err}
	}
	return resp, nil
}

// post sends one JSON-RPC request, retrying transport failures. It returns
// the HTTP status (200 and 401 are answers; the rest are errors).
func (c *Client) post(ctx context.Context, body []byte, env *envelope) (status int, resent bool, err error) {
	tries := 0
	err = c.retry(ctx, func() error {
		tries++
		resp, err := c.send(ctx, "/ipa/session/json", "application/json", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		status = resp.StatusCode
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return transportError{err}
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			return nil
		case resp.StatusCode >= 500:
			// Command errors come as 200 with "error" set; a 5xx is Apache
			// or the WSGI process failing, worth another try.
			return transportError{fmt.Errorf("HTTP %s", resp.Status)}
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("HTTP %s: %s", resp.Status, snippet(data))
		}
		*env = envelope{}
		if err := json.Unmarshal(data, env); err != nil {
			return fmt.Errorf("decode answer: %w (%s)", err, snippet(data))
		}
		return nil
	})
	return status, tries > 1, err
}

// transportError is a failure before a complete answer arrived.
type transportError struct{ err error }

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
			if err := sleep(ctx, wait); err != nil {
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
	}
	return steps.Transient(fmt.Errorf("after %d attempts: %w", c.attempts, err))
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
