package sim

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/simapi"
)

// FaultKind is a kind of injected failure.
type FaultKind int

const (
	// FaultLockTimeout answers HTTP 500 with PVE's lock-timeout reason phrase.
	FaultLockTimeout FaultKind = iota + 1
	// Fault595 answers 595, pveproxy's "connection to node failed" pseudo-status.
	Fault595
	// Fault596 answers 596, pveproxy's "TLS/request to node failed" pseudo-status.
	Fault596
	// FaultReset drops the connection without an answer (hijack and close).
	FaultReset
)

// StatusReset is the Fault status that drops the connection instead of
// answering.
const StatusReset = 0

// Fault is how FailNext answers a request: HTTP Status with Message as the
// reason phrase and error message (docs/api-facts.md §1; empty = the status text),
// or, with Status StatusReset, no answer at all.
type Fault struct {
	Status  int
	Message string
}

// Options configures a Server. The zero value is usable: no tokens (every
// request is refused), no latency, no faults, tasks finish at once.
type Options struct {
	// Tokens maps API token IDs ("user@realm!name") to their secrets.
	Tokens map[string]string
	// Users maps user IDs ("root@pam") to passwords for ticket login
	// (POST /access/ticket, then the PVEAuthCookie cookie).
	Users map[string]string
	// Latency is added to every API call.
	Latency time.Duration
	// TaskDuration is how long every task runs before its effect lands.
	TaskDuration time.Duration
	// LockTimeout is how long an operation waits for a busy guest's lock
	// (PVE: 10 s, lock_file_full).
	LockTimeout time.Duration
	// AuthFailDelay delays 401 answers (PVE: 3 s, docs/api-facts.md §1); zero = none.
	AuthFailDelay time.Duration
	// FaultRate is the probability (0..1) that a call fails with one of FaultKinds.
	FaultRate float64
	// FaultKinds are the failures drawn from when FaultRate hits; empty = all.
	FaultKinds []FaultKind
	// Seed seeds the fault and MAC generators, for reproducible runs.
	Seed uint64
	// Now overrides the clock (uptime, task start times); nil = time.Now.
	Now func() time.Time
}

// Request is one logged API call.
type Request struct {
	Method string
	// Route is the schema template, e.g. "/nodes/{node}/lxc/{vmid}/config"
	// (empty when the path is unknown).
	Route string
	Path  string
	// Params are the request parameters; secrets (password, cipassword) are
	// replaced by "***".
	Params map[string]string
	Status int
}

// Counters are request counts since the last ResetCounters: Reads are
// GETs, Writes POST, PUT and DELETE, ByOp is keyed by "METHOD /route/template"
// (by the concrete path when no route matches), Faults counts injected faults.
type Counters = simapi.Counts

// Server is the simulated Proxmox VE API. It is safe for concurrent use.
type Server struct {
	opts   Options
	schema *apiSchema

	counters simapi.Counters
	log      simapi.Log[Request]
	faults   simapi.FaultQueue[Fault]

	mu    sync.Mutex // guards the state below
	st    *state
	tasks map[string]*task
	// taskOrder lists UPIDs oldest first, for pruning.
	taskOrder []string
	taskSeq   int64
	rng       *rand.Rand
	// tickets are the tickets POST /access/ticket issued.
	tickets map[string]ticket

	locksMu sync.Mutex
	locks   map[int]*configLock

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an empty simulator (no nodes); use the setup methods or
// NewHomelab to populate it. Close it to stop running tasks.
func New(opts Options) (*Server, error) {
	sc, err := loadSchema()
	if err != nil {
		return nil, err
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Second
	}
	// G404: fault injection wants a seeded, reproducible generator.
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // see above
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:    opts,
		schema:  sc,
		st:      newState(),
		tasks:   map[string]*task{},
		locks:   map[int]*configLock{},
		tickets: map[string]ticket{},
		rng:     rng,
		ctx:     ctx,
		cancel:  cancel,
	}, nil
}

// HTTPServer returns an *http.Server for addr serving the simulator over
// HTTP/1.1 only, like pveproxy. HTTP/2 must stay off: its responses cannot
// carry PVE's message in the reason phrase, which clients read (docs/api-facts.md §1).
// Serve it with ListenAndServeTLS.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
}

