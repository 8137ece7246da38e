package freeipa_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
)

func isNotFound(err error) bool { return errors.Is(err, freeipa.NotFound) }

func TestLoginAndCall(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	out := l.call("ping", nil, nil)
	if !strings.Contains(out["summary"].(string), "API version "+sim.APIVersion) {
		t.Errorf("ping: %v", out)
	}
	l.call("ping", nil, nil)
	st := l.sim.Counters()
	if st.Logins != 1 || l.logins.Load() != 1 || st.Total != 2 {
		t.Errorf("two calls: %d logins (%d requests), %d calls; want 1, 1, 2", st.Logins, l.logins.Load(), st.Total)
	}
	// Every request carried the API version: no VersionMissing message.
	if _, ok := out["messages"]; ok {
		t.Errorf("messages: %v", out["messages"])
	}
}

func TestReloginAfterExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := newLab(t, func(o *sim.Options) { o.Now = clock; o.SessionLifetime = time.Minute }, nil)
	l.call("ping", nil, nil)
	now = now.Add(2 * time.Minute) // the session expired
	l.call("ping", nil, nil)
	l.sim.ExpireSessions()
	l.call("ping", nil, nil)
	st := l.sim.Counters()
	// 3 pings + 2 answered 401 before the re-logins.
	if st.Logins != 3 || st.Total != 5 {
		t.Errorf("logins %d calls %d; want 3 and 5", st.Logins, st.Total)
	}
}

func TestBadPassword(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: "wrong-password",
		Transport: l.ts.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, err = cl.Call(ctx(t), "ping", nil, nil)
		var le *freeipa.LoginError
		if !errors.As(err, &le) || le.Reason != "invalid-password" {
			t.Fatalf("err = %v, want a LoginError invalid-password", err)
		}
		if !strings.Contains(err.Error(), "wrong password") || strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("message %q: should say wrong password and not contain it", err)
		}
		if steps.IsTransient(err) {
			t.Errorf("a wrong password is not transient")
		}
	}
	// One login attempt: a rejected password is not retried in a loop.
	if n := l.logins.Load(); n != 1 {
		t.Errorf("login requests = %d, want 1", n)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	l.seed(l.sim.AddHostGroup("web"))
	cl := l.b.Client()
	l.sim.ResetCounters()
	cases := []struct {
		name   string
		method string
		args   []any
		opts   map[string]any
		code   freeipa.Code
	}{
		{"not found", "host_show", []any{"nope.example.test"}, nil, freeipa.NotFound},
		{"duplicate", "hostgroup_add", []any{"web"}, nil, freeipa.DuplicateEntry},
		{"empty modlist", "hostgroup_mod", []any{"web"}, map[string]any{"description": nil}, freeipa.EmptyModlist},
		{"unknown option", "hostgroup_show", []any{"web"}, map[string]any{"colour": "red"}, freeipa.OptionInvalid},
		{"does not resolve", "host_add", []any{"new.example.test"}, nil, freeipa.DNSNotARecord},
	}
	for _, c := range cases {
		_, err := cl.Call(ctx(t), c.method, c.args, c.opts)
		var ae *freeipa.APIError
		if !errors.Is(err, c.code) || !errors.As(err, &ae) || ae.Code != int(c.code) {
			t.Errorf("%s: err = %v, want code %d", c.name, err, c.code)
		}
	}
	// Command errors are answers, not retried: one request per case (and the login's none).
	if st := l.sim.Counters(); st.Total != len(cases) {
		t.Errorf("requests = %d, want %d", st.Total, len(cases))
	}
}

func TestVersionError(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, func(c map[string]any) { c["apiVersion"] = "3.1" })
	_, err := l.b.Client().Call(ctx(t), "ping", nil, nil)
	var ve *freeipa.VersionError
	if !errors.As(err, &ve) || ve.Want != sim.APIVersion || ve.Sent != "3.1" || !errors.Is(err, freeipa.VersionMismatch) {
		t.Fatalf("err = %v, want a VersionError naming %s", err, sim.APIVersion)
	}
	if !strings.Contains(err.Error(), `apiVersion to "`+sim.APIVersion+`"`) {
		t.Errorf("message %q should say what to configure", err)
	}
	// Observe reports it as is.
	_, err = l.b.Observe(ctx(t), []steps.Target{{ID: steps.ID{Kind: freeipa.KindHostGroup, Name: "x"}, Want: freeipa.HostGroupSpec{Name: "x"}}})
	if !errors.As(err, &ve) {
		t.Errorf("observe: %v", err)
	}
}

