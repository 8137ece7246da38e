package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// rpcClient is a tiny test-only FreeIPA JSON-RPC client: session login with
// a cookie jar, then POSTs to /ipa/session/json with the Referer FreeIPA
// requires.
type rpcClient struct {
	base    string
	referer string
	hc      *http.Client
	version string // "version" option; "" sends none
	id      int
}

// rpcAnswer is the decoded envelope.
type rpcAnswer struct {
	Result    map[string]any `json:"result"`
	Error     *Error         `json:"error"`
	ID        any            `json:"id"`
	Principal string         `json:"principal"`
	Version   string         `json:"version"`
}

// newLab starts s under httptest.NewTLSServer and returns a logged-in
// client for admin/secret.
func newLab(t testing.TB, mod func(*Options)) (*Server, *httptest.Server, *rpcClient) {
	t.Helper()
	opts := Options{Realm: "EXAMPLE.TEST", Domain: "example.test", Host: "127.0.0.1",
		Users: map[string]string{"admin": "secret"}}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(func() { _ = s.Close(); ts.Close() })
	c := newClient(t, ts, s)
	if code, body := c.login("admin", "secret"); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	return s, ts, c
}

// newLabFrom serves an existing Server and logs in as admin.
func newLabFrom(t testing.TB, s *Server, adminPassword string) *rpcClient {
	t.Helper()
	ts := httptest.NewTLSServer(s)
	t.Cleanup(func() { _ = s.Close(); ts.Close() })
	c := newClient(t, ts, s)
	if code, body := c.login("admin", adminPassword); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	return c
}

func newClient(t testing.TB, ts *httptest.Server, s *Server) *rpcClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client of its own (ts.Client() is shared) with the test server's
	// TLS transport and its own cookie jar.
	hc := &http.Client{Transport: ts.Client().Transport, Jar: jar}
	return &rpcClient{base: ts.URL, referer: s.RefererFor(), hc: hc, version: "2.251"}
}

func (c *rpcClient) login(user, pw string) (int, string) {
	form := url.Values{"user": {user}, "password": {pw}}.Encode()
	req, err := http.NewRequest(http.MethodPost, c.base+"/ipa/session/login_password", strings.NewReader(form))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", c.referer)
	return c.do(req)
}

func (c *rpcClient) do(req *http.Request) (int, string) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// post sends a raw JSON body and returns status and body.
func (c *rpcClient) post(body []byte) (int, string) {
	req, err := http.NewRequest(http.MethodPost, c.base+"/ipa/session/json", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Referer", c.referer)
	return c.do(req)
}

// call runs one command; transport and HTTP errors are returned as err.
func (c *rpcClient) call(method string, args []any, opts map[string]any) (rpcAnswer, error) {
	if args == nil {
		args = []any{}
	}
	o := map[string]any{}
	for k, v := range opts {
		o[k] = v
	}
	if _, ok := o["version"]; !ok && c.version != "" {
		o["version"] = c.version
	}
	c.id++
	body, err := json.Marshal(map[string]any{"method": method, "params": []any{args, o}, "id": c.id})
	if err != nil {
		return rpcAnswer{}, err
	}
	code, text := c.post(body)
	if code != http.StatusOK {
		return rpcAnswer{}, fmt.Errorf("HTTP %d: %s", code, text)
	}
	var a rpcAnswer
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		return rpcAnswer{}, fmt.Errorf("decode %q: %w", text, err)
	}
	return a, nil
}

// must runs a command that has to succeed and returns its result.
func (c *rpcClient) must(t testing.TB, method string, args []any, opts map[string]any) map[string]any {
	t.Helper()
	a, err := c.call(method, args, opts)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if a.Error != nil {
		t.Fatalf("%s: %v", method, a.Error)
	}
	return a.Result
}

// fails runs a command that has to fail with code and returns the error
// (a value, so it need not be checked).
func (c *rpcClient) fails(t testing.TB, code int, method string, args []any, opts map[string]any) Error {
	t.Helper()
	a, err := c.call(method, args, opts)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if a.Error == nil || a.Error.Code != code {
		t.Fatalf("%s: want error %d, got %v (result %v)", method, code, a.Error, a.Result)
	}
	return *a.Error
}
