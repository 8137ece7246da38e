package sim

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/simapi"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	s, ts, c := newLab(t, nil)

	res := c.must(t, "ping", nil, nil)
	if !strings.Contains(fmt.Sprint(res["summary"]), "API version "+APIVersion) {
		t.Errorf("ping summary = %v", res["summary"])
	}
	a, err := c.call("ping/1", nil, nil)
	if err != nil || a.Principal != "admin@EXAMPLE.TEST" || a.Version != ServerVersion || a.ID != float64(c.id) {
		t.Errorf("envelope = %+v, %v", a, err)
	}

	bad := newClient(t, ts, s)
	code, body := bad.login("admin", "wrong")
	if code != http.StatusUnauthorized || !strings.Contains(body, "Password incorrect") {
		t.Errorf("bad password: %d %s", code, body)
	}
	if strings.Contains(body, "wrong") {
		t.Errorf("password echoed in %q", body)
	}
	// The rejection reason header (rpcserver.login_password).
	form := strings.NewReader("user=admin&password=nope")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/ipa/session/login_password", form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", s.RefererFor())
	resp, err := bad.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("X-IPA-Rejection-Reason"); got != "invalid-password" {
		t.Errorf("X-IPA-Rejection-Reason = %q", got)
	}
	if code, _ := bad.login("nobody", "x"); code != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", code)
	}
	// No session: 401 with an empty body.
	if code, body := bad.post([]byte(`{"method":"ping","params":[[],{}]}`)); code != http.StatusUnauthorized || body != "" {
		t.Errorf("no session: %d %q", code, body)
	}

	// Referer is checked on both endpoints: missing, wrong host, wrong path.
	for _, ref := range []string{"", "https://evil.test/ipa", "https://127.0.0.1/other", "http://127.0.0.1/ipa"} {
		r := newClient(t, ts, s)
		r.referer = ref
		if code, body := r.login("admin", "secret"); code != http.StatusBadRequest || !strings.Contains(body, "denied") {
			t.Errorf("login with Referer %q: %d %s", ref, code, body)
		}
		c2 := *c
		c2.referer = ref
		if code, _ := c2.post([]byte(`{"method":"ping","params":[[],{}]}`)); code != http.StatusBadRequest {
			t.Errorf("json with Referer %q: %d", ref, code)
		}
	}
	// Content-Type must be form-encoded.
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/ipa/session/login_password", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Referer", s.RefererFor())
	if code, body := bad.do(req); code != http.StatusBadRequest || !strings.Contains(body, "x-www-form-urlencoded") {
		t.Errorf("json login: %d %s", code, body)
	}
	if st := s.Counters(); st.Logins != 1 {
		t.Errorf("Logins = %d, want 1", st.Logins)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	clock := simapi.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _, c := newLab(t, func(o *Options) { o.Now = clock.Now; o.SessionLifetime = time.Minute })
	c.must(t, "ping", nil, nil)
	clock.Advance(59 * time.Second)
	c.must(t, "ping", nil, nil)
	clock.Advance(2 * time.Second)
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("after lifetime: %v", err)
	}
	if code, _ := c.login("admin", "secret"); code != http.StatusOK {
		t.Fatal("re-login failed")
	}
	c.must(t, "ping", nil, nil)
	s.ExpireSessions()
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("after ExpireSessions: %v", err)
	}
}

