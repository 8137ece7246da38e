package freeipa_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
)

// replica is one FreeIPA server of a two-server domain: an HTTPS front to
// the lab's simulator (the replicas share its directory, as if replication
// were instantaneous) that counts the commands it served and can go down.
type replica struct {
	ts *httptest.Server
	// served counts dispatched JSON-RPC commands by method.
	mu     sync.Mutex
	served map[string]int
	// downAfter, when set, takes the replica down (every request answered
	// 503, as Apache does when its WSGI daemon is gone) after it served
	// that command once.
	downAfter string
	down      atomic.Bool
}

func newReplica(t *testing.T, l *lab) *replica {
	t.Helper()
	r := &replica{served: map[string]int{}}
	r.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var call struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &call)
		l.sim.ServeHTTP(w, req)
		if call.Method == "" {
			return
		}
		r.mu.Lock()
		r.served[call.Method]++
		r.mu.Unlock()
		if call.Method == r.downAfter {
			r.down.Store(true)
		}
	}))
	t.Cleanup(r.ts.Close)
	return r
}

func (r *replica) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.served[method]
}

// twoServerClient is a client of the two replicas, in that order.
func twoServerClient(t *testing.T, a, b *replica, logf func(string, ...any)) *freeipa.Client {
	t.Helper()
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URLs: []string{a.ts.URL, b.ts.URL}, User: "admin", Password: adminPassword,
		Transport: a.ts.Client().Transport, Attempts: 2, RetryWait: 1, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestReplicaDownMidRun (issue 18.5): the first server goes down in the
// middle of a run's apply, right after it created a host; the run goes on
// at the second server and completes, every object written once, and
// the run's log says which server took over. A second run changes nothing.
func TestReplicaDownMidRun(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(o *sim.Options) {
		*o = sim.HomelabOptions(adminPassword)
		o.Host = "127.0.0.1"
	}, nil)
	if err := l.sim.SeedHomelab(); err != nil {
		t.Fatal(err)
	}
	a, b := newReplica(t, l), newReplica(t, l)
	a.downAfter = "host_add"
	var (
		mu    sync.Mutex
		notes []string
	)
	cl := twoServerClient(t, a, b, func(f string, args ...any) {
		mu.Lock()
		notes = append(notes, fmt.Sprintf(f, args...))
		mu.Unlock()
	})
	be := freeipa.NewWithClient(freeipa.Config{Domains: []string{sim.HomelabDomain}, SecretDir: t.TempDir()}, cl)
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, be)
	p.In.Push("identity", map[string]string{"main.jsonnet": identityMain,
		"homelab.libsonnet":  pipelinetest.Homelab(t, "homelab.libsonnet"),
		"identity.libsonnet": pipelinetest.Homelab(t, "identity.libsonnet")})
	l.sim.ResetCounters()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK {
		t.Fatalf("run with a replica going down: %s %v %+v", rep.Summary, rep.Errors, rep.Applied)
	}
	// The executor runs 4 changes at a time: the host_adds in flight when
	// the first server went down were answered there.
	if !a.down.Load() || a.count("host_add") == 0 || b.count("host_add") == 0 {
		t.Fatalf("host_add at the first server %d (down %v), at the second %d; want some, down, the rest",
			a.count("host_add"), a.down.Load(), b.count("host_add"))
	}
	if n := l.sim.Count("host_add"); n != a.count("host_add")+b.count("host_add") {
		t.Errorf("the directory saw %d host_add, the servers answered %d: a write was repeated", n, a.count("host_add")+b.count("host_add"))
	}
	if cl.Server() != b.ts.URL {
		t.Errorf("calls go to %s, want the second server %s", cl.Server(), b.ts.URL)
	}
	mu.Lock()
	log := strings.Join(notes, "\n")
	mu.Unlock()
	if !strings.Contains(log, a.ts.URL+" failed") || !strings.Contains(log, "calls go to "+b.ts.URL+" from now on") {
		t.Errorf("the log does not say which server took over:\n%s", log)
	}
	l.sim.ResetCounters()
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Errorf("second run: %s %v", rep.Summary, rep.Errors)
	}
	if w := l.sim.Counters().Writes; w != 0 {
		t.Errorf("second run wrote %d times", w)
	}
}

// TestWriteOfUnknownOutcomeStaysWithItsServer (issue 18.5): a write whose
// answer is lost at the first server (the connection reset after the
// request was sent) is not sent to the second, where replication may not
// have brought it yet: the call fails as OutcomeUnknownError, not
// transient, so the executor does not retry it elsewhere either. A read
// in the same situation goes on to the second server.
func TestWriteOfUnknownOutcomeStaysWithItsServer(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	a, b := newReplica(t, l), newReplica(t, l)
	cl := twoServerClient(t, a, b, nil)
	c := ctx(t)
	if _, err := cl.Call(c, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	l.sim.FailNext("user_add", sim.FaultReset, 2) // every attempt at the first server
	_, err := cl.Call(c, "user_add", []any{"carol"}, map[string]any{"givenname": "Carol", "sn": "Doe"})
	var unknown *freeipa.OutcomeUnknownError
	if !errors.As(err, &unknown) || unknown.Server != a.ts.URL || steps.IsTransient(err) {
		t.Fatalf("user_add with lost answers: %v (transient %v), want an OutcomeUnknownError at %s, not transient", err, steps.IsTransient(err), a.ts.URL)
	}
	if b.count("user_add") != 0 {
		t.Errorf("the write of unknown outcome was sent to the second server %d times", b.count("user_add"))
	}
	l.sim.FailNext("user_show", sim.FaultReset, 2)
	if _, err := cl.Call(c, "user_show", []any{"admin"}, nil); err != nil || b.count("user_show") != 1 {
		t.Errorf("a read with lost answers: %v, %d at the second server; want it answered there", err, b.count("user_show"))
	}
}

// TestWriteGoesOnWhenServerRefuses: a server that refuses connections
// cannot have run anything, so a write goes on to the next server, once,
// and later calls go there first.
func TestWriteGoesOnWhenServerRefuses(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil, nil)
	a, b := newReplica(t, l), newReplica(t, l)
	cl := twoServerClient(t, a, b, nil)
	a.ts.Close() // connection refused from now on
	c := ctx(t)
	if _, err := cl.Call(c, "user_add", []any{"dave"}, map[string]any{"givenname": "Dave", "sn": "Doe"}); err != nil {
		t.Fatal(err)
	}
	if b.count("user_add") != 1 || l.sim.Count("user_add") != 1 || cl.Server() != b.ts.URL {
		t.Errorf("user_add: %d at the second server, %d in all, calls go to %s; want 1, 1, %s", b.count("user_add"), l.sim.Count("user_add"), cl.Server(), b.ts.URL)
	}
}

func TestReplicaConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want string
	}{
		{`{"url": "https://ipa1.example.test", "urls": ["https://ipa2.example.test"], "user": "admin", "password": {"env": "X"}}`, "url or urls, not both"},
		{`{"urls": ["https://ipa1.example.test", "http://ipa2.example.test"], "user": "admin", "password": {"env": "X"}}`, `"http://ipa2.example.test": FreeIPA only accepts https`},
		{`{"urls": ["https://ipa1.example.test", "https://ipa1.example.test/"], "user": "admin", "password": {"env": "X"}}`, "given twice"},
		{`{"user": "admin", "password": {"env": "X"}}`, "url is required"},
	} {
		t.Setenv("X", "pw")
		_, err := freeipa.New(json.RawMessage(tc.cfg), &steps.Redactor{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// scripted is an HTTP transport whose answers a test scripts per server,
// path and how often that path was asked; it logs what was sent where.
type scripted struct {
	mu     sync.Mutex
	asked  map[string]int
	sent   []string // "host method" of each JSON-RPC request
	answer func(host, path string, n int) (*http.Response, error)
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	var call struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &call)
	s.mu.Lock()
	key := req.URL.Host + req.URL.Path
	s.asked[key]++
	n := s.asked[key]
	if call.Method != "" {
		s.sent = append(s.sent, req.URL.Host+" "+call.Method)
	}
	s.mu.Unlock()
	res, err := s.answer(req.URL.Host, req.URL.Path, n)
	if res != nil {
		res.Request = req
	}
	return res, err
}

func (s *scripted) count(host, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.sent {
		if l == host+" "+method {
			n++
		}
	}
	return n
}

func answer(code int, body string) *http.Response {
	h := http.Header{}
	h.Set("Set-Cookie", "ipa_session=x; Path=/ipa")
	return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ProtoMajor: 1, ProtoMinor: 1}
}

var (
	refused = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	added   = `{"result":{"result":{},"value":"carol","summary":"Added user"},"error":null}`
)

func scriptedClient(t *testing.T, rt *scripted) *freeipa.Client {
	t.Helper()
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URLs: []string{"https://a.example.test", "https://b.example.test"},
		User: "admin", Password: "x", Transport: rt, Attempts: 3, RetryWait: 1})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestLostWriteThenDroppedSessionStaysWithItsServer (found in review): the
// write's first answer is lost (it may have run), the resend gets a 401
// (the server restarted: session gone) and the login again is refused.
// The last failure alone (a refused login) says nothing ran; the write must
// still not go to the second server. It did, before the client kept what
// every attempt of the command may have done.
func TestLostWriteThenDroppedSessionStaysWithItsServer(t *testing.T) {
	t.Parallel()
	rt := &scripted{asked: map[string]int{}, answer: func(host, path string, n int) (*http.Response, error) {
		if host == "a.example.test" {
			switch {
			case path == "/ipa/session/login_password" && n == 1:
				return answer(200, ""), nil
			case path == "/ipa/session/login_password":
				return nil, refused
			case n == 1:
				return nil, errors.New("read: connection reset by peer")
			default:
				return answer(401, ""), nil
			}
		}
		if path == "/ipa/session/login_password" {
			return answer(200, ""), nil
		}
		return answer(200, added), nil
	}}
	_, err := scriptedClient(t, rt).Call(t.Context(), "user_add", []any{"carol"}, nil)
	var unknown *freeipa.OutcomeUnknownError
	if !errors.As(err, &unknown) || rt.count("b.example.test", "user_add") != 0 {
		t.Fatalf("user_add: %v, sent to the second server %d times; want an OutcomeUnknownError and none", err, rt.count("b.example.test", "user_add"))
	}
}

// TestWriteGoesOnWhenLoginFails (found in review): a server whose login
// answers 502 never got the command, so a write goes on to the next server
// (it was reported as "may have carried it out" and stopped there).
func TestWriteGoesOnWhenLoginFails(t *testing.T) {
	t.Parallel()
	rt := &scripted{asked: map[string]int{}, answer: func(host, path string, n int) (*http.Response, error) {
		switch {
		case host == "a.example.test":
			return answer(502, "Bad Gateway"), nil
		case path == "/ipa/session/login_password":
			return answer(200, ""), nil
		}
		return answer(200, added), nil
	}}
	if _, err := scriptedClient(t, rt).Call(t.Context(), "user_add", []any{"carol"}, nil); err != nil || rt.count("b.example.test", "user_add") != 1 {
		t.Fatalf("user_add: %v, %d at the second server; want it done there once", err, rt.count("b.example.test", "user_add"))
	}
}
