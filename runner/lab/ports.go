package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ports remembers the lab's loopback addresses across restarts, so URLs,
// the dig command and the ACME directory (a certificate's issuer) stay the
// same; an address that is taken now falls back to a free one.
type ports struct {
	path  string
	addrs map[string]string
}

func loadPorts(dir string) *ports {
	p := &ports{path: filepath.Join(dir, "ports.json"), addrs: map[string]string{}}
	if b, err := os.ReadFile(p.path); err == nil {
		_ = json.Unmarshal(b, &p.addrs)
	}
	return p
}

// addr is the address to try for name: the remembered one, else any port.
func (p *ports) addr(name string) string {
	if a, ok := p.addrs[name]; ok {
		return a
	}
	return "127.0.0.1:0"
}

// listen listens on name's remembered address, or on a free port.
func (p *ports) listen(name string) (net.Listener, error) {
	ln, err := net.Listen("tcp", p.addr(name))
	if err != nil && p.addr(name) != "127.0.0.1:0" {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	p.addrs[name] = ln.Addr().String()
	return ln, nil
}

// bind runs a listen function on name's remembered address, falling back to
// a free port; it records the address it got (host:port, URL prefix kept).
func (p *ports) bind(name string, listen func(addr string) (string, error)) (string, error) {
	got, err := listen(p.addr(name))
	if err != nil && p.addr(name) != "127.0.0.1:0" {
		got, err = listen("127.0.0.1:0")
	}
	if err != nil {
		return "", err
	}
	p.addrs[name] = strings.TrimPrefix(strings.TrimPrefix(got, "http://"), "https://")
	return got, nil
}

func (p *ports) save() error {
	b, err := json.MarshalIndent(p.addrs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.path, b, 0o644); err != nil {
		return errors.Join(fmt.Errorf("save lab ports"), err)
	}
	return nil
}

// udpPort is a port for name at 127.0.0.1 that is free for UDP and TCP
// (a DNS server binds both): the remembered one unless fresh is set or it
// is taken, else a free one. It records the port as 127.0.0.1:PORT; the
// caller's program binds it (it may be taken in between: try again with
// fresh).
func (p *ports) udpPort(name string, fresh bool) (int, error) {
	free := func(addr string) (int, bool) {
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, false
		}
		defer u.Close() //nolint:errcheck // a probe
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return 0, false
		}
		_ = t.Close()
		return port, true
	}
	if a, ok := p.addrs[name]; ok && !fresh {
		if port, ok := free(a); ok {
			return port, nil
		}
	}
	for range 20 {
		if port, ok := free("127.0.0.1:0"); ok {
			p.addrs[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return port, nil
		}
	}
	return 0, fmt.Errorf("%s: no port at 127.0.0.1 free for both UDP and TCP", name)
}