// TestInvocationErrors checks the errors raised before a command runs,
// with FreeIPA's codes, names and messages (ipalib/errors.py, frontend.py).
func TestInvocationErrors(t *testing.T) {
	t.Parallel()
	_, _, c := newLab(t, nil)
	c.must(t, "host_add", []any{"web1.example.test"}, map[string]any{"force": true})
	tests := []struct {
		method string
		args   []any
		opts   map[string]any
		code   int
		name   string
		msg    string
	}{
		{"host_frobnicate", nil, nil, 905, "CommandError", "unknown command 'host_frobnicate'"},
		{"host_add/2", []any{"x.example.test"}, nil, 905, "CommandError", "unknown command 'host_add/2'"},
		{"host_show", []any{"web1.example.test"}, map[string]any{"bogus": true}, 3005, "OptionError", "Unknown option: bogus"},
		{"host_add", []any{"web2.example.test"}, map[string]any{"in_hostgroup": []any{"x"}}, 3005, "OptionError", "Unknown option: in_hostgroup"},
		{"host_show", nil, nil, 3007, "RequirementError", "'fqdn' is required"},
		{"user_add", []any{"jdoe"}, map[string]any{"givenname": "J"}, 3007, "RequirementError", "'sn' is required"},
		{"host_show", []any{"a.example.test", "b.example.test"}, nil, 3004, "MaxArgumentError", "command 'host_show' takes at most 1 argument"},
		{"host_find", nil, map[string]any{"sizelimit": "many"}, 3008, "ConversionError", "invalid 'sizelimit': must be an integer"},
		{"host_show", []any{"web1.example.test"}, map[string]any{"all": "maybe"}, 3008, "ConversionError", "invalid 'all': must be True or False"},
		{"host_mod", []any{"web1.example.test"}, map[string]any{"krbprincipalauthind": "magic"}, 3009, "ValidationError", "invalid 'auth_ind': must be one of 'radius', 'otp', 'pkinit', 'hardened', 'idp', 'passkey'"},
		{"host_show", []any{"web1.example.test"}, map[string]any{"version": "3.0"}, 901, "VersionError", "3.0 client incompatible with 2.257 server at 'https://127.0.0.1/ipa/xml'"},
		{"host_show", []any{"web1.example.test"}, map[string]any{"version": "latest"}, 901, "VersionError", "latest client incompatible with 2.257 server at 'https://127.0.0.1/ipa/xml'"},
		{"host_show", []any{"nope.example.test"}, nil, 4001, "NotFound", "nope.example.test: host not found"},
	}
	for _, tt := range tests {
		e := c.fails(t, tt.code, tt.method, tt.args, tt.opts)
		if e.Name != tt.name || e.Message != tt.msg {
			t.Errorf("%s %v %v: got %s %q, want %s %q", tt.method, tt.args, tt.opts, e.Name, e.Message, tt.name, tt.msg)
		}
	}
	// A newer minor API version is accepted (frontend.py only compares the
	// major); a pre-4.4 server (RejectNewerMinor) refuses it.
	c.must(t, "host_show", []any{"web1.example.test"}, map[string]any{"version": "2.999"})
	_, _, old := newLab(t, func(o *Options) { o.RejectNewerMinor = true })
	e := old.fails(t, 901, "ping", nil, map[string]any{"version": "2.999"})
	if e.Message != "2.999 client incompatible with 2.257 server at 'https://127.0.0.1/ipa/xml'" || e.Data["sver"] != "2.257" {
		t.Errorf("RejectNewerMinor: %v", e)
	}
	old.must(t, "ping", nil, map[string]any{"version": "2.251"})
	// No version: works, with the VersionMissing warning.
	c.version = ""
	res := c.must(t, "host_show", []any{"web1.example.test"}, nil)
	msgs, _ := res["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["code"] != float64(13001) || msgs[0].(map[string]any)["name"] != "VersionMissing" {
		t.Errorf("messages = %v", res["messages"])
	}
	// Malformed envelopes are JSONError 909 in a 200 answer.
	for _, body := range []string{`[]`, `{"params":[[],{}]}`, `{"method":"ping"}`, `{"method":"ping","params":[[]]}`, `{"method":"ping","params":[{},{}]}`, `{"method":"ping","params":[[],[]]}`, `{`} {
		code, text := c.post([]byte(body))
		if code != http.StatusOK || !strings.Contains(text, `"code":909`) || !strings.Contains(text, `"name":"JSONError"`) {
			t.Errorf("%s: %d %s", body, code, text)
		}
	}
}

// kindCase drives one object kind through add/show/find/mod/del.
type kindCase struct {
	kind    string
	key     string // as sent
	value   string // primary key as returned
	addOpts map[string]any
	oname   string
	dn      string
	modAttr string
}

