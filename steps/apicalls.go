package steps

import (
	"net/http"
	"sync/atomic"
)

// APICallObserver is told about each HTTP request a backend sent to its
// API: the backend's name ("proxmox"), the request's method, the response's
// status code (0 when no response came) and the transport error (nil when a
// response came, whatever its status).
type APICallObserver func(backend, method string, status int, err error)

var apiObserver atomic.Pointer[APICallObserver]

// ObserveAPICalls makes o the process's API-call observer (nil: none). The
// runner sets it when it wires the backends, to count their calls for its
// metrics; it is process-wide because every backend's client is made once
// per process.
func ObserveAPICalls(o APICallObserver) {
	if o == nil {
		apiObserver.Store(nil)
		return
	}
	apiObserver.Store(&o)
}

func observeAPICall(backend, method string, res *http.Response, err error) {
	o := apiObserver.Load()
	if o == nil {
		return
	}
	status := 0
	if err == nil && res != nil {
		status = res.StatusCode
	}
	(*o)(backend, method, status, err)
}

// APITransport wraps a backend's HTTP transport: each round trip is told
// to the observer ObserveAPICalls set (at the time of the call). Every
// backend builds its API client's transport through it, so the runner
// counts calls at one place.
func APITransport(backend string, next http.RoundTripper) http.RoundTripper {
	return apiTransport{backend: backend, next: next}
}

type apiTransport struct {
	backend string
	next    http.RoundTripper
}

func (t apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	observeAPICall(t.backend, req.Method, res, err)
	return res, err
}

// HTTPDoer is an HTTP client as the AWS SDK takes it (its aws.HTTPClient).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// APIDoer is APITransport for clients that take a Do method instead of a
// transport (the AWS SDK's HTTPClient option).
func APIDoer(backend string, next HTTPDoer) HTTPDoer {
	return apiDoer{backend: backend, next: next}
}

type apiDoer struct {
	backend string
	next    HTTPDoer
}

func (d apiDoer) Do(req *http.Request) (*http.Response, error) {
	res, err := d.next.Do(req)
	observeAPICall(d.backend, req.Method, res, err)
	return res, err
}
