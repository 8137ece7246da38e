// Package sim is a FreeIPA JSON-RPC server simulator: the identity server of
// `runner lab` and the server the steps/freeipa backend is tested against.
// It speaks FreeIPA 4.x's session login and /ipa/session/json envelope,
// checks every call against FreeIPA's own API.txt, keeps hosts, host groups,
// services, users, groups, sudo rules and sudo commands in memory, and can
// add latency, inject faults and count requests.
package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/simapi"
)

// Versions the simulated server reports (VERSION.m4 of freeipa/freeipa
// @b16f3b80): the package version goes into every envelope's "version", the
// API version is what "version" options are compared with.
const (
	ServerVersion = "4.14.0"
	APIVersion    = "2.257"
)

// Fault is a kind of injected failure.
type Fault string

// Faults the simulator can inject.
const (
	// Fault500 answers 500 Internal Server Error with FreeIPA's HTML page.
	Fault500 Fault = "500"
	// FaultReset closes the TCP connection with a reset, no answer.
	FaultReset Fault = "reset"
	// FaultExpire ends the caller's session and answers 401, as an expired
	// ipa_session cookie does.
	FaultExpire Fault = "expire"
)

// Faults configures random fault injection on /ipa/session/json.
type Faults struct {
	Rate  float64 // probability per call, 0..1
	Kinds []Fault // chosen uniformly; empty means all kinds
	Seed  uint64  // seed of the deterministic random source
}

// Options configure a Server.
type Options struct {
	Realm  string // Kerberos realm, e.g. "INT.MYDOMAIN"
	Domain string // DNS domain and base DN source, e.g. "int.mydomain"
	// Host is the server's name, api.env.host: clients must send
	// Referer: https://<Host>/ipa (docs/api-facts.md §3; RefererFor returns it).
	// Default "ipa.<Domain>". Under httptest use the name clients dial,
	// e.g. "127.0.0.1".
	Host string
	// Users maps user names to passwords for login_password; each also
	// becomes a user entry. Passwords are kept in memory only.
	Users map[string]string
	// DNSZones are the DNS zones IPA's integrated DNS manages
	// (dnszone_show succeeds). Default: Domain. host_add with ip_address
	// needs the host's parent domain to be one of them.
	DNSZones []string
	// NoIntegratedDNS models a server without IPA DNS (dns_container_exists
	// is false): ip_address is then not checked against any zone.
	NoIntegratedDNS bool
	// Resolve reports whether a name resolves in DNS outside the
	// simulator (host_add/service_add without force check it); names with
	// records the simulator added itself always resolve. Nil: only those.
	Resolve func(fqdn string) bool
	// SessionLifetime is how long an ipa_session cookie is valid. Default
	// 20 minutes (FreeIPA's session_duration default).
	SessionLifetime time.Duration
	// Latency is added to every HTTP request.
	Latency time.Duration
	// Faults injects random failures.
	Faults Faults
	// SearchLimit is ipaconfig's ipasearchrecordslimit: the size limit of
	// *_find calls without "sizelimit". Default 100, as FreeIPA installs it.
	SearchLimit int
	// Now is the clock for session expiry; default time.Now.
	Now func() time.Time
	// RejectNewerMinor makes a client API version with a newer minor than
	// APIVersion a VersionError, as FreeIPA did before 4.4 (the check was
	// removed in commit 8b7f2500b, 2016). Off: today's behaviour, where
	// only a different major version is rejected.
	RejectNewerMinor bool
}

// Request is one logged JSON-RPC call. Passwords are never recorded: args
// of Password type are masked and only option names are kept.
type Request struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Options []string `json:"options"`
}

// Counters are the request counters since New or the last ResetCounters.
// Counts.Total counts HTTP requests to /ipa/session/json; ByOp counts
// dispatched commands by name without "/1"; Writes are the dispatched
// commands that change state (add, mod, del, member, ...), Reads the
// others (*_show, *_find, ping); Faults counts injected faults.
type Counters struct {
	simapi.Counts
	// Logins counts successful logins.
	Logins int
}