func TestKinds(t *testing.T) {
	t.Parallel()
	_, _, c := newLab(t, nil)
	c.must(t, "host_add", []any{"web1.example.test"}, map[string]any{"force": true})
	cases := []kindCase{
		{"host", "Web2.Example.Test", "web2.example.test", map[string]any{"force": true, "description": "second"}, "host",
			"fqdn=web2.example.test,cn=computers,cn=accounts,dc=example,dc=test", "description"},
		{"hostgroup", "webservers", "webservers", map[string]any{"description": "web"}, "host group",
			"cn=webservers,cn=hostgroups,cn=accounts,dc=example,dc=test", "description"},
		{"service", "HTTP/web1.example.test", "HTTP/web1.example.test@EXAMPLE.TEST", map[string]any{"force": true}, "service",
			"krbprincipalname=HTTP/web1.example.test@EXAMPLE.TEST,cn=services,cn=accounts,dc=example,dc=test", "ipakrbauthzdata"},
		{"user", "jdoe", "jdoe", map[string]any{"givenname": "John", "sn": "Doe"}, "user",
			"uid=jdoe,cn=users,cn=accounts,dc=example,dc=test", "title"},
		{"group", "devs", "devs", map[string]any{"description": "developers"}, "group",
			"cn=devs,cn=groups,cn=accounts,dc=example,dc=test", "description"},
		{"sudocmd", "/usr/bin/systemctl", "/usr/bin/systemctl", nil, "sudo command", "", "description"},
		{"sudorule", "ops", "ops", map[string]any{"description": "ops"}, "sudo rule", "", "description"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			add := c.must(t, tc.kind+"_add", []any{tc.key}, tc.addOpts)
			if add["value"] != tc.value || !strings.Contains(fmt.Sprint(add["summary"]), `"`+tc.value+`"`) {
				t.Errorf("add: value %v summary %v", add["value"], add["summary"])
			}
			entry := add["result"].(map[string]any)
			dn, _ := entry["dn"].(string)
			if tc.dn != "" && dn != tc.dn {
				t.Errorf("dn = %q, want %q", dn, tc.dn)
			}
			if tc.dn == "" && !strings.HasPrefix(dn, "ipaUniqueID=") {
				t.Errorf("dn = %q", dn)
			}
			e := c.fails(t, 4002, tc.kind+"_add", []any{tc.key}, tc.addOpts)
			if want := fmt.Sprintf("%s with name %q already exists", tc.oname, tc.value); e.Message != want {
				t.Errorf("duplicate: %q, want %q", e.Message, want)
			}
			show := c.must(t, tc.kind+"_show", []any{tc.key}, map[string]any{"all": true})
			if show["value"] != tc.value {
				t.Errorf("show value = %v", show["value"])
			}
			if oc, ok := show["result"].(map[string]any)["objectclass"].([]any); !ok || len(oc) == 0 {
				t.Errorf("show all: objectclass = %v", show["result"].(map[string]any)["objectclass"])
			}
			find := c.must(t, tc.kind+"_find", []any{tc.value[:3]}, map[string]any{"sizelimit": 0})
			if find["count"].(float64) < 1 || find["truncated"] != false {
				t.Errorf("find: %v", find)
			}
			mod := c.must(t, tc.kind+"_mod", []any{tc.key}, map[string]any{tc.modAttr: "MS-PAC"})
			got := mod["result"].(map[string]any)[tc.modAttr]
			if !reflect.DeepEqual(got, []any{"MS-PAC"}) {
				t.Errorf("mod: %s = %v", tc.modAttr, got)
			}
			e = c.fails(t, 4202, tc.kind+"_mod", []any{tc.key}, map[string]any{tc.modAttr: "MS-PAC"})
			if e.Message != "no modifications to be performed" || e.Name != "EmptyModlist" {
				t.Errorf("empty mod: %v", e)
			}
			del := c.must(t, tc.kind+"_del", []any{tc.key}, nil)
			if !reflect.DeepEqual(del["value"], []any{tc.value}) || !reflect.DeepEqual(del["result"], map[string]any{"failed": []any{}}) {
				t.Errorf("del: %v", del)
			}
			e = c.fails(t, 4001, tc.kind+"_show", []any{tc.key}, nil)
			if want := tc.value + ": " + tc.oname + " not found"; e.Message != want || e.Data["reason"] != want {
				t.Errorf("not found: %v", e)
			}
		})
	}
	// setattr/addattr/delattr and delete by empty value.
	c.must(t, "hostgroup_add", []any{"hg"}, nil)
	res := c.must(t, "hostgroup_mod", []any{"hg"}, map[string]any{"setattr": []any{"description=one"}})
	if !reflect.DeepEqual(res["result"].(map[string]any)["description"], []any{"one"}) {
		t.Errorf("setattr: %v", res["result"])
	}
	c.fails(t, 4026, "hostgroup_mod", []any{"hg"}, map[string]any{"delattr": "description=two"})
	res = c.must(t, "hostgroup_mod", []any{"hg"}, map[string]any{"description": ""})
	if _, ok := res["result"].(map[string]any)["description"]; ok {
		t.Errorf("description not removed: %v", res["result"])
	}
	res = c.must(t, "hostgroup_mod", []any{"hg"}, map[string]any{"rename": "hg2"})
	if res["value"] != "hg2" {
		t.Errorf("rename: %v", res)
	}
	// Deleting several, with continue: failures are listed, not raised.
	del := c.must(t, "hostgroup_del", []any{[]any{"hg2", "missing"}}, map[string]any{"continue": true})
	if !reflect.DeepEqual(del["value"], []any{"hg2"}) || !reflect.DeepEqual(del["result"], map[string]any{"failed": []any{"missing"}}) {
		t.Errorf("del continue: %v", del)
	}
	// Old clients (before API 2.83) get joined strings as value.
	c.must(t, "hostgroup_add", []any{"old"}, nil)
	del = c.must(t, "hostgroup_del", []any{"old"}, map[string]any{"version": "2.50"})
	if del["value"] != "old" {
		t.Errorf("old client value = %#v", del["value"])
	}
}

