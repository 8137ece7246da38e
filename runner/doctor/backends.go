package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Prober is a backend that can make one read-only call to its service with
// its configured credentials: Proxmox VE GET /version, Route 53
// GetHostedZone, FreeIPA ping, the ACME directory. call describes the call
// and what it returned ("GET /api2/json/version: 8.2.4"); date is the
// server's HTTP Date header (zero if it sent none).
type Prober interface {
	Probe(ctx context.Context) (call string, date time.Time, err error)
}

// Fixer is a probe error that says what to do itself (dnsmasq: "create
// /etc/dnsmasq.runner on flat1 …"), where the generic fix would not fit.
type Fixer interface{ Fix() string }

// Clockless is a Prober whose service has no clock to compare (dnsmasq's
// files): it gets no clock result.
type Clockless interface{ Clockless() }

// MaxSkew is the clock difference to a backend that fails the clock check.
// AWS refuses SigV4-signed requests whose time is more than 5 minutes off
// (RequestTimeTooSkewed, AWS General Reference: Signature Version 4), and
// certificates and FreeIPA's Kerberos tickets carry validity times; a minute
// leaves room for the Date header's one-second resolution (RFC 9110 §5.6.7).
const MaxSkew = time.Minute

// BackendChecks probes each configured backend (name → its Prober, or nil
// when the backend has no probe) and returns, per backend, a reachability
// result, a TLS result when the failure was certificate verification, and a
// clock result from the server's Date header. now is the local clock.
func BackendChecks(ctx context.Context, probers map[string]Prober, names []string, now func() time.Time) []Result {
	var rs []Result
	for _, name := range names {
		p := probers[name]
		if p == nil {
			rs = append(rs, Result{Check: "backend " + name, Status: Skip, Detail: "this backend has no read-only probe"})
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		call, date, err := p.Probe(pctx)
		local := now()
		cancel()
		if err != nil {
			r := Result{Check: "backend " + name, Status: Fail, Detail: err.Error()}
			var fx Fixer
			if errors.As(err, &fx) {
				r.Fix = fx.Fix()
			} else if tlsErr(err) {
				r.Check = "TLS " + name
				r.Fix = fmt.Sprintf("trust the server's certificate: set caFile (its CA, PEM) in backends.%s, or install the CA in the system store", name)
			} else {
				r.Fix = fmt.Sprintf("check the URL and credentials in backends.%s, and that this host can reach it", name)
			}
			rs = append(rs, r)
			continue
		}
		rs = append(rs, Result{Check: "backend " + name, Status: OK, Detail: call})
		if _, ok := p.(Clockless); !ok {
			rs = append(rs, ClockCheck(name, date, local))
		}
	}
	return rs
}

// ClockCheck compares a server's Date header with the local clock.
func ClockCheck(name string, server, local time.Time) Result {
	r := Result{Check: "clock " + name}
	if server.IsZero() {
		r.Status, r.Detail = Skip, "the server sent no Date header"
		return r
	}
	skew := local.Sub(server).Round(time.Second)
	if skew.Abs() > MaxSkew {
		r.Status, r.Detail = Fail, fmt.Sprintf("this host's clock is %s off the server's (Date: %s)", skew, server.UTC().Format(time.RFC1123))
		r.Fix = "synchronise the clocks (systemd-timesyncd, chrony)"
		return r
	}
	r.Status, r.Detail = OK, fmt.Sprintf("within %s of the server's Date header", MaxSkew)
	return r
}

// tlsErr reports whether err is a failed certificate verification.
func tlsErr(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}