// Server is the simulator, an http.Handler. Close it when done.
type Server struct {
	opts Options
	api  map[string]*command

	counters simapi.Counters
	log      simapi.Log[Request]
	faults   simapi.FaultQueue[Fault]

	mu       sync.Mutex // guards the fields below
	st       *store
	sessions map[string]session
	passwds  map[string]string
	logins   int
	rng      *mrand.Rand
	latency  time.Duration
	// ctx ends on Close.
	ctx    context.Context
	cancel context.CancelFunc
}

type session struct {
	user    string
	expires time.Time
}

// New builds a Server from opts, parsing the embedded API.txt.
func New(opts Options) (*Server, error) {
	if opts.Realm == "" || opts.Domain == "" {
		return nil, errors.New("freeipa sim: Realm and Domain are required")
	}
	opts.Domain = strings.ToLower(strings.TrimSuffix(opts.Domain, "."))
	if opts.Host == "" {
		opts.Host = "ipa." + opts.Domain
	}
	if len(opts.DNSZones) == 0 {
		opts.DNSZones = []string{opts.Domain}
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = 20 * time.Minute
	}
	if opts.SearchLimit == 0 {
		opts.SearchLimit = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cmds, err := parseAPI(apiTXT)
	if err != nil {
		return nil, fmt.Errorf("freeipa sim: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ctx:      ctx,
		cancel:   cancel,
		opts:     opts,
		api:      cmds,
		st:       newStore(),
		sessions: make(map[string]session),
		passwds:  make(map[string]string),
		rng:      newFaultRand(opts.Faults.Seed),
		latency:  opts.Latency,
	}
	names := slices.Sorted(maps.Keys(opts.Users))
	for _, u := range names {
		s.passwds[strings.ToLower(u)] = opts.Users[u]
		if err := s.AddUser(u, u, u); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close stops pending latency waits; afterwards every request gets 503.
// It always returns nil.
func (s *Server) Close() error {
	s.cancel()
	return nil
}

// RefererFor returns the Referer header a client must send: https://<Host>/ipa.
func (s *Server) RefererFor() string { return "https://" + s.opts.Host + "/ipa" }

// SetLatency changes the per-request latency.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetFaults replaces the random fault configuration.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Faults = f
	s.rng = newFaultRand(f.Seed)
}

// newFaultRand is the fault injector's source: seeded, so a test run is
// reproducible; it chooses faults, it protects nothing.
func newFaultRand(seed uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(seed, 0x1dea)) //nolint:gosec // reproducible fault choice, not security
}

// FailNext makes the next n JSON-RPC calls of command match (a name
// without "/1", a path.Match glob of names, or "" for any command) fail
// with f, whatever the random fault rate says.
func (s *Server) FailNext(match string, f Fault, n int) { s.faults.Arm(match, f, n) }

// ExpireSessions ends every session, as if all cookies timed out.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counters{Counts: s.counters.Snapshot(), Logins: s.logins}
}

// Count returns the number of dispatched calls of one command.
func (s *Server) Count(command string) int { return s.counters.Count(command) }

// Requests returns the request log since the last ResetCounters.
func (s *Server) Requests() []Request { return s.log.Entries() }

// ResetCounters zeroes the counters and empties the request log; armed
// faults stay.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters.Reset()
	s.logins = 0
	s.log.Reset()
}

// ServeHTTP implements http.Handler for /ipa/session/login_password and
// /ipa/session/json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		writeHTML(w, http.StatusServiceUnavailable, "Service Unavailable", "server closed")
		return
	}
	if !s.wait(r.Context()) {
		return
	}
	switch r.URL.Path {
	case "/ipa/session/login_password":
		s.serveLogin(w, r)
	case "/ipa/session/json":
		s.serveJSON(w, r)
	default:
		writeHTML(w, http.StatusNotFound, "Not Found", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	}
}

// wait applies the latency; false if the request or server went away.
func (s *Server) wait(ctx context.Context) bool {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	return simapi.Delay(ctx, d)
}

