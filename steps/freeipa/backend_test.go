package freeipa_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	slices.Sort(out)
	return out
}

// TestLifecycle creates, updates and deletes one object of every kind
// through Observe/Diff/Apply, checks the server after each step, and checks
// that a converged world plans no change and makes no write.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	type step struct {
		spec  string
		check func(l *lab, e map[string]any)
	}
	cases := []struct {
		kind, name, obj, key string
		setup                func(s *sim.Server) error
		create, update       step
	}{
		{kind: freeipa.KindHost, name: "web1.example.test", obj: "host", key: "web1.example.test",
			setup: func(s *sim.Server) error {
				return errors.Join(s.AddHostGroup("web"), s.AddHostGroup("db"), s.AddHost("mgr.example.test", true))
			},
			create: step{`{"fqdn":"web1.example.test","description":"Web","locality":"Falkenstein","force":true,"hostGroups":["web"],"managedBy":["mgr.example.test"]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["memberof_hostgroup"]), []string{"web"}) || !slices.Contains(strs(e["managedby_host"]), "mgr.example.test") ||
						!reflect.DeepEqual(strs(e["l"]), []string{"Falkenstein"}) || e["has_password"] != true {
						t.Errorf("host after create: %v", e)
					}
				}},
			update: step{`{"fqdn":"web1.example.test","description":"Web server","hostGroups":["db"],"managedBy":[]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["description"]), []string{"Web server"}) || !reflect.DeepEqual(strs(e["memberof_hostgroup"]), []string{"db"}) ||
						slices.Contains(strs(e["managedby_host"]), "mgr.example.test") || !reflect.DeepEqual(strs(e["l"]), []string{"Falkenstein"}) {
						t.Errorf("host after update: %v", e)
					}
				}}},
		{kind: freeipa.KindHostGroup, name: "web", obj: "hostgroup", key: "web",
			setup: func(s *sim.Server) error {
				return errors.Join(s.AddHost("a.example.test", false), s.AddHost("b.example.test", false), s.AddHostGroup("inner"))
			},
			create: step{`{"name":"web","description":"Web servers","hosts":["a.example.test"],"hostGroups":["inner"]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["member_host"]), []string{"a.example.test"}) || !reflect.DeepEqual(strs(e["member_hostgroup"]), []string{"inner"}) {
						t.Errorf("hostgroup after create: %v", e)
					}
				}},
			update: step{`{"name":"web","hosts":["b.example.test"],"hostGroups":[]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["member_host"]), []string{"b.example.test"}) || e["member_hostgroup"] != nil ||
						!reflect.DeepEqual(strs(e["description"]), []string{"Web servers"}) {
						t.Errorf("hostgroup after update: %v", e)
					}
				}}},
		{kind: freeipa.KindService, name: "HTTP/web1.example.test", obj: "service", key: "HTTP/web1.example.test",
			setup: func(s *sim.Server) error {
				return errors.Join(s.AddHost("web1.example.test", true), s.AddHost("proxy.example.test", true))
			},
			create: step{`{"principal":"HTTP/web1.example.test","force":true,"managedBy":["proxy.example.test"]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["managedby_host"]), []string{"proxy.example.test", "web1.example.test"}) {
						t.Errorf("service after create: %v", e)
					}
				}},
			update: step{`{"principal":"HTTP/web1.example.test","managedBy":[]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["managedby_host"]), []string{"web1.example.test"}) {
						t.Errorf("service after update: %v", e)
					}
				}}},
		{kind: freeipa.KindUser, name: "alice", obj: "user", key: "alice",
			create: step{`{"uid":"alice","firstName":"Alice","lastName":"Liddell","email":["alice@example.test"],"loginShell":"/bin/bash"}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["mail"]), []string{"alice@example.test"}) || !reflect.DeepEqual(strs(e["loginshell"]), []string{"/bin/bash"}) {
						t.Errorf("user after create: %v", e)
					}
				}},
			update: step{`{"uid":"alice","firstName":"Alice","lastName":"Hargreaves","email":[],"title":"Admin"}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["sn"]), []string{"Hargreaves"}) || e["mail"] != nil || !reflect.DeepEqual(strs(e["title"]), []string{"Admin"}) {
						t.Errorf("user after update: %v", e)
					}
				}}},
		{kind: freeipa.KindGroup, name: "ops", obj: "group", key: "ops",
			setup: func(s *sim.Server) error {
				return errors.Join(s.AddUser("bob", "Bob", "B"), s.AddUser("carol", "Carol", "C"), s.AddGroup("sub"))
			},
			create: step{`{"name":"ops","description":"Operators","users":["bob"],"groups":["sub"]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["member_user"]), []string{"bob"}) || !reflect.DeepEqual(strs(e["member_group"]), []string{"sub"}) {
						t.Errorf("group after create: %v", e)
					}
				}},
			update: step{`{"name":"ops","description":"Ops","users":["bob","carol"]}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["member_user"]), []string{"bob", "carol"}) || !reflect.DeepEqual(strs(e["member_group"]), []string{"sub"}) {
						t.Errorf("group after update: %v", e)
					}
				}}},
		{kind: freeipa.KindSudoRule, name: "admins", obj: "sudorule", key: "admins",
			setup: func(s *sim.Server) error {
				return errors.Join(s.AddGroup("ops"), s.AddHostGroup("web"), s.AddUser("bob", "Bob", "B"))
			},
			create: step{`{"name":"admins","description":"Admins may sudo","allHosts":true,"groups":["ops"],"allCommands":true}`,
				func(l *lab, e map[string]any) {
					if !reflect.DeepEqual(strs(e["hostcategory"]), []string{"all"}) || !reflect.DeepEqual(strs(e["memberuser_group"]), []string{"ops"}) ||
						!reflect.DeepEqual(strs(e["cmdcategory"]), []string{"all"}) || !reflect.DeepEqual(strs(e["ipaenabledflag"]), []string{"true"}) {
						t.Errorf("sudorule after create: %v", e)
					}
				}},
			update: step{`{"name":"admins","enabled":false,"hostGroups":["web"],"users":["bob"],"commands":["/usr/bin/systemctl"]}`,
				func(l *lab, e map[string]any) {
					if e["hostcategory"] != nil || e["cmdcategory"] != nil || !reflect.DeepEqual(strs(e["memberhost_hostgroup"]), []string{"web"}) ||
						!reflect.DeepEqual(strs(e["memberuser_user"]), []string{"bob"}) || !reflect.DeepEqual(strs(e["memberuser_group"]), []string{"ops"}) ||
						!reflect.DeepEqual(strs(e["memberallowcmd_sudocmd"]), []string{"/usr/bin/systemctl"}) || !reflect.DeepEqual(strs(e["ipaenabledflag"]), []string{"false"}) {
						t.Errorf("sudorule after update: %v", e)
					}
				}}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, nil, nil)
			if c.setup != nil {
				if err := c.setup(l.sim); err != nil {
					t.Fatal(err)
				}
			}
			id := steps.ID{Kind: c.kind, Name: c.name}
			p := &steptest.Progress{}
			var inv inventory
			for i, st := range []step{c.create, c.update} {
				want := []res{{c.kind, c.name, st.spec}}
				l.sim.ResetCounters()
				cs, next, err := l.converge(want, inv, p)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				wantAction := []steps.Action{steps.Create, steps.Update}[i]
				if len(cs) != 1 || cs[0].Action != wantAction || len(cs[0].Fields) == 0 {
					t.Fatalf("step %d: %s %v, want %s", i, actions(cs), cs, wantAction)
				}
				e := l.show(c.obj, c.key)
				if e == nil {
					t.Fatalf("step %d: %s %s does not exist", i, c.obj, c.key)
				}
				st.check(l, e)
				inv = next
				// Converged: a second run plans a no-op and writes nothing.
				l.sim.ResetCounters()
				cs, inv, err = l.converge(want, inv, p)
				if err != nil || cs[0].Action != steps.NoOp {
					t.Fatalf("step %d again: %s %v %v", i, actions(cs), cs[0].Fields, err)
				}
				if s := l.sim.Counters(); s.Writes != 0 {
					t.Errorf("step %d again: %d writes: %v", i, s.Writes, s.ByOp)
				}
			}
			// Delete: the resource left the repo.
			cs, inv, err := l.converge(nil, inv, p)
			if err != nil || len(cs) != 1 || cs[0].Action != steps.Delete {
				t.Fatalf("delete: %s %v", actions(cs), err)
			}
			if e := l.show(c.obj, c.key); e != nil {
				t.Errorf("%s still exists: %v", id, e)
			}
			if _, ok := inv[id]; ok {
				t.Errorf("inventory keeps %s", id)
			}
		})
	}
}

