package dnsmasq_test

import (
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
)

// keyFile writes a new ed25519 private key in OpenSSH format with mode
// perm, and an empty known_hosts file; it returns both paths.
func keyFile(t *testing.T, perm os.FileMode) (key, knownHosts string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, knownHosts = filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, pem.EncodeToMemory(blk), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	write(t, knownHosts, "")
	return key, knownHosts
}

// sshSites is a config of two sites with the same file paths, on the
// hosts given.
func sshSites(key, knownHosts, hostA, hostB string) json.RawMessage {
	site := func(name, domain, subnet, host string) string {
		return fmt.Sprintf(`%q: {"domain": %q, "subnet": %q, "addnHosts": "/etc/dnsmasq.runner/hosts",
		  "dhcpHostsfile": "/etc/dnsmasq.runner/dhcp-hosts", "serversFile": "/etc/dnsmasq.runner/servers", "pidFile": "/p",
		  "ssh": {"host": %q, "user": "gitops", "identityFile": %q, "knownHostsFile": %q}}`, name, domain, subnet, host, key, knownHosts)
	}
	return json.RawMessage(`{"sites": {` + site("a", "a.x", "10.0.0.0/24", hostA) + "," + site("b", "b.x", "10.0.1.0/24", hostB) + `}}`)
}

// Sites on different hosts may use the same paths (each host has its
// own /etc/dnsmasq.runner); two sites on one SSH host may not.
func TestFilePathsAcrossSites(t *testing.T) {
	t.Parallel()
	key, kh := keyFile(t, 0o600)
	if _, err := dnsmasq.New(sshSites(key, kh, "dns.a.x", "dns.b.x"), nil); err != nil {
		t.Errorf("two hosts, same paths: %v", err)
	}
	_, err := dnsmasq.New(sshSites(key, kh, "dns.a.x", "DNS.a.x"), nil)
	for _, w := range []string{
		"field sites.b.addnHosts: /etc/dnsmasq.runner/hosts is also site a's addnHosts (host dns.a.x): each site needs its own files",
		"field sites.b.dhcpHostsfile:", "field sites.b.serversFile:",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("one host, same paths: error lacks %q: %v", w, err)
		}
	}
}

// A private key file others may read is refused at config time, as
// OpenSSH refuses it; mode 0600 is taken.
func TestIdentityFilePermissions(t *testing.T) {
	t.Parallel()
	key, kh := keyFile(t, 0o644)
	_, err := dnsmasq.New(sshSites(key, kh, "dns.a.x", "dns.b.x"), nil)
	if err == nil || !strings.Contains(err.Error(), "field sites.a.ssh.identityFile: "+key+": UNPROTECTED PRIVATE KEY FILE: permissions 0644 are too open") ||
		!strings.Contains(err.Error(), "chmod 600 "+key) {
		t.Errorf("0644 key: %v", err)
	}
	key, kh = keyFile(t, 0o600)
	if _, err := dnsmasq.New(sshSites(key, kh, "dns.a.x", "dns.b.x"), nil); err != nil {
		t.Errorf("0600 key: %v", err)
	}
}