// checkReferer is HTTP_Status.check_referer (ipaserver/rpcserver.py): https,
// hostname == api.env.host, path /ipa or /ipa/...
func (s *Server) checkReferer(r *http.Request) bool {
	ref := r.Header.Get("Referer")
	if ref == "" || strings.Count(ref, "://") > 1 {
		return false
	}
	u, err := url.Parse(ref)
	if err != nil {
		return false
	}
	host := s.opts.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return u.Scheme == "https" && strings.EqualFold(u.Hostname(), host) &&
		(u.Path == "/ipa" || strings.HasPrefix(u.Path, "/ipa/"))
}

// serveLogin is rpcserver.login_password.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !s.checkReferer(r) {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "denied")
		return
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded") {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if r.Method != http.MethodPost {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "HTTP request method must be POST")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "cannot parse query data")
		return
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "cannot parse query data")
		return
	}
	users, pws := q["user"], q["password"]
	if msg := loginFormProblem(users, pws); msg != "" {
		writeHTML(w, http.StatusBadRequest, "Bad Request", msg)
		return
	}
	user, realm, hasRealm := strings.Cut(users[0], "@")
	principal := user + "@" + s.opts.Realm
	s.mu.Lock()
	want, known := s.passwds[strings.ToLower(user)]
	ue := s.st.get("user", user)
	s.mu.Unlock()
	if hasRealm && !strings.EqualFold(realm, s.opts.Realm) {
		known = false
		principal = users[0]
	}
	if !known || ue == nil {
		if ue != nil && first(ue.Attrs["userpassword"]) != "" {
			// An administrator-set password is expired until the user
			// changes it: kinit fails, login_password answers password-expired.
			s.unauthorized(w, fmt.Sprintf("Principal %s cannot be authenticated: kinit: Cannot read password while getting initial credentials", principal), "password-expired")
			return
		}
		s.unauthorized(w, fmt.Sprintf("Principal %s cannot be authenticated: kinit: Client '%s' not found in Kerberos database while getting initial credentials", principal, principal), "invalid-password")
		return
	}
	if !constEq(want, pws[0]) {
		s.unauthorized(w, fmt.Sprintf("Principal %s cannot be authenticated: kinit: Password incorrect while getting initial credentials", principal), "invalid-password")
		return
	}
	token := randomHex(24)
	s.mu.Lock()
	s.sessions[token] = session{user: ue.pkey(), expires: s.opts.Now().Add(s.opts.SessionLifetime)}
	s.logins++
	s.mu.Unlock()
	// Apache turns the IPASESSION header into this cookie
	// (install/share/ipa.conf.template l.84-85, docs/api-facts.md §3).
	w.Header().Add("Set-Cookie", "ipa_session=MagBearerToken="+token+"; path=/ipa; httponly; secure; SameSite=strict")
	w.WriteHeader(http.StatusOK)
}

// loginFormProblem is login_password's check of its form: exactly one user
// and one password; it returns the 400 page's message, or "".
func loginFormProblem(users, pws []string) string {
	switch {
	case len(users) == 0:
		return "no user specified"
	case len(users) > 1:
		return "more than one user parameter"
	case len(pws) == 0:
		return "no password specified"
	case len(pws) > 1:
		return "more than one password parameter"
	}
	return ""
}

func constEq(a, b string) bool {
	var x byte
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x |= a[i] ^ b[i]
	}
	return x == 0
}

func (s *Server) unauthorized(w http.ResponseWriter, msg, reason string) {
	w.Header().Set("X-IPA-Rejection-Reason", reason)
	writeHTML(w, http.StatusUnauthorized, "Invalid Authentication", msg)
}

// writeHTML renders the page templates of ipaserver/rpcserver.py.
func writeHTML(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	_, _ = fmt.Fprintf(w, "<html>\n<head>\n<title>%s</title>\n</head>\n<body>\n<h1>%s</h1>\n<p>\n<strong>%s</strong>\n</p>\n</body>\n</html>",
		status, title, html.EscapeString(msg))
}

// session returns the user of the request's live session, or "".
func (s *Server) sessionUser(r *http.Request) (string, string) {
	c, err := r.Cookie("ipa_session")
	if err != nil {
		return "", ""
	}
	token := strings.TrimPrefix(c.Value, "MagBearerToken=")
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[token]
	if !ok {
		return "", ""
	}
	if !s.opts.Now().Before(sess.expires) {
		delete(s.sessions, token)
		return "", ""
	}
	return sess.user, token
}