func TestHostOneTimePassword(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(o *sim.Options) { o.DNSZones = []string{"example.test"} }, nil)
	p := &steptest.Progress{}
	want := []res{{freeipa.KindHost, "new.example.test", `{"fqdn":"new.example.test","ipAddress":"10.0.0.5"}`}}
	cs, inv, err := l.converge(want, nil, p)
	if err != nil || cs[0].Action != steps.Create {
		t.Fatalf("%s %v", actions(cs), err)
	}
	path := filepath.Join(l.secretDir, "new.example.test.otp")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("otp file: %v %v", fi, err)
	}
	otp, _ := os.ReadFile(path)
	pw := strings.TrimSpace(string(otp))
	if len(pw) < 8 {
		t.Fatalf("otp %q", pw)
	}
	if !strings.Contains(p.Text(), path) || strings.Contains(p.Text(), pw) {
		t.Errorf("progress should name the file, not the password: %q", p.Text())
	}
	var st freeipa.State
	rec := inv[steps.ID{Kind: freeipa.KindHost, Name: "new.example.test"}]
	if err := json.Unmarshal(rec.state, &st); err != nil || st.OTPFile != path || strings.Contains(string(rec.state), pw) {
		t.Errorf("state %s", rec.state)
	}
	if e := l.show("host", "new.example.test"); e["has_password"] != true || e["has_keytab"] != false {
		t.Errorf("host: %v", e)
	}
	// Enrolled later: Observe sees the keytab through host_find alone.
	if err := l.sim.Enroll("new.example.test"); err != nil {
		t.Fatal(err)
	}
	l.sim.ResetCounters()
	cs, inv, err = l.converge(want, inv, p)
	if err != nil || cs[0].Action != steps.NoOp {
		t.Fatalf("%s %v", actions(cs), err)
	}
	if s := l.sim.Counters(); s.ByOp["host_show"] != 0 || s.Total != 1 {
		t.Errorf("observe of one host: %v", s.ByOp)
	}
	// The state (OTP path) survives no-op runs.
	if !strings.Contains(string(inv[cs[0].ID].state), path) {
		t.Errorf("state lost: %s", inv[cs[0].ID].state)
	}
	// Without secretDir a host with a one-time password is refused before it is created.
	l2 := newLab(t, nil, func(c map[string]any) { delete(c, "secretDir") })
	_, _, err = l2.converge([]res{{freeipa.KindHost, "x.example.test", `{"fqdn":"x.example.test","force":true}`}}, nil, p)
	if err == nil || !strings.Contains(err.Error(), "secretDir") || l2.show("host", "x.example.test") != nil {
		t.Errorf("without secretDir: %v", err)
	}
}

