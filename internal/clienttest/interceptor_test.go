package clienttest

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/localca"
)

// interceptor is an HTTPS proxy (HTTPS_PROXY) that answers CONNECTs to the
// hosts it knows itself: it terminates TLS with a certificate for that host
// from its own CA and serves the request with a simulator's handler. It lets
// a client without an endpoint setting (boto3 1.26 in Debian bookworm has no
// AWS_ENDPOINT_URL) talk to a simulator as if to the real service; every
// other CONNECT is refused, so nothing leaves loopback.
type interceptor struct {
	URL    string // http://127.0.0.1:PORT, for HTTPS_PROXY
	CAPEM  []byte // the CA that signed the host certificates
	mu     sync.Mutex
	denied []string
}

// newInterceptor serves hosts ("route53.amazonaws.com:443" → handler) until
// the test ends.
func newInterceptor(t *testing.T, hosts map[string]http.Handler) *interceptor {
	t.Helper()
	ca, err := localca.New("clienttest interceptor CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]*tls.Certificate{}
	for hostport := range hosts {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.Issue([]string{host}, nil)
		if err != nil {
			t.Fatal(err)
		}
		certs[hostport] = &leaf.TLS
	}

	ix := &interceptor{CAPEM: ca.PEM}
	inner := map[string]*connListener{}
	var servers []*http.Server
	for hostport, h := range hosts {
		l := &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
		inner[hostport] = l
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, ok := inner[r.Host]
		if r.Method != http.MethodConnect || !ok {
			ix.mu.Lock()
			ix.denied = append(ix.denied, r.Method+" "+r.Host)
			ix.mu.Unlock()
			http.Error(w, "clienttest interceptor: only CONNECT to a simulated host", http.StatusForbidden)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if _, err := buf.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || buf.Flush() != nil {
			_ = conn.Close()
			return
		}
		cert := certs[r.Host]
		l.push(tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}))
	})}
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() {
		_ = proxy.Close()
		for _, s := range servers {
			_ = s.Close()
		}
	})
	ix.URL = "http://" + ln.Addr().String()
	return ix
}

// Denied lists the requests the interceptor refused ("CONNECT host:port").
func (ix *interceptor) Denied() []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return append([]string(nil), ix.denied...)
}

// connListener is a net.Listener fed with connections by hand.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("listener closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