// Close stops all running tasks and waits for them.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// FailNext arms fault f for the next n requests that match: match is
// "METHOD /route" or "/route", where the route is the schema template
// ("/nodes/{node}/lxc/{vmid}/config") or the concrete path, either
// possibly a path.Match glob ("/nodes/*/lxc/*/config"); "" matches any
// request.
func (s *Server) FailNext(match string, f Fault, n int) { s.faults.Arm(match, f, n) }

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request { return s.log.Entries() }

// Counters returns a copy of the request counters.
func (s *Server) Counters() Counters { return s.counters.Snapshot() }

// Count returns the number of requests of one "METHOD /route/template".
func (s *Server) Count(op string) int { return s.counters.Count(op) }

// ResetCounters clears the counters and the request log; armed faults stay.
func (s *Server) ResetCounters() {
	s.counters.Reset()
	s.log.Reset()
}

// apiError is an error answered with an HTTP status; message becomes the
// reason phrase (docs/api-facts.md §1: the reason phrase carries PVE's message).
type apiError struct {
	status  int
	message string
	errors  map[string]string // per-parameter errors (400)
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

// fail is an uncaught die in PVE: HTTP 500 with the message.
func fail(format string, a ...any) *apiError {
	return &apiError{status: http.StatusInternalServerError, message: fmt.Sprintf(format, a...)}
}

// paramErr is raise_param_exc (pve-common Exception.pm): 400 "Parameter
// verification failed." with an errors hash.
func paramErr(errs map[string]string) *apiError {
	return &apiError{status: http.StatusBadRequest, message: "Parameter verification failed.", errors: errs}
}

// call is one API request after routing and validation.
type call struct {
	// user is who the request authenticated as: the user ID of a ticket,
	// or for an API token the token ID "user@realm!name", which PVE writes
	// as the user of the tasks it starts.
	user   string
	method string
	route  string
	vars   map[string]string
	params map[string]string
	info   *methodInfo
}

func (c *call) has(k string) bool { _, ok := c.params[k]; return ok }

func (c *call) bool(k string) bool { return c.params[k] == "1" }

func (c *call) int(k string) int {
	n, _ := strconv.Atoi(c.params[k])
	return n
}

type handlerFunc func(s *Server, c *call) (any, *apiError)

const apiPrefix = "/api2/json"

// ServeHTTP implements http.Handler for paths under /api2/json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		// pve-http-server: an unknown format/base is "no such uri" (501).
		writeStatus(w, http.StatusNotImplemented, "no such uri", nil)
		return
	}
	if rel == "" {
		rel = "/"
	}
	if !simapi.Delay(r.Context(), s.opts.Latency) {
		return
	}

	rt, vars := s.schema.match(rel)
	tmpl := ""
	if rt != nil {
		tmpl = rt.template
	}
	params, perr := readParams(r)

	rec := Request{Method: r.Method, Route: tmpl, Path: rel, Params: redact(params)}
	status, respond := s.serve(r, rel, rt, vars, params, perr)
	rec.Status = status
	// Log before answering, so a client that got its answer always finds
	// its request in the log and the counters.
	s.log.Add(rec)
	s.counters.Request()
	key := r.Method + " " + tmpl
	if tmpl == "" {
		key = r.Method + " " + rel
	}
	s.counters.Op(key, r.Method != http.MethodGet)
	respond(w)
}

// responder writes a prepared answer.
type responder func(w http.ResponseWriter)

func errorResponse(e *apiError) (int, responder) {
	if e.status >= 590 {
		// pveproxy passes AnyEvent::HTTP's pseudo-statuses (595 connect
		// failed, 596 TLS/request failed...) through with the reason phrase
		// and an empty body (AnyEvent.pm proxy_request).
		return e.status, func(w http.ResponseWriter) { writeStatus(w, e.status, e.message, nil) }
	}
	return e.status, func(w http.ResponseWriter) { writeError(w, e) }
}

