package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
