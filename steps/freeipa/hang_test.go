package freeipa_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
)

// hangingServer accepts TCP connections and never answers: a replica whose
// TLS handshake hangs. It counts the connections it accepted.
type hangingServer struct {
	ln       net.Listener
	accepted atomic.Int64
}

func newHangingServer(t *testing.T) *hangingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingServer{ln: ln}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return h
}

func (h *hangingServer) url() string { return "https://" + h.ln.Addr().String() }

// refusedURL is an https URL at a port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "https://" + ln.Addr().String()
	_ = ln.Close()
	return u
}

// replicaLab is the homelab's FreeIPA behind the lab's simulator, its
// backend configured (through New, as the runner does) with urls: first
// the given servers, then the simulator.
func replicaLab(t *testing.T, first ...string) *lab {
	t.Helper()
	l := newLab(t, func(o *sim.Options) {
		*o = sim.HomelabOptions(adminPassword)
		o.Host = "127.0.0.1"
	}, func(c map[string]any) {
		c["urls"] = append(first, c["url"].(string))
		delete(c, "url")
		c["domains"] = []string{sim.HomelabDomain}
	})
	if err := l.sim.SeedHomelab(); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestHangingReplica (review of issue 18, finding 5): the first replica
// accepts connections and never answers. A run pays its handshake timeout
// once — one connection, although Observe reads in parallel and each call
// used to wait on it for itself, three times — and is served by the second
// replica, which the run's log, STATUS.md and status.json name. The next
// run (a new process: a new backend over the same state) starts at the
// replica that served and does not connect to the hung one at all.
func TestHangingReplica(t *testing.T) {
	t.Parallel()
	hang := newHangingServer(t)
	l := replicaLab(t, hang.url())
	var (
		mu    sync.Mutex
		notes []string
	)
	note := func(f string, args ...any) {
		mu.Lock()
		notes = append(notes, fmt.Sprintf(f, args...))
		mu.Unlock()
	}
	l.b.SetWarnf(note)
	l.b.SetInfof(note)
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, l.b)
	p.Runner.ObserveCache = t.TempDir()
	p.In.Push("identity", map[string]string{"main.jsonnet": identityMain,
		"homelab.libsonnet":  pipelinetest.Homelab(t, "homelab.libsonnet"),
		"identity.libsonnet": pipelinetest.Homelab(t, "identity.libsonnet")})
	l.sim.ResetCounters()
	began := time.Now()
	rep := p.Run()
	took := time.Since(began)
	if rep.Result != pipeline.ResultOK {
		t.Fatalf("run with a hung first replica: %s %v", rep.Summary, rep.Errors)
	}
	t.Logf("run took %v", took)
	if n := hang.accepted.Load(); n != 1 {
		t.Errorf("the hung replica was connected to %d times, want once", n)
	}
	// Without the fix the run took 10 s per attempt and call (1m42s in review).
	if took > 20*time.Second {
		t.Errorf("the run took %v", took)
	}
	if l.logins.Load() != 1 {
		t.Errorf("%d logins at the serving replica, want 1", l.logins.Load())
	}
	c := l.sim.Counters()
	if c.Writes == 0 || l.sim.Count("host_add") == 0 {
		t.Errorf("the serving replica wrote %d times (host_add %d): the run's changes should be there", c.Writes, l.sim.Count("host_add"))
	}
	mu.Lock()
	log := strings.Join(notes, "\n")
	mu.Unlock()
	if want := "freeipa: served by " + l.ts.URL + "; could not reach " + hang.url() + " (net/http: TLS handshake timeout)"; !strings.Contains(log, want) {
		t.Errorf("the run's log does not say %q:\n%s", want, log)
	}
	if status := p.Status("STATUS.md"); !strings.Contains(status, "could not reach "+hang.url()) {
		t.Errorf("STATUS.md does not name the unreachable replica:\n%s", status)
	}
	var st struct {
		Live struct {
			FreeIPA struct {
				Server      string   `json:"server"`
				Unreachable []string `json:"unreachable"`
			} `json:"freeipa"`
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(p.Status("status.json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Live.FreeIPA.Server != l.ts.URL || len(st.Live.FreeIPA.Unreachable) != 1 {
		t.Errorf("status.json live.freeipa = %+v, want server %s and the hung one unreachable", st.Live.FreeIPA, l.ts.URL)
	}

	// The next push: a new process.
	raw, err := json.Marshal(map[string]any{"urls": []string{hang.url(), l.ts.URL}, "user": "admin",
		"password": map[string]any{"file": l.pwFile}, "caFile": l.caFile, "secretDir": l.secretDir, "domains": []string{sim.HomelabDomain}})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := freeipa.New(raw, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	notes = nil
	b2.SetWarnf(note)
	b2.SetInfof(note)
	if p.Runner.Registry, err = steps.NewRegistry(b2); err != nil {
		t.Fatal(err)
	}
	l.sim.ResetCounters()
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("second run: %s %v", rep.Summary, rep.Errors)
	}
	if n := hang.accepted.Load(); n != 1 {
		t.Errorf("the next run connected to the hung replica again (%d connections in all)", n)
	}
	mu.Lock()
	log = strings.Join(notes, "\n")
	mu.Unlock()
	if !strings.Contains(log, "trying "+l.ts.URL+" first") || !strings.Contains(log, "freeipa: served by "+l.ts.URL) {
		t.Errorf("the next run's log does not say where it started and who served:\n%s", log)
	}
	if w := l.sim.Counters().Writes; w != 0 {
		t.Errorf("second run wrote %d times", w)
	}
}

// TestAllReplicasDown: with every replica unreachable (one hung, one
// refusing), parallel calls fail together after one connection to the hung
// one, and the error names each replica with its failure.
func TestAllReplicasDown(t *testing.T) {
	t.Parallel()
	hang := newHangingServer(t)
	refused := refusedURL(t)
	cl, err := freeipa.NewClient(freeipa.ClientOptions{URLs: []string{hang.url(), refused}, User: "admin", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cl.Call(ctx(t), "user_find", nil, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			t.Fatal("a call succeeded with every replica down")
		}
		msg := err.Error()
		if !strings.Contains(msg, hang.url()+" (net/http: TLS handshake timeout") || !strings.Contains(msg, refused+" (dial tcp") || !steps.IsTransient(err) {
			t.Errorf("all replicas down: %v (transient %v); want each named with its failure, transient", err, steps.IsTransient(err))
		}
	}
	if n := hang.accepted.Load(); n != 1 {
		t.Errorf("the hung replica was connected to %d times by 4 parallel calls, want once", n)
	}
}

// TestPreferredReplica: the replica kept in the observe directory's
// freeipa-server file starts a run while the file is less than an hour
// old; an older file, or one naming no configured server, is removed and
// the configured order holds.
func TestPreferredReplica(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		content   func(a, b *replica) string
		age       time.Duration
		wantFirst bool // served by the first configured replica
		wantFile  bool // the file is still there after the run
	}{
		{"fresh", func(_, b *replica) string { return b.ts.URL + "\n" }, time.Minute, false, true},
		{"stale", func(_, b *replica) string { return b.ts.URL + "\n" }, 2 * time.Hour, true, false},
		{"unknown server", func(_, _ *replica) string { return "https://ipa9.example.test\n" }, time.Minute, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newHomelabLab(t)
			a, b := newReplica(t, l), newReplica(t, l)
			dir := t.TempDir()
			file := filepath.Join(dir, "freeipa-server")
			if err := os.WriteFile(file, []byte(tc.content(a, b)), 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-tc.age)
			if err := os.Chtimes(file, old, old); err != nil {
				t.Fatal(err)
			}
			be := freeipa.NewWithClient(freeipa.Config{Domains: []string{sim.HomelabDomain}, SecretDir: t.TempDir()}, twoServerClient(t, a, b, nil))
			be.SetWarnf(t.Logf)
			p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, be)
			p.Runner.ObserveCache = dir
			p.In.Push("identity", map[string]string{"main.jsonnet": identityMain,
				"homelab.libsonnet":  pipelinetest.Homelab(t, "homelab.libsonnet"),
				"identity.libsonnet": pipelinetest.Homelab(t, "identity.libsonnet")})
			if rep := p.Run(); rep.Result != pipeline.ResultOK {
				t.Fatalf("run: %s %v", rep.Summary, rep.Errors)
			}
			served, idle := b, a
			if tc.wantFirst {
				served, idle = a, b
			}
			if served.count("host_find") != 1 || served.count("host_add") == 0 || idle.count("host_find")+idle.count("host_add") != 0 {
				t.Errorf("host_find %d and host_add %d at the replica that should serve, %d and %d at the other",
					served.count("host_find"), served.count("host_add"), idle.count("host_find"), idle.count("host_add"))
			}
			if _, err := os.Stat(file); (err == nil) != tc.wantFile {
				t.Errorf("after the run the file exists: %v, want %v", err == nil, tc.wantFile)
			}
		})
	}
}