func TestEnrolledHostDelete(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	p := &steptest.Progress{}
	spec := `{"fqdn":"old.example.test","force":true}`
	want := []res{{freeipa.KindHost, "old.example.test", spec}}
	_, inv, err := l.converge(want, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.sim.Enroll("old.example.test"); err != nil {
		t.Fatal(err)
	}
	// Removed from the repo: the plan deletes it, Before says enrolled and
	// not deleteEnrolled, and Apply refuses (defence in depth).
	cs, inv, err := l.converge(nil, inv, p)
	if err == nil || !strings.Contains(err.Error(), "enrolled") {
		t.Fatalf("delete of an enrolled host: %v", err)
	}
	before := cs[0].Before.(map[string]any)
	if cs[0].Action != steps.Delete || before["hasKeytab"] != true || before["deleteEnrolled"] != false {
		t.Errorf("change %s before %v", cs[0].Action, before)
	}
	if l.show("host", "old.example.test") == nil {
		t.Fatal("the enrolled host was deleted")
	}
	// Push deleteEnrolled: true, then remove it.
	_, inv, err = l.converge([]res{{freeipa.KindHost, "old.example.test", `{"fqdn":"old.example.test","force":true,"deleteEnrolled":true}`}}, inv, p)
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err = l.converge(nil, inv, p)
	if err != nil || cs[0].Before.(map[string]any)["deleteEnrolled"] != true {
		t.Fatalf("delete with deleteEnrolled: %v %v", err, cs[0].Before)
	}
	if l.show("host", "old.example.test") != nil {
		t.Error("host not deleted")
	}
}

func TestMemberFailures(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	l.seed(l.sim.AddHost("a.example.test", false), l.sim.AddHost("ghost.example.test", false))
	b := l.b
	id := steps.ID{Kind: freeipa.KindHostGroup, Name: "g"}
	tg := steps.Target{ID: id, Want: steptest.Decode(t, b, id.Kind, `{"name":"g","hosts":["a.example.test","ghost.example.test"]}`)}
	live, err := b.Observe(ctx(t), []steps.Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Diff(tg, live[id])
	if err != nil {
		t.Fatal(err)
	}
	// The host disappears between plan and apply.
	l.call("host_del", []any{"ghost.example.test"}, nil)
	_, err = b.Apply(ctx(t), c, &steptest.Progress{})
	var me *freeipa.MemberError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.Failed, []string{"host ghost.example.test (no such entry)"}) {
		t.Fatalf("err = %v, want a MemberError naming ghost", err)
	}
	if e := l.show("hostgroup", "g"); !reflect.DeepEqual(strs(e["member_host"]), []string{"a.example.test"}) {
		t.Errorf("the other member was not added: %v", e)
	}
}

func TestObserveBadReferences(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	l.seed(l.sim.AddHostGroup("exists"))
	host := func(name, groups string) res {
		return res{freeipa.KindHost, name, `{"fqdn":"h.example.test","force":true,"hostGroups":` + groups + `}`}
	}
	cases := []struct {
		name string
		want []res
		msg  string
	}{
		{"unknown host group", []res{host("h.example.test", `["exists","missing"]`)}, `host group "missing" in hostGroups does not exist in FreeIPA and is not declared`},
		{"duplicate host", []res{host("h.example.test", `[]`), host("h2", `[]`)}, "both declare host h.example.test"},
	}
	for _, c := range cases {
		_, _, err := l.converge(c.want, nil, &steptest.Progress{})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", c.name, err, c.msg)
		}
	}
	// A declared host group is fine.
	_, _, err := l.converge([]res{host("h.example.test", `["newgroup"]`), {freeipa.KindHostGroup, "newgroup", `{"name":"newgroup"}`}}, nil, &steptest.Progress{})
	// Observe accepts it; converge applies in the order given (host
	// first, no dependsOn), so the membership fails, saying why.
	if err == nil || strings.Contains(err.Error(), "not declared") || !strings.Contains(err.Error(), "make this resource depend on it") {
		t.Errorf("declared group without dependsOn: %v", err)
	}
	if st := l.sim.Counters(); st.Writes == 0 {
		t.Error("nothing applied for the valid plan")
	}
}

