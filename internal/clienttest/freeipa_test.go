package clienttest

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/internal/tlstest"
	ipasim "github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
)

// ipaCurl drives FreeIPA's session API with curl, the way FreeIPA's own
// documentation shows it (login_password, then /ipa/session/json with the
// cookie and a Referer).
type ipaCurl struct {
	t                 *testing.T
	bin, url, ca, jar string
}

// post sends body to path and returns the HTTP status, the response headers
// and the body. referer "" sends none.
func (c *ipaCurl) post(path, contentType, referer, body string) (int, string, string) {
	c.t.Helper()
	dir := c.t.TempDir()
	hdr, out := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	args := []string{"-sS", "--cacert", c.ca, "-c", c.jar, "-b", c.jar, "-D", hdr, "-o", out, "-w", "%{http_code}",
		"-H", "Content-Type: " + contentType, "-H", "Accept: application/json", "--data-binary", "@-"}
	if referer != "" {
		args = append(args, "-H", "Referer: "+referer)
	}
	r := run(c.t, nil, body, c.bin, append(args, c.url+path)...)
	if r.code != 0 {
		c.t.Fatalf("curl %s: exit %d: %s", path, r.code, r.stderr)
	}
	code, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if err != nil {
		c.t.Fatalf("curl %s: status %q", path, r.stdout)
	}
	h, _ := os.ReadFile(hdr)
	b, _ := os.ReadFile(out)
	return code, string(h), string(b)
}

// ipaAnswer is the JSON-RPC envelope of /ipa/session/json.
type ipaAnswer struct {
	Result *struct {
		Result  json.RawMessage
		Value   any
		Summary string
		Count   int
	}
	Error *struct {
		Code    int
		Name    string
		Message string
	}
	Principal string
	Version   string
}

// call runs one command with the session cookie and decodes the answer.
func (c *ipaCurl) call(method string, args []any, options map[string]any) ipaAnswer {
	c.t.Helper()
	if options == nil {
		options = map[string]any{}
	}
	options["version"] = "2.253" // the API version of a FreeIPA 4.11 client (Debian trixie's freeipa-client)
	req, err := json.Marshal(map[string]any{"method": method, "params": []any{args, options}, "id": 0})
	if err != nil {
		c.t.Fatal(err)
	}
	code, _, body := c.post("/ipa/session/json", "application/json", "https://127.0.0.1/ipa", string(req))
	if code != 200 {
		c.t.Fatalf("%s: HTTP %d\n%s", method, code, body)
	}
	var a ipaAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		c.t.Fatalf("%s: %v\n%s", method, err, body)
	}
	return a
}

