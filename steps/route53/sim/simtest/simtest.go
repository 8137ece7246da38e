// Package simtest starts the Route 53 simulator in tests: closed with the
// test, its API over HTTP and its zones over DNS on free loopback ports,
// hosted zones made up front. The backend's tests, the simulator's own,
// the ACME backend's and the client library tests share it; any failure
// fails the test.
package simtest

import (
	"testing"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// Start makes a simulator with opts and closes it when the test ends (an
// error closing it fails the test).
func Start(tb testing.TB, opts sim.Options) *sim.Server {
	tb.Helper()
	s := sim.New(opts)
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Listen runs one of the simulator's listeners, s.ListenHTTP (its API) or
// s.ListenDNS (its hosted zones over UDP and TCP), on a free loopback port
// until the simulator is closed, and returns what the listener returns:
// the API's base URL ("http://127.0.0.1:port", the SDK's BaseEndpoint) or
// the DNS address ("127.0.0.1:port").
func Listen(tb testing.TB, listen func(addr string) (string, error)) string {
	tb.Helper()
	at, err := listen("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return at
}

// Zone creates the hosted zone name (sim.Server.CreateZone) and returns its
// bare ID.
func Zone(tb testing.TB, s *sim.Server, name string) string {
	tb.Helper()
	id, err := s.CreateZone(name)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