func TestObserve500Hosts(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	var targets []steps.Target
	for g := range 50 {
		l.seed(l.sim.AddHostGroup(fmt.Sprintf("g%02d", g)))
	}
	for i := range 500 {
		fqdn := fmt.Sprintf("h%03d.example.test", i)
		l.seed(l.sim.AddHost(fqdn, i%2 == 0))
		s := steptest.Decode(t, l.b, freeipa.KindHost, fmt.Sprintf(`{"fqdn":%q,"hostGroups":["g%02d"]}`, fqdn, i%50))
		targets = append(targets, steps.Target{ID: steps.ID{Kind: freeipa.KindHost, Name: fqdn}, Want: s, Adopt: true})
	}
	l.sim.ResetCounters()
	live, err := l.b.Observe(ctx(t), targets)
	if err != nil {
		t.Fatal(err)
	}
	st := l.sim.Counters()
	if st.Total > 6 || st.ByOp["host_find"] != 1 || st.ByOp["host_show"] != 0 {
		t.Errorf("observe of 500 hosts: %d calls %v, want ≤ 6", st.Total, st.ByOp)
	}
	if len(live) != 500 {
		t.Fatalf("live has %d hosts", len(live))
	}
	enrolled := 0
	for _, v := range live {
		if v.(*freeipa.Live).HasKeytab {
			enrolled++
		}
	}
	if enrolled != 250 {
		t.Errorf("enrolled = %d, want 250", enrolled)
	}
	// Every host needs to join its group: 500 updates.
	updates := 0
	for _, tg := range targets {
		c, err := l.b.Diff(tg, live[tg.ID])
		if err != nil {
			t.Fatal(err)
		}
		if c.Action == steps.Update && strings.HasPrefix(c.Fields[0].Path, "hostGroups") {
			updates++
		}
	}
	if updates != 500 {
		t.Errorf("updates = %d", updates)
	}
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(nil, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decode(freeipa.KindHost, json.RawMessage(`{"fqdn":"a.example.test"}`)); err != nil {
		t.Errorf("decode without config: %v", err)
	}
	_, err = b.Observe(ctx(t), nil)
	if !errors.Is(err, freeipa.ErrNotConfigured) || !strings.Contains(err.Error(), "add backends.freeipa to the runner config") {
		t.Errorf("observe: %v", err)
	}
	if _, err := b.Apply(ctx(t), steps.Change{ID: steps.ID{Kind: freeipa.KindHost, Name: "a"}, Action: steps.Create}, &steptest.Progress{}); !errors.Is(err, freeipa.ErrNotConfigured) {
		t.Errorf("apply: %v", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	red := &steps.Redactor{}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("very-secret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := fmt.Sprintf(`{"file":%q}`, pwFile)
	if _, err := freeipa.New(json.RawMessage(`{"url":"https://ipa.example.test","user":"admin","password":`+pw+`}`), red); err != nil {
		t.Fatal(err)
	}
	if got := red.Redact("login failed for very-secret-pw"); strings.Contains(got, "very-secret-pw") {
		t.Errorf("password not registered for redaction: %q", got)
	}
	for _, bad := range []struct{ raw, msg string }{
		{`{"url":"https://ipa.example.test","user":"admin"}`, "no secret source"},
		{`{"url":"https://ipa.example.test","user":"admin","password":` + pw + `,"pasword":1}`, "pasword"},
		{`{"user":"admin","password":` + pw + `}`, "url is required"},
		{`{"url":"https://ipa.example.test","password":` + pw + `}`, "user is required"},
		{`{"url":"https://ipa.example.test","user":"admin","password":{"env":"IPA_NOT_SET_X"}}`, "IPA_NOT_SET_X is not set"},
		{`{"url":"http://ipa.example.test","user":"admin","password":` + pw + `}`, "https"},
	} {
		if _, err := freeipa.New(json.RawMessage(bad.raw), red); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: %v, want %q", bad.raw, err, bad.msg)
		}
	}
}

func TestSudoRuleDisabledAndCategories(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	l.seed(l.sim.AddHost("a.example.test", true), l.sim.AddUser("bob", "Bob", "B"))
	p := &steptest.Progress{}
	steps3 := []string{
		`{"name":"ops","enabled":false,"hosts":["a.example.test"],"users":["bob"],"commands":["/usr/bin/systemctl","/usr/bin/journalctl"]}`,
		// From members to "all": the members go first (FreeIPA refuses a
		// category 'all' next to members).
		`{"name":"ops","enabled":true,"allHosts":true,"allUsers":true,"commands":["/usr/bin/journalctl"]}`,
	}
	var inv inventory
	for i, spec := range steps3 {
		want := []res{{freeipa.KindSudoRule, "ops", spec}}
		_, next, err := l.converge(want, inv, p)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		inv = next
		l.sim.ResetCounters()
		cs, _, err := l.converge(want, inv, p)
		if err != nil || cs[0].Action != steps.NoOp || l.sim.Counters().Writes != 0 {
			t.Fatalf("step %d again: %s %v %v", i, actions(cs), cs[0].Fields, err)
		}
	}
	e := l.show("sudorule", "ops")
	if !reflect.DeepEqual(strs(e["hostcategory"]), []string{"all"}) || !reflect.DeepEqual(strs(e["usercategory"]), []string{"all"}) ||
		e["memberhost_host"] != nil || e["memberuser_user"] != nil || !reflect.DeepEqual(strs(e["ipaenabledflag"]), []string{"true"}) ||
		!reflect.DeepEqual(strs(e["memberallowcmd_sudocmd"]), []string{"/usr/bin/journalctl"}) {
		t.Errorf("rule: %v", e)
	}
}

// lossy forwards requests but loses the answer to the first one whose body
// contains drop: the server carried it out, the client sees a broken
// connection.
type lossy struct {
	next    http.RoundTripper
	drop    string
	dropped atomic.Bool
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := l.next.RoundTrip(r)
	if err == nil && bytes.Contains(body, []byte(l.drop)) && l.dropped.CompareAndSwap(false, true) {
		_ = resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

func TestCreateAfterLostAnswer(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	tr := &lossy{next: l.ts.Client().Transport, drop: `"host_add"`}
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: adminPassword,
		Transport: tr, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.b = freeipa.NewWithClient(freeipa.Config{SecretDir: l.secretDir}, cl)
	p := &steptest.Progress{}
	want := []res{{freeipa.KindHost, "lost.example.test", `{"fqdn":"lost.example.test","force":true,"description":"d"}`}}
	cs, inv, err := l.converge(want, nil, p)
	if err != nil || cs[0].Action != steps.Create || !tr.dropped.Load() {
		t.Fatalf("create with a lost answer: %v (dropped %v)", err, tr.dropped.Load())
	}
	if !strings.Contains(p.Text(), "was lost") {
		t.Errorf("progress: %q", p.Text())
	}
	otp, err := os.ReadFile(filepath.Join(l.secretDir, "lost.example.test.otp"))
	if err != nil || len(strings.TrimSpace(string(otp))) < 8 {
		t.Errorf("otp after reissue: %q %v", otp, err)
	}
	if st := l.sim.Counters(); st.ByOp["host_add"] != 2 || st.ByOp["host_mod"] != 1 {
		t.Errorf("calls: %v", st.ByOp)
	}
	cs, _, err = l.converge(want, inv, p)
	if err != nil || cs[0].Action != steps.NoOp {
		t.Errorf("then: %s %v", actions(cs), err)
	}
}