func TestMembership(t *testing.T) {
	t.Parallel()
	_, _, c := newLab(t, nil)
	for _, h := range []string{"web1.example.test", "web2.example.test", "db1.example.test"} {
		c.must(t, "host_add", []any{h}, map[string]any{"force": true})
	}
	c.must(t, "hostgroup_add", []any{"web"}, nil)
	c.must(t, "hostgroup_add", []any{"all"}, nil)

	res := c.must(t, "hostgroup_add_member", []any{"web"}, map[string]any{
		"host": []any{"web1.example.test", "WEB2.example.test", "ghost.example.test"}, "hostgroup": []any{"web"}})
	if res["completed"] != float64(2) {
		t.Errorf("completed = %v", res["completed"])
	}
	wantFailed := map[string]any{"member": map[string]any{
		"host":      []any{[]any{"ghost.example.test", "no such entry"}},
		"hostgroup": []any{[]any{"web", "A group may not be added as a member of itself"}},
	}}
	if !reflect.DeepEqual(res["failed"], wantFailed) {
		t.Errorf("failed = %v", res["failed"])
	}
	if got := res["result"].(map[string]any)["member_host"]; !reflect.DeepEqual(got, []any{"web1.example.test", "web2.example.test"}) {
		t.Errorf("member_host = %v", got)
	}
	res = c.must(t, "hostgroup_add_member", []any{"web"}, map[string]any{"host": "web1.example.test"})
	if res["completed"] != float64(0) || !strings.Contains(fmt.Sprint(res["failed"]), "This entry is already a member") {
		t.Errorf("re-add: %v", res)
	}
	c.must(t, "hostgroup_add_member", []any{"all"}, map[string]any{"hostgroup": "web"})
	show := c.must(t, "host_show", []any{"web1.example.test"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(show["memberof_hostgroup"], []any{"web"}) || !reflect.DeepEqual(show["memberofindirect_hostgroup"], []any{"all"}) {
		t.Errorf("memberof: %v / %v", show["memberof_hostgroup"], show["memberofindirect_hostgroup"])
	}
	all := c.must(t, "hostgroup_show", []any{"all"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(all["memberindirect_host"], []any{"web1.example.test", "web2.example.test"}) {
		t.Errorf("memberindirect_host = %v", all["memberindirect_host"])
	}
	// find: in_hostgroup follows nesting; members only with all.
	find := c.must(t, "host_find", nil, map[string]any{"in_hostgroup": "all"})
	if find["count"] != float64(2) {
		t.Errorf("in_hostgroup all: %v", find)
	}
	if _, ok := find["result"].([]any)[0].(map[string]any)["memberof_hostgroup"]; ok {
		t.Errorf("find without all shows members")
	}
	find = c.must(t, "host_find", nil, map[string]any{"not_in_hostgroup": "web", "all": true})
	if find["count"] != float64(1) {
		t.Errorf("not_in_hostgroup: %v", find)
	}
	find = c.must(t, "hostgroup_find", nil, map[string]any{"host": "web1.example.test", "all": true})
	if find["count"] != float64(1) || !reflect.DeepEqual(find["result"].([]any)[0].(map[string]any)["member_host"], []any{"web1.example.test", "web2.example.test"}) {
		t.Errorf("hostgroup_find host: %v", find)
	}
	res = c.must(t, "hostgroup_remove_member", []any{"web"}, map[string]any{"host": []any{"web2.example.test", "db1.example.test"}})
	if res["completed"] != float64(1) || !strings.Contains(fmt.Sprint(res["failed"]), "This entry is not a member") {
		t.Errorf("remove: %v", res)
	}
	c.fails(t, 4001, "hostgroup_add_member", []any{"nope"}, map[string]any{"host": "web1.example.test"})

	// users and groups
	c.must(t, "user_add", []any{"jdoe"}, map[string]any{"givenname": "J", "sn": "Doe"})
	c.must(t, "group_add", []any{"devs"}, nil)
	res = c.must(t, "group_add_member", []any{"devs"}, map[string]any{"user": []any{"jdoe", "nobody"}})
	if res["completed"] != float64(1) || !reflect.DeepEqual(res["failed"].(map[string]any)["member"].(map[string]any)["user"], []any{[]any{"nobody", "no such entry"}}) {
		t.Errorf("group_add_member: %v", res)
	}
	u := c.must(t, "user_show", []any{"jdoe"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(u["memberof_group"], []any{"devs"}) {
		t.Errorf("user memberof_group = %v", u["memberof_group"])
	}

	// sudo rules: unknown hosts/users become external members.
	c.must(t, "sudocmd_add", []any{"/usr/bin/less"}, nil)
	c.must(t, "sudorule_add", []any{"admins-all"}, nil)
	res = c.must(t, "sudorule_add_host", []any{"admins-all"}, map[string]any{"host": []any{"db1.example.test", "laptop.elsewhere.test"}, "hostgroup": "web"})
	r := res["result"].(map[string]any)
	if res["completed"] != float64(3) || !reflect.DeepEqual(r["externalhost"], []any{"laptop.elsewhere.test"}) ||
		!reflect.DeepEqual(r["memberhost_host"], []any{"db1.example.test"}) || !reflect.DeepEqual(r["memberhost_hostgroup"], []any{"web"}) {
		t.Errorf("sudorule_add_host: %v", res)
	}
	res = c.must(t, "sudorule_add_user", []any{"admins-all"}, map[string]any{"user": "jdoe", "group": "devs"})
	if res["completed"] != float64(2) {
		t.Errorf("sudorule_add_user: %v", res)
	}
	res = c.must(t, "sudorule_add_allow_command", []any{"admins-all"}, map[string]any{"sudocmd": []any{"/usr/bin/less", "/bin/nope"}})
	if res["completed"] != float64(1) || !reflect.DeepEqual(res["result"].(map[string]any)["memberallowcmd_sudocmd"], []any{"/usr/bin/less"}) {
		t.Errorf("sudorule_add_allow_command: %v", res)
	}
	web1 := c.must(t, "host_show", []any{"web1.example.test"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(web1["memberofindirect_sudorule"], []any{"admins-all"}) {
		t.Errorf("host via hostgroup in sudorule: %v", web1)
	}
	for _, m := range []struct {
		cmd  string
		opts map[string]any
	}{
		{"sudorule_remove_host", map[string]any{"host": []any{"db1.example.test", "laptop.elsewhere.test"}, "hostgroup": "web"}},
		{"sudorule_remove_user", map[string]any{"user": "jdoe", "group": "devs"}},
		{"sudorule_remove_allow_command", map[string]any{"sudocmd": "/usr/bin/less"}},
	} {
		res := c.must(t, m.cmd, []any{"admins-all"}, m.opts)
		if res["completed"] == float64(0) {
			t.Errorf("%s: %v", m.cmd, res)
		}
	}
	// A category cannot become 'all' while there are members of that kind.
	c.must(t, "sudorule_add_user", []any{"admins-all"}, map[string]any{"user": "jdoe"})
	if e := c.fails(t, 4303, "sudorule_mod", []any{"admins-all"}, map[string]any{"usercategory": "all"}); e.Message != "user category cannot be set to 'all' while there are allowed users" {
		t.Errorf("usercategory all with users: %v", e)
	}
	c.must(t, "sudorule_remove_user", []any{"admins-all"}, map[string]any{"user": "jdoe"})
	if r := c.must(t, "sudorule_show", []any{"admins-all"}, nil)["result"].(map[string]any); len(r) != 3 {
		// cn, ipaenabledflag, dn and nothing else left
		t.Errorf("sudorule after removals: %v", r)
	}
	c.must(t, "sudorule_mod", []any{"admins-all"}, map[string]any{"hostcategory": "all"})
	e := c.fails(t, 4303, "sudorule_add_host", []any{"admins-all"}, map[string]any{"host": "db1.example.test"})
	if e.Message != "hosts cannot be added when host category='all'" {
		t.Errorf("category: %v", e)
	}

	// managedby
	res = c.must(t, "host_add_managedby", []any{"web1.example.test"}, map[string]any{"host": "db1.example.test"})
	if res["completed"] != float64(1) || !reflect.DeepEqual(res["result"].(map[string]any)["managedby_host"], []any{"db1.example.test", "web1.example.test"}) {
		t.Errorf("host_add_managedby: %v", res)
	}
	// deleting a host removes it from groups (referential integrity)
	c.must(t, "host_del", []any{"web2.example.test"}, nil)
	c.must(t, "hostgroup_add_member", []any{"web"}, map[string]any{"host": "db1.example.test"})
	hg := c.must(t, "hostgroup_show", []any{"web"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(hg["member_host"], []any{"db1.example.test", "web1.example.test"}) {
		t.Errorf("after host_del: %v", hg["member_host"])
	}
}

func TestHostAdd(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, func(o *Options) {
		o.Resolve = func(fqdn string) bool { return fqdn == "known.example.test" }
		o.DNSZones = []string{"example.test"}
	})
	e := c.fails(t, 4019, "host_add", []any{"unknown.example.test"}, nil)
	if e.Name != "DNSNotARecordError" || e.Message != "Host 'unknown.example.test' does not have corresponding DNS A/AAAA record" {
		t.Errorf("unresolvable: %v", e)
	}
	c.must(t, "host_add", []any{"known.example.test"}, nil)
	c.must(t, "host_add", []any{"unknown.example.test"}, map[string]any{"force": true})
	e = c.fails(t, 3009, "host_add", []any{"shortname"}, map[string]any{"force": true})
	if e.Message != "invalid 'hostname': invalid domain-name: not fully qualified" {
		t.Errorf("short name: %v", e)
	}
	// ip_address: the zone must be managed by IPA DNS, even with force.
	e = c.fails(t, 4001, "host_add", []any{"x.other.test"}, map[string]any{"ip_address": "10.0.0.9", "force": true})
	if e.Message != "DNS zone other.test. not found" {
		t.Errorf("unmanaged zone: %v", e)
	}
	c.fails(t, 3009, "host_add", []any{"x.example.test"}, map[string]any{"ip_address": "10.0.0"})
	c.must(t, "host_add", []any{"withip.example.test"}, map[string]any{"ip_address": "10.0.0.5"})
	e = c.fails(t, 4002, "host_add", []any{"other.example.test"}, map[string]any{"ip_address": "10.0.0.5"})
	if !strings.Contains(e.Message, "IP address 10.0.0.5 is already assigned") {
		t.Errorf("ip in use: %v", e)
	}
	// The added A record makes the name resolvable, so a service can be added.
	c.must(t, "service_add", []any{"HTTP/withip.example.test"}, nil)
	c.fails(t, 4019, "service_add", []any{"HTTP/unknown.example.test"}, nil)
	c.fails(t, 4001, "service_add", []any{"HTTP/none.example.test"}, map[string]any{"force": true})
	c.fails(t, 4003, "service_add", []any{"host/known.example.test"}, nil)
	c.fails(t, 4005, "service_add", []any{"HTTP/known.example.test@OTHER.REALM"}, nil)

	// random: one-time password, no keytab until enrolled.
	res := c.must(t, "host_add", []any{"new.example.test"}, map[string]any{"force": true, "random": true})["result"].(map[string]any)
	pw, _ := res["randompassword"].(string)
	if len(pw) < 16 || res["has_password"] != true || res["has_keytab"] != false {
		t.Errorf("random: %v", res)
	}
	if _, ok := res["krbprincipalname"]; ok {
		t.Errorf("OTP host has a principal before enrolment: %v", res)
	}
	for _, r := range s.Requests() {
		if strings.Contains(fmt.Sprint(r), pw) {
			t.Errorf("password in request log: %v", r)
		}
	}
	if err := s.Enroll("new.example.test"); err != nil {
		t.Fatal(err)
	}
	res = c.must(t, "host_show", []any{"new.example.test"}, nil)["result"].(map[string]any)
	if res["has_keytab"] != true || res["has_password"] != false || !reflect.DeepEqual(res["krbprincipalname"], []any{"host/new.example.test@EXAMPLE.TEST"}) {
		t.Errorf("enrolled: %v", res)
	}
	e = c.fails(t, 3009, "host_mod", []any{"new.example.test"}, map[string]any{"random": true})
	if e.Message != "invalid 'password': Password cannot be set on enrolled host." {
		t.Errorf("OTP on enrolled host: %v", e)
	}
	res = c.must(t, "host_mod", []any{"known.example.test"}, map[string]any{"random": true})["result"].(map[string]any)
	if res["randompassword"] == nil || res["has_password"] != true {
		t.Errorf("re-issue OTP: %v", res)
	}
	if err := s.Enroll("missing.example.test"); err == nil {
		t.Error("Enroll of a missing host succeeded")
	}
	// host_show by short name (host.get_dn falls back to serverhostname).
	c.must(t, "host_show", []any{"known"}, nil)
	// host_del drops the host's services; updatedns drops its records.
	c.must(t, "host_del", []any{"withip.example.test"}, map[string]any{"updatedns": true})
	c.fails(t, 4001, "service_show", []any{"HTTP/withip.example.test"}, nil)
	c.fails(t, 4019, "host_add", []any{"withip.example.test"}, nil)
}

func TestFind(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, nil)
	for i := range 500 {
		if err := s.AddHost(fmt.Sprintf("h%03d.example.test", i), i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	s.ResetCounters()
	res := c.must(t, "host_find", nil, map[string]any{"all": true, "sizelimit": 0})
	list := res["result"].([]any)
	if res["count"] != float64(500) || len(list) != 500 || res["truncated"] != false || res["summary"] != "500 hosts matched" {
		t.Errorf("find all: count %v truncated %v summary %v", res["count"], res["truncated"], res["summary"])
	}
	first := list[0].(map[string]any)
	if !reflect.DeepEqual(first["fqdn"], []any{"h000.example.test"}) || first["dn"] == nil || first["serverhostname"] == nil {
		t.Errorf("first entry: %v", first)
	}
	if _, ok := first["has_keytab"]; ok {
		t.Errorf("host_find returned has_keytab (FreeIPA does not): %v", first)
	}
	// What does reveal enrolment under all=True: krblastpwdchange, a datetime.
	second := list[1].(map[string]any)
	if lp, ok := first["krblastpwdchange"].([]any); !ok || len(lp) != 1 || lp[0].(map[string]any)["__datetime__"] == nil {
		t.Errorf("enrolled host without krblastpwdchange datetime: %v", first["krblastpwdchange"])
	}
	if _, ok := second["krblastpwdchange"]; ok {
		t.Errorf("host without keytab has krblastpwdchange: %v", second)
	}
	if st := s.Counters(); st.Total != 1 || st.ByOp["host_find"] != 1 || st.Writes != 0 {
		t.Errorf("stats after one find: %+v", st)
	}
	// Without sizelimit the server's search limit (100) applies.
	res = c.must(t, "host_find", nil, nil)
	if res["count"] != float64(100) || res["truncated"] != true || !strings.Contains(fmt.Sprint(res["messages"]), "SearchResultTruncated") {
		t.Errorf("default limit: count %v truncated %v messages %v", res["count"], res["truncated"], res["messages"])
	}
	res = c.must(t, "host_find", []any{"h04"}, map[string]any{"pkey_only": true, "sizelimit": 0})
	if res["count"] != float64(10) || len(res["result"].([]any)[0].(map[string]any)) != 2 {
		t.Errorf("criteria + pkey_only: %v", res)
	}
	res = c.must(t, "host_find", nil, map[string]any{"fqdn": "h499.example.test"})
	if res["count"] != float64(1) || res["summary"] != "1 host matched" {
		t.Errorf("fqdn filter: %v", res)
	}
	res = c.must(t, "host_find", []any{"nothing-matches"}, nil)
	if res["count"] != float64(0) || len(res["result"].([]any)) != 0 {
		t.Errorf("no match: %v", res)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, nil)
	s.FailNext("", Fault500, 1)
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("500: %v", err)
	}
	s.FailNext("", FaultReset, 1)
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 0:") {
		t.Errorf("reset: %v", err)
	}
	s.FailNext("", FaultExpire, 1)
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("expire: %v", err)
	}
	if _, err := c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("session survived the expiry fault: %v", err)
	}
	c.login("admin", "secret")
	c.must(t, "ping", nil, nil)

	s.SetFaults(Faults{Rate: 0.5, Kinds: []Fault{Fault500}, Seed: 7})
	failures := 0
	for range 40 {
		if _, err := c.call("ping", nil, nil); err != nil {
			failures++
		}
	}
	if failures == 0 || failures == 40 {
		t.Errorf("rate 0.5: %d of 40 failed", failures)
	}
	st := s.Counters()
	if st.Faults != 3+failures || st.Total != 45 {
		t.Errorf("stats: %+v (failures %d)", st, failures)
	}
	s.SetFaults(Faults{})
	c.must(t, "ping", nil, nil)
}

// TestFailNextByCommand: a fault armed for one command waits for that
// command; other calls pass and the fault fires once.
func TestFailNextByCommand(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, nil)
	s.FailNext("user_*", Fault500, 1)
	c.must(t, "ping", nil, nil)
	if _, err := c.call("user_show", []any{"admin"}, nil); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("user_show with an armed fault: %v", err)
	}
	c.must(t, "user_show", []any{"admin"}, nil)
	if st := s.Counters(); st.Faults != 1 || st.Reads != 2 || s.Count("user_show") != 1 {
		t.Errorf("counters: %+v", st)
	}
}

func TestCountersAndLog(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, nil)
	s.ResetCounters()
	c.must(t, "user_add", []any{"jane"}, map[string]any{"givenname": "Jane", "sn": "Roe", "userpassword": "Hunter2!"})
	c.must(t, "user_show", []any{"jane"}, nil)
	c.fails(t, 4202, "user_mod", []any{"jane"}, map[string]any{"sn": "Roe"})
	st := s.Counters()
	if st.Total != 3 || st.Writes != 2 || st.ByOp["user_add"] != 1 || st.ByOp["user_show"] != 1 || st.ByOp["user_mod"] != 1 {
		t.Errorf("stats: %+v", st)
	}
	log := s.Requests()
	if len(log) != 3 || log[0].Command != "user_add" || !reflect.DeepEqual(log[0].Args, []string{"jane"}) ||
		!slices.Equal(log[0].Options, []string{"givenname", "sn", "userpassword", "version"}) {
		t.Errorf("log: %+v", log)
	}
	if strings.Contains(fmt.Sprint(log), "Hunter2") {
		t.Errorf("password in log")
	}
	res := c.must(t, "user_mod", []any{"jane"}, map[string]any{"random": true})
	if pw, _ := res["result"].(map[string]any)["randompassword"].(string); len(pw) < 16 {
		t.Errorf("user_mod random: %v", res)
	}
	// An admin-set password is expired: login says so (rpcserver.login_password).
	code, body := c.login("jane", "Hunter2!")
	if code != http.StatusUnauthorized || !strings.Contains(body, "Cannot read password") {
		t.Errorf("expired password login: %d %s", code, body)
	}
	s.ResetCounters()
	if st := s.Counters(); st.Total != 0 || len(st.ByOp) != 0 || len(s.Requests()) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestHomelabSnapshot(t *testing.T) {
	t.Parallel()
	opts := HomelabOptions("pw")
	opts.Host = "127.0.0.1"
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.SeedHomelab(); err != nil {
		t.Fatal(err)
	}
	if err := s.AddHost("nextcloud.hetzner.int.mydomain", false); err != nil {
		t.Fatal(err)
	}
	otp, err := s.internal("host_add", []any{"blog.hetzner.int.mydomain"}, map[string]any{"force": true, "random": true})
	if err != nil {
		t.Fatal(err)
	}
	pw := otp["result"].(map[string]any)["randompassword"].(string)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), `"pw"`) || strings.Contains(string(snap), pw) {
		t.Error("password in snapshot")
	}
	s2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	// Serve the restored server and look at it through the API.
	s2c := newLabFrom(t, s2, "pw")
	h := s2c.must(t, "host_show", []any{HomelabServers()[1]}, nil)["result"].(map[string]any)
	if h["has_keytab"] != true || !reflect.DeepEqual(h["memberof_hostgroup"], []any{"ipaservers"}) {
		t.Errorf("restored IPA server: %v", h)
	}
	e := s2c.fails(t, 3009, "host_del", []any{HomelabServers()[0]}, nil)
	if e.Message != "invalid 'hostname': An IPA master host cannot be deleted or disabled" {
		t.Errorf("master delete: %v", e)
	}
	g := s2c.must(t, "group_show", []any{"admins"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(g["member_user"], []any{"admin"}) {
		t.Errorf("admins: %v", g)
	}
	f := s2c.must(t, "service_find", nil, map[string]any{"man_by_host": HomelabServers()[0]})
	if f["count"] != float64(2) {
		t.Errorf("services of %s: %v", HomelabServers()[0], f)
	}
	blog := s2c.must(t, "host_show", []any{"blog.hetzner.int.mydomain"}, nil)["result"].(map[string]any)
	if blog["has_password"] != true || blog["has_keytab"] != false {
		t.Errorf("restored OTP host: %v", blog)
	}
	if err := s2.Restore([]byte(`{"format":1,"realm":"OTHER","domain":"x"}`)); err == nil {
		t.Error("restore of another realm succeeded")
	}
	_ = s2.Close()
	if _, err := s2c.call("ping", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("after Close: %v", err)
	}
}

// TestConcurrentClients runs several sessions at once (meaningful under -race).
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	s, ts, _ := newLab(t, nil)
	s.ResetCounters()
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			c := newClient(t, ts, s)
			if code, _ := c.login("admin", "secret"); code != http.StatusOK {
				errs <- fmt.Errorf("worker %d: login %d", w, code)
				return
			}
			for i := range 10 {
				a, err := c.call("host_add", []any{fmt.Sprintf("w%d-%d.example.test", w, i)}, map[string]any{"force": true})
				if err == nil && a.Error != nil {
					err = a.Error
				}
				if err == nil {
					_, err = c.call("host_find", nil, map[string]any{"pkey_only": true, "sizelimit": 0})
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := s.Counters(); st.Total != 80 || st.Writes != 40 || st.Logins != 4 {
		t.Errorf("stats: %+v", st)
	}
}