// serve runs one request and returns its status and the answer to write.
func (s *Server) serve(r *http.Request, rel string, rt *route, vars, params map[string]string, perr error) (int, responder) {
	// Authentication comes first in pve-http-server (AnyEvent.pm), before the
	// handler lookup: texts from pve-manager PVE/HTTPServer.pm auth_handler.
	user, msg := s.authenticate(r, rel)
	if msg != "" {
		if s.opts.AuthFailDelay > 0 {
			t := time.NewTimer(s.opts.AuthFailDelay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		return http.StatusUnauthorized, func(w http.ResponseWriter) { writeStatus(w, http.StatusUnauthorized, msg, nil) }
	}
	tmpl := ""
	if rt != nil {
		tmpl = rt.template
	}
	if f, ok := s.takeFault(r.Method, tmpl, rel); ok {
		s.counters.Fault()
		return injectFault(f)
	}
	// pve-manager HTTPServer.pm rest_handler: no handler → 501.
	notImpl := func() (int, responder) {
		msg := fmt.Sprintf("Method '%s %s' not implemented", r.Method, rel)
		return http.StatusNotImplemented, func(w http.ResponseWriter) { writeStatus(w, http.StatusNotImplemented, msg, nil) }
	}
	if rt == nil {
		return notImpl()
	}
	info := rt.methods[r.Method]
	if info == nil {
		return notImpl()
	}
	if perr != nil {
		return errorResponse(&apiError{status: http.StatusBadRequest, message: perr.Error()})
	}
	for k, v := range vars {
		if pv, ok := params[k]; ok && pv != v {
			return errorResponse(paramErr(map[string]string{k: "duplicate parameter (already defined in URI) with conflicting values!"}))
		}
		params[k] = v
	}
	if errs := info.validate(params); len(errs) > 0 {
		return errorResponse(paramErr(errs))
	}
	// Calls with proxyto=node are forwarded by pveproxy to the node
	// (docs/api-facts.md §1): an unknown node fails the lookup, an offline one is
	// unreachable (595).
	if info.Proxyto == "node" {
		if e := s.checkNodeReachable(vars["node"]); e != nil {
			return errorResponse(e)
		}
	}
	h := handlers[r.Method+" "+rt.template]
	if h == nil {
		return notImpl()
	}
	data, e := h(s, &call{user: user, method: r.Method, route: rt.template, vars: vars, params: params, info: info})
	if e != nil {
		return errorResponse(e)
	}
	b, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return errorResponse(fail("encode response: %v", err))
	}
	return http.StatusOK, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

func (s *Server) checkNodeReachable(node string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[node]
	if n == nil {
		return fail("hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known", node, node)
	}
	if !n.Online {
		return &apiError{status: 595, message: "No route to host"}
	}
	return nil
}

// authenticate is pve-manager PVE/HTTPServer.pm auth_handler: it returns
// who the request authenticated as, or the 401 reason phrase. An API token
// (Authorization: PVEAPIToken=ID=SECRET) authenticates as the token ID and
// needs no CSRF token; a ticket (cookie PVEAuthCookie) as its user, and a
// request other than GET must carry the ticket's CSRFPreventionToken header.
// POST and GET /access/ticket need no authentication.
func (s *Server) authenticate(r *http.Request, rel string) (user, msg string) {
	if rel == "/access/ticket" && (r.Method == http.MethodPost || r.Method == http.MethodGet) {
		return "", ""
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "PVEAPIToken="); ok {
		id, secret, ok := strings.Cut(tok, "=")
		if !ok {
			return "", "Authentication failed!"
		}
		want, known := s.opts.Tokens[id]
		if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			return "", "Authentication failed!"
		}
		return id, ""
	}
	c, err := r.Cookie("PVEAuthCookie")
	if err != nil || c.Value == "" {
		return "", "No ticket"
	}
	ticket, err := url.PathUnescape(c.Value) // pve-http-server uri_unescape
	if err != nil {
		return "", "No ticket"
	}
	tk, ok := s.validTicket(ticket)
	if !ok {
		return "", "authentication failure"
	}
	if r.Method != http.MethodGet && subtle.ConstantTimeCompare([]byte(r.Header.Get("CSRFPreventionToken")), []byte(tk.csrf)) != 1 {
		return "", "Permission denied - invalid csrf token"
	}
	return tk.user, ""
}

// takeFault returns the armed fault for this request, else a random one
// when Options.FaultRate hits.
func (s *Server) takeFault(method, tmpl, rel string) (Fault, bool) {
	names := []string{method + " " + rel, rel}
	if tmpl != "" {
		names = append(names, method+" "+tmpl, tmpl)
	}
	if f, ok := s.faults.Take(names...); ok {
		return f, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.FaultRate > 0 && s.rng.Float64() < s.opts.FaultRate {
		kinds := s.opts.FaultKinds
		if len(kinds) == 0 {
			kinds = []FaultKind{FaultLockTimeout, Fault595, Fault596, FaultReset}
		}
		switch kinds[s.rng.IntN(len(kinds))] {
		case FaultLockTimeout:
			return Fault{Status: http.StatusInternalServerError, Message: lockTimeoutMessage(typeQemu, 100+s.rng.IntN(900))}, true
		case Fault595:
			return Fault{Status: 595, Message: "Connection refused"}, true
		case Fault596:
			return Fault{Status: 596, Message: "Connection timed out"}, true
		case FaultReset:
			return Fault{Status: StatusReset}, true
		}
	}
	return Fault{}, false
}

func injectFault(f Fault) (int, responder) {
	if f.Status == StatusReset {
		return StatusReset, func(w http.ResponseWriter) {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			// HTTP/2 or a recorder: abort the handler, which resets the stream.
			panic(http.ErrAbortHandler)
		}
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	return errorResponse(&apiError{status: f.Status, message: msg})
}

// readParams merges the query string and a form or JSON body into strings
// the way pve-http-server does (AnyEvent.pm extract_params). JSON booleans
// become 1/0, numbers their decimal text.
func readParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for k, vs := range r.URL.Query() {
		out[k] = strings.Join(vs, "\x00")
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodDelete {
		return out, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return out, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("unable to parse JSON body: %w", err)
		}
		for k, v := range m {
			switch x := v.(type) {
			case nil:
				continue
			case bool:
				if x {
					out[k] = "1"
				} else {
					out[k] = "0"
				}
			case json.Number:
				out[k] = x.String()
			case string:
				out[k] = x
			case []any:
				parts := make([]string, 0, len(x))
				for _, e := range x {
					parts = append(parts, fmt.Sprint(e))
				}
				out[k] = strings.Join(parts, "\x00")
			default:
				out[k] = fmt.Sprint(x)
			}
		}
		return out, nil
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("unable to parse form body: %w", err)
	}
	for k, vs := range vals {
		out[k] = strings.Join(vs, "\x00")
	}
	return out, nil
}

var secretParams = map[string]bool{"password": true, "cipassword": true}

func redact(p map[string]string) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		if secretParams[k] {
			v = "***"
		}
		out[k] = v
	}
	return out
}

// writeStatus writes a status line with a custom reason phrase. net/http
// always uses the standard text, so the connection is hijacked to write the
// raw response when the phrase differs (docs/api-facts.md §1: clients read PVE's
// message from the status line).
func writeStatus(w http.ResponseWriter, status int, reason string, body []byte) {
	reason = firstLine(reason)
	if reason != "" && reason != http.StatusText(status) {
		if hj, ok := w.(http.Hijacker); ok {
			conn, buf, err := hj.Hijack()
			if err == nil {
				defer func() { _ = conn.Close() }()
				_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, reason)
				_, _ = fmt.Fprintf(buf, "Content-Type: application/json;charset=UTF-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
				_, _ = buf.Write(body)
				_ = buf.Flush()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// writeError writes PVE's JSON error envelope (Formatter/Standard.pm
// prepare_response_data): data null, errors for parameter errors, message.
func writeError(w http.ResponseWriter, e *apiError) {
	env := map[string]any{"data": nil, "message": e.message + "\n"}
	if len(e.errors) > 0 {
		env["errors"] = e.errors
	}
	b, _ := json.Marshal(env)
	writeStatus(w, e.status, e.message, b)
}
