package dnsmasq_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// gate is a TCP port of 127.0.0.1 that forwards to the sshd while open
// and has nothing listening while closed: the site's host "down".
type gate struct {
	t    *testing.T
	port int
	to   string
	mu   sync.Mutex
	ln   net.Listener
}

func (g *gate) open() {
	g.t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", g.port))
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", g.to)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c); _ = s.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln = nil
	}
}

// flat1 is reached over SSH, and its host is down (nothing listens on the
// SSH port): a push adding a guest on hetzner and one on flat1 applies
// hetzner's records; flat1's are blocked, skipped with the reason naming
// the site and the error, and the run fails so the operator sees it. The
// next run after flat1 is back applies them.
func TestUnreachableSiteBlocksOnlyItsChanges(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	g := &gate{t: t, port: daemontest.FreePort(t), to: fmt.Sprintf("127.0.0.1:%d", s.port)}
	t.Cleanup(g.close)
	// The host key pinned for the gate's port, the address the runner dials.
	kh := s.knownHostsFor(t, "known_hosts.gate", g.port, s.hostPub)
	b := labWith(t, s.sshConfig(t, l, kh), func(sites map[string]map[string]any) {
		sites["flat1"]["ssh"].(map[string]any)["port"] = g.port
	})
	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 8, Backoff: 1, MaxBackoff: 1}, b)
	p.In.Push("two guests", map[string]string{"main.jsonnet": "local r = import 'runner.libsonnet';\n" + l.sitesJsonnet() +
		"r.output([hetzner.guest('db', '10.18.1.5'), flat1.guest('web', '10.18.2.5')])\n"})

	rep := p.Run()
	if rep.Result != pipeline.ResultFailed || rep.Stage != pipeline.StageApply {
		t.Fatalf("run with flat1 down: %s %s %v", rep.Result, rep.Summary, rep.Errors)
	}
	if !strings.Contains(rep.Summary, "2 changed, 0 failed, 2 skipped") {
		t.Errorf("summary = %q", rep.Summary)
	}
	skipped := 0
	for _, a := range rep.Applied {
		onFlat1 := strings.Contains(a.ID, "flat1")
		switch {
		case onFlat1 && a.Status == steps.StatusSkipped:
			skipped++
			if !strings.Contains(a.Blocked, "site flat1 unreachable: ") || !strings.Contains(a.Blocked, fmt.Sprintf("127.0.0.1:%d", g.port)) ||
				!strings.Contains(a.Hint, "push again") {
				t.Errorf("%s: blocked %q, hint %q", a.ID, a.Blocked, a.Hint)
			}
		case !onFlat1 && a.Status == steps.StatusOK:
		default:
			t.Errorf("%s: %s (blocked %q, error %q)", a.ID, a.Status, a.Blocked, a.Error)
		}
	}
	if skipped != 2 {
		t.Errorf("%d flat1 changes skipped, want 2: %+v", skipped, rep.Applied)
	}
	l.waitAnswerAt([]*labSite{l.site("hetzner")}, "db.hetzner.int.mydomain", dns.TypeA, "10.18.1.5")
	if got := read(t, l.site("flat1").hosts); strings.Contains(got, "web") {
		t.Errorf("flat1's hosts file has web while flat1 was down:\n%s", got)
	}

	g.open()
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 2 || rep.Counts["create"] != 2 {
		t.Fatalf("run with flat1 back: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	l.waitAnswerAt([]*labSite{l.site("flat1")}, "web.flat1.int.mydomain", dns.TypeA, "10.18.2.5")
}
