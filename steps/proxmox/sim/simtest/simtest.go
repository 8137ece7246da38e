// Package simtest serves the Proxmox VE simulator in tests: the seeded
// homelab (sim.NewHomelab) behind httptest's TLS server, closed with the
// test. The backend's tests, the simulator's own and the client library
// tests share it.
package simtest

import (
	"net/http/httptest"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// ServeHomelab starts sim.NewHomelab(opts) under httptest.NewTLSServer; the
// cleanup closes the listener, then the simulator (an error closing it
// fails the test).
func ServeHomelab(tb testing.TB, opts sim.Options) (*sim.Server, *httptest.Server) {
	tb.Helper()
	s, err := sim.NewHomelab(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	tb.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s, ts
}