// nextFault picks the fault for this call of command, if any: an armed
// FailNext fault first, then a random one.
func (s *Server) nextFault(command string) Fault {
	if f, ok := s.faults.Take(command); ok {
		s.counters.Fault()
		return f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.opts.Faults
	if f.Rate <= 0 || s.rng.Float64() >= f.Rate {
		return ""
	}
	s.counters.Fault()
	all := f.Kinds
	if len(all) == 0 {
		all = []Fault{Fault500, FaultReset, FaultExpire}
	}
	return all[s.rng.IntN(len(all))]
}

// envelope is the JSON-RPC answer of jsonserver.marshal.
type envelope struct {
	Result    any    `json:"result"`
	Error     *Error `json:"error"`
	ID        any    `json:"id"`
	Principal string `json:"principal"`
	Version   string `json:"version"`
}

// serveJSON is rpcserver.jsonserver_session + WSGIExecutioner.wsgi_execute.
func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	s.counters.Request()
	if !s.checkReferer(r) {
		writeHTML(w, http.StatusBadRequest, "Bad Request", "denied")
		return
	}
	user, token := s.sessionUser(r)
	if user == "" {
		// KerberosSession.need_login: 401 with an empty body.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	isJSON := r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	var body []byte
	var readErr error
	if isJSON {
		body, readErr = io.ReadAll(io.LimitReader(r.Body, 64<<20))
	}
	switch s.nextFault(commandOf(body)) {
	case Fault500:
		writeHTML(w, http.StatusInternalServerError, "Internal Server Error", "simulated fault")
		return
	case FaultReset:
		simapi.ResetConn(w)
		return
	case FaultExpire:
		s.mu.Lock()
		delete(s.sessions, token)
		s.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	principal := user + "@" + s.opts.Realm
	var out envelope
	switch {
	case !isJSON:
		// wsgi_execute falls back to simple_unmarshal: the command name is
		// the (empty) PATH_INFO below /session/json.
		out = envelope{Error: errCommand("")}
	case readErr != nil:
		out = envelope{Error: errJSON(readErr.Error())}
	default:
		out = s.execute(body)
	}
	out.Principal, out.Version = principal, ServerVersion
	buf, err := json.Marshal(out)
	if err != nil {
		buf, _ = json.Marshal(envelope{Error: errInternal(), ID: out.ID, Principal: principal, Version: ServerVersion})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(buf)
}

// commandOf returns the command name of a JSON-RPC request body without
// "/1", for FailNext matching; "" when the body does not name one.
func commandOf(body []byte) string {
	var req struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	name, _, _ := strings.Cut(req.Method, "/")
	return name
}

// execute decodes one JSON-RPC request (jsonserver.unmarshal) and runs it.
func (s *Server) execute(body []byte) envelope {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return envelope{Error: errJSON(err.Error())}
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return envelope{Error: errJSON("Request must be a dict")}
	}
	id := m["id"]
	method, hasMethod := m["method"]
	if !hasMethod {
		return envelope{Error: errJSON(`Request is missing "method"`), ID: id}
	}
	params, hasParams := m["params"]
	if !hasParams {
		return envelope{Error: errJSON(`Request is missing "params"`), ID: id}
	}
	pl, ok := params.([]any)
	if !ok {
		return envelope{Error: errJSON("params must be a list"), ID: id}
	}
	if len(pl) != 2 {
		return envelope{Error: errJSON("params must contain [args, options]"), ID: id}
	}
	args, ok := pl[0].([]any)
	if !ok {
		return envelope{Error: errJSON("params[0] (aka args) must be a list"), ID: id}
	}
	opts, ok := pl[1].(map[string]any)
	if !ok {
		return envelope{Error: errJSON("params[1] (aka options) must be a dict"), ID: id}
	}
	name, _ := method.(string)
	args = numbersToFloat(args).([]any)
	opts = numbersToFloat(opts).(map[string]any)
	res, err := s.call(name, args, opts)
	return envelope{Result: res, Error: err, ID: id}
}

// numbersToFloat turns json.Number into float64 after decoding.
func numbersToFloat(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		for i := range x {
			x[i] = numbersToFloat(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = numbersToFloat(x[k])
		}
		return x
	}
	return v
}

// call is WSGIExecutioner._get_command + Command.__do_call: version check,
// args_options_2_params, convert/validate, then the simulated execute.
func (s *Server) call(method string, args []any, opts map[string]any) (any, *Error) {
	name, ver, hasVer := strings.Cut(method, "/")
	cmd := s.api[name]
	if cmd == nil || (hasVer && ver != "1") {
		return nil, errCommand(method)
	}
	h := handlers[name]
	if h == nil {
		// In API.txt but not simulated: answer as FreeIPA answers a command
		// it does not know, so a client never mistakes it for success.
		return nil, errCommand(method)
	}
	s.counters.Op(name, isWrite(name))
	s.log.Add(logEntry(cmd, args, opts))

	var msgs []any
	clientVer := APIVersion
	if v, ok := opts["version"]; ok {
		cv := fmt.Sprint(v)
		if f, isNum := v.(float64); isNum {
			cv = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if err := checkVersion(cv, "https://"+s.opts.Host+"/ipa/xml", s.opts.RejectNewerMinor); err != nil {
			return nil, err
		}
		clientVer = cv
	} else {
		msgs = append(msgs, message(13001, "VersionMissing", "warning",
			"API Version number was not sent, forward compatibility not guaranteed. Assuming server's API version, "+APIVersion,
			map[string]any{"server_version": APIVersion}))
	}
	params, err := cmd.bind(args, opts)
	if err != nil {
		return nil, err
	}
	if err := s.normalizeParams(name, params); err != nil {
		return nil, err
	}
	c := &call{s: s, name: name, p: params, clientMinor: minor(clientVer)}
	s.mu.Lock()
	res, err := h(c)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(c.msgs) > 0 || len(msgs) > 0 {
		res["messages"] = append(msgs, c.msgs...)
	}
	return res, nil
}

func message(code int, name, typ, text string, data map[string]any) map[string]any {
	return map[string]any{"type": typ, "name": name, "message": text, "code": code, "data": data}
}

// checkVersion is frontend.Command.verify_client_version: since FreeIPA 4.4
// (commit 8b7f2500b "frontend: do not check API minor version of the
// client") only an unparsable version or a different major version is
// rejected; a newer minor version is accepted.
func checkVersion(cv, server string, rejectNewerMinor bool) *Error {
	maj, mi, ok := strings.Cut(cv, ".")
	smaj, _, _ := strings.Cut(APIVersion, ".")
	if !ok || !isDigits(maj) || !isDigits(mi) || maj != smaj {
		return errVersion(cv, APIVersion, server)
	}
	if rejectNewerMinor && minor(cv) > minor(APIVersion) {
		return errVersion(cv, APIVersion, server)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func minor(v string) int {
	_, mi, _ := strings.Cut(v, ".")
	n := 0
	for _, c := range mi {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func isWrite(name string) bool {
	return !strings.HasSuffix(name, "_show") && !strings.HasSuffix(name, "_find") && name != "ping"
}

func logEntry(cmd *command, args []any, opts map[string]any) Request {
	req := Request{Command: cmd.Name, Args: []string{}, Options: []string{}}
	for i, a := range args {
		if i < len(cmd.Args) && cmd.Args[i].Password {
			req.Args = append(req.Args, "********")
			continue
		}
		req.Args = append(req.Args, fmt.Sprint(a))
	}
	for k := range opts {
		req.Options = append(req.Options, k)
	}
	sort.Strings(req.Options)
	return req
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go ≥1.24)
	return hex.EncodeToString(b)
}

// randomPassword mimics ipa_generate_password's output class: letters,
// digits and punctuation, 24 characters.
func randomPassword() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~"
	out := make([]byte, 24)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		out[i] = chars[n.Int64()]
	}
	return string(out)
}