// newIPACurl serves a FreeIPA simulator over HTTPS (realm EXAMPLE.TEST, user
// admin) and returns a curl client that trusts its certificate, not yet
// logged in, and the login form for admin.
func newIPACurl(t *testing.T) (*ipaCurl, string) {
	t.Helper()
	bin := testenv.Program(t, "curl", "curl")
	s, err := ipasim.New(ipasim.Options{Realm: "EXAMPLE.TEST", Domain: "example.test", Host: "127.0.0.1",
		Users: map[string]string{"admin": "Secret123"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = s.Close() })
	dir := t.TempDir()
	ca := tlstest.CAFile(t, ts.Certificate().Raw)
	return &ipaCurl{t: t, bin: bin, url: ts.URL, ca: ca, jar: filepath.Join(dir, "cookies")},
		url.Values{"user": {"admin"}, "password": {"Secret123"}}.Encode()
}

// login logs in with the form and fails the test unless a session cookie
// comes back.
func (c *ipaCurl) login(form string) {
	c.t.Helper()
	code, hdr, body := c.post("/ipa/session/login_password", "application/x-www-form-urlencoded", "https://127.0.0.1/ipa", form)
	if code != 200 || !strings.Contains(hdr, "ipa_session=") {
		c.t.Fatalf("login: HTTP %d\n%s%s", code, hdr, body)
	}
}

func TestCurlFreeIPAJSONRPC(t *testing.T) {
	t.Parallel()
	c, login := newIPACurl(t)
	const form = "application/x-www-form-urlencoded"

	// ipaserver/rpcserver.py: check_referer runs first; a wrong password is
	// 401 with X-IPA-Rejection-Reason; a call without a session is 401.
	if code, _, body := c.post("/ipa/session/login_password", form, "", login); code != 400 {
		t.Errorf("login without Referer: HTTP %d, want 400\n%s", code, body)
	}
	code, hdr, _ := c.post("/ipa/session/login_password", form, "https://127.0.0.1/ipa",
		url.Values{"user": {"admin"}, "password": {"wrong"}}.Encode())
	if code != 401 || !strings.Contains(strings.ToLower(hdr), "x-ipa-rejection-reason: invalid-password") {
		t.Errorf("login with a wrong password: HTTP %d, want 401 and X-IPA-Rejection-Reason: invalid-password\n%s", code, hdr)
	}
	if code, _, _ := c.post("/ipa/session/json", "application/json", "https://127.0.0.1/ipa", `{"method":"ping","params":[[],{}]}`); code != 401 {
		t.Errorf("call without a session: HTTP %d, want 401", code)
	}
	c.login(login)

	a := c.call("user_add", []any{"alice"}, map[string]any{"givenname": "Alice", "sn": "Liddell", "mail": "alice@example.test"})
	if a.Error != nil || a.Result == nil || a.Result.Value != "alice" || a.Result.Summary != `Added user "alice"` {
		t.Fatalf("user_add alice: %+v %+v", a.Result, a.Error)
	}
	if a.Principal != "admin@EXAMPLE.TEST" {
		t.Errorf("principal %q, want admin@EXAMPLE.TEST", a.Principal)
	}
	var added struct {
		UID  []string `json:"uid"`
		Mail []string `json:"mail"`
		DN   string   `json:"dn"`
	}
	if err := json.Unmarshal(a.Result.Result, &added); err != nil {
		t.Fatal(err)
	}
	if len(added.UID) != 1 || added.UID[0] != "alice" || len(added.Mail) != 1 || added.Mail[0] != "alice@example.test" ||
		added.DN != "uid=alice,cn=users,cn=accounts,dc=example,dc=test" {
		t.Errorf("user_add result: %+v", added)
	}

	a = c.call("user_add", []any{"alice"}, map[string]any{"givenname": "A", "sn": "L"})
	if a.Error == nil || a.Error.Code != 4002 || a.Error.Name != "DuplicateEntry" || a.Error.Message != `user with name "alice" already exists` {
		t.Errorf("user_add alice again: %+v", a.Error)
	}
	a = c.call("user_add", []any{"bob"}, map[string]any{"givenname": "Bob"})
	if a.Error == nil || a.Error.Code != 3007 || a.Error.Name != "RequirementError" {
		t.Errorf("user_add without sn: %+v, want RequirementError 3007", a.Error)
	}

	a = c.call("user_find", []any{"ali"}, nil)
	if a.Error != nil || a.Result == nil || a.Result.Count != 1 || a.Result.Summary != "1 user matched" {
		t.Fatalf("user_find ali: %+v %+v", a.Result, a.Error)
	}
	var found []struct {
		UID []string `json:"uid"`
	}
	if err := json.Unmarshal(a.Result.Result, &found); err != nil || len(found) != 1 || found[0].UID[0] != "alice" {
		t.Errorf("user_find ali: %s (%v)", a.Result.Result, err)
	}

	a = c.call("user_mod", []any{"alice"}, map[string]any{"title": "Queen"})
	if a.Error != nil || a.Result.Summary != `Modified user "alice"` {
		t.Errorf("user_mod: %+v %+v", a.Result, a.Error)
	}
	a = c.call("user_del", []any{"alice"}, nil)
	if a.Error != nil || a.Result.Summary != `Deleted user "alice"` {
		t.Errorf("user_del: %+v %+v", a.Result, a.Error)
	}
	a = c.call("user_show", []any{"alice"}, nil)
	if a.Error == nil || a.Error.Code != 4001 || a.Error.Message != "alice: user not found" {
		t.Errorf("user_show after user_del: %+v", a.Error)
	}
}

// TestCurlFreeIPAKeysServicesSudoOptions checks, with plain JSON-RPC, what
// FreeIPA does and the simulator once did not: service_find by a principal
// without @REALM (service.py normalize_principal applies to search options
// too), ipasshpubkey validation and sshpubkeyfp (ipalib/util.py
// validate_sshpubkey, convert_sshpubkey_post; the fingerprint is checked
// against ssh-keygen -l), and sudorule_add_option / sudorule_remove_option.
func TestCurlFreeIPAKeysServicesSudoOptions(t *testing.T) {
	t.Parallel()
	keygen := testenv.Program(t, "ssh-keygen", "openssh-client")
	c, login := newIPACurl(t)
	c.login(login)

	key := filepath.Join(t.TempDir(), "id")
	if r := run(t, nil, "", keygen, "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", key); r.code != 0 {
		t.Fatalf("ssh-keygen: %s", r.stderr)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.Fields(run(t, nil, "", keygen, "-l", "-f", key+".pub").stdout) // 256 SHA256:… alice@laptop (ED25519)
	if len(fp) < 2 {
		t.Fatalf("ssh-keygen -l: %q", fp)
	}
	if a := c.call("host_add", []any{"web1.example.test"}, map[string]any{"force": true, "ipasshpubkey": []any{string(pub)}}); a.Error != nil {
		t.Fatalf("host_add with a key: %+v", a.Error)
	}
	a := c.call("host_show", []any{"web1.example.test"}, map[string]any{"all": true})
	var host struct {
		FP []string `json:"sshpubkeyfp"`
	}
	if a.Error != nil || json.Unmarshal(a.Result.Result, &host) != nil || len(host.FP) != 1 ||
		host.FP[0] != fp[1]+" alice@laptop (ssh-ed25519)" {
		t.Errorf("host_show sshpubkeyfp %q, want %q (%+v)", host.FP, fp[1]+" alice@laptop (ssh-ed25519)", a.Error)
	}
	c.call("user_add", []any{"alice"}, map[string]any{"givenname": "Alice", "sn": "Liddell"})
	a = c.call("user_mod", []any{"alice"}, map[string]any{"ipasshpubkey": "ssh-ed25519 this-is-not-a-key alice@laptop"})
	if a.Error == nil || a.Error.Code != 3009 || a.Error.Message != "invalid 'sshpubkey': invalid SSH public key" {
		t.Errorf("user_mod with a bad key: %+v, want ValidationError 3009 invalid 'sshpubkey': invalid SSH public key", a.Error)
	}

	if a := c.call("service_add", []any{"HTTP/web1.example.test"}, map[string]any{"force": true}); a.Error != nil {
		t.Fatalf("service_add: %+v", a.Error)
	}
	for _, p := range []string{"HTTP/web1.example.test", "HTTP/web1.example.test@EXAMPLE.TEST"} {
		if a := c.call("service_find", []any{}, map[string]any{"krbprincipalname": p}); a.Error != nil || a.Result.Count != 1 {
			t.Errorf("service_find krbprincipalname=%s: %+v %+v, want 1 match", p, a.Result, a.Error)
		}
	}

	c.call("sudorule_add", []any{"ops"}, nil)
	a = c.call("sudorule_add_option", []any{"ops"}, map[string]any{"ipasudoopt": "!authenticate"})
	var rule struct {
		Opts []string `json:"ipasudoopt"`
	}
	if a.Error != nil || json.Unmarshal(a.Result.Result, &rule) != nil || len(rule.Opts) != 1 || rule.Opts[0] != "!authenticate" {
		t.Errorf("sudorule_add_option: %+v %+v", a.Result, a.Error)
	}
	if a := c.call("sudorule_add_option", []any{"ops"}, map[string]any{"ipasudoopt": "!authenticate"}); a.Error == nil || a.Error.Code != 4002 {
		t.Errorf("sudorule_add_option again: %+v, want DuplicateEntry 4002", a.Error)
	}
	if a := c.call("sudorule_remove_option", []any{"ops"}, map[string]any{"ipasudoopt": "!authenticate"}); a.Error != nil {
		t.Errorf("sudorule_remove_option: %+v", a.Error)
	}
	a = c.call("sudorule_remove_option", []any{"ops"}, map[string]any{"ipasudoopt": "!authenticate"})
	if a.Error == nil || a.Error.Code != 4026 || a.Error.Message != "ipasudoopt does not contain '!authenticate'" {
		t.Errorf("sudorule_remove_option again: %+v, want AttrValueNotFound 4026", a.Error)
	}
}