func TestTransportRetry(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: adminPassword,
		Transport: l.ts.Client().Transport, Attempts: 3, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctx(t), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Two resets then success: one Call.
	l.sim.FailNext("", sim.FaultReset, 2)
	if _, err := cl.Call(ctx(t), "hostgroup_add", []any{"g1"}, nil); err != nil {
		t.Fatalf("after 2 resets: %v", err)
	}
	// A 500 three times: the error is transient, for the executor.
	l.sim.FailNext("", sim.Fault500, 3)
	_, err = cl.Call(ctx(t), "ping", nil, nil)
	if err == nil || !steps.IsTransient(err) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("after 3 × 500: %v, want a transient error", err)
	}
	// A dropped session (FaultExpire) is renewed transparently.
	l.sim.FailNext("", sim.FaultExpire, 1)
	if _, err := cl.Call(ctx(t), "ping", nil, nil); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// Command errors are not retried.
	l.sim.ResetCounters()
	if _, err := cl.Call(ctx(t), "hostgroup_add", []any{"g1"}, nil); !errors.Is(err, freeipa.DuplicateEntry) {
		t.Fatal(err)
	}
	st := l.sim.Counters()
	if st.Total != 1 {
		t.Errorf("a command error was retried: %d calls", st.Total)
	}
	if st := l.sim.Counters(); st.ByOp["hostgroup_add"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRefererAndCookie(t *testing.T) {
	t.Parallel()
	// The referer must be https://<host>/ipa: a client given a URL with /ipa
	// or a trailing slash still sends exactly that.
	l := newLab(t, nil, func(c map[string]any) { c["url"] = c["url"].(string) + "/ipa/" })
	l.call("ping", nil, nil)
	if _, err := freeipa.NewClient(freeipa.ClientOptions{URL: "http://ipa.example.test", User: "admin"}); err == nil {
		t.Error("plain http accepted")
	}
}

func TestCAFile(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	// Without the CA file the server's certificate is not trusted.
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: adminPassword, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctx(t), "ping", nil, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
	// insecureSkipVerify works and is warned about on each Observe.
	l2 := newLab(t, nil, func(c map[string]any) { delete(c, "caFile"); c["insecureSkipVerify"] = true })
	for range 2 {
		if _, err := l2.b.Observe(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(l2.warnings) != 2 || !strings.Contains(l2.warnings[0], "insecureSkipVerify") {
		t.Errorf("warnings: %q", l2.warnings)
	}
}

// A 401 right after a successful login is a dropped session, not a bad
// password: the call logs in again after a wait, and when the server keeps
// refusing, the error is transient (the executor retries), never a
// permanent failure. Seen under 10–30% injected faults, where two 401s in a
// row failed a whole Observe.
func TestSessionRefusedAfterLogin(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	newClient := func() *freeipa.Client {
		cl, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: adminPassword,
			Transport: l.ts.Client().Transport, Attempts: 3, RetryWait: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// A fresh client: its first session is refused twice.
	cl := newClient()
	l.sim.FailNext("", sim.FaultExpire, 2)
	if _, err := cl.Call(ctx(t), "ping", nil, nil); err != nil {
		t.Fatalf("first call, two 401s after the login: %v", err)
	}
	if n := l.logins.Load(); n != 3 {
		t.Errorf("logins = %d, want 3 (the first and one per 401)", n)
	}
	// An established session: two 401s in a row.
	l.sim.FailNext("", sim.FaultExpire, 2)
	if _, err := cl.Call(ctx(t), "ping", nil, nil); err != nil {
		t.Fatalf("two 401s on an established session: %v", err)
	}
	// The server keeps refusing: transient, after Attempts tries.
	l.sim.ResetCounters()
	l.logins.Store(0)
	l.sim.FailNext("", sim.FaultExpire, 10)
	_, err := cl.Call(ctx(t), "ping", nil, nil)
	var le *freeipa.LoginError
	if err == nil || !steps.IsTransient(err) || errors.As(err, &le) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("after 10 × 401: %v, want a transient error that is no LoginError", err)
	}
	if st := l.sim.Counters(); st.Total != 3 || l.logins.Load() != 2 {
		t.Errorf("%d calls and %d logins, want 3 calls (Attempts) and 2 logins", st.Total, l.logins.Load())
	}
	// A bad password stays a permanent error, at once.
	bad, err := freeipa.NewClient(freeipa.ClientOptions{URL: l.ts.URL, User: "admin", Password: "wrong",
		Transport: l.ts.Client().Transport, Attempts: 3, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Call(ctx(t), "ping", nil, nil); !errors.As(err, &le) || steps.IsTransient(err) {
		t.Errorf("bad password: %v, want a permanent LoginError", err)
	}
}
