// Package importtest holds a homelab the runner did not create, shaped the
// way its current tools leave things (pct create and qm clone with options
// set in the UI, records kept by hand in Route 53, FreeIPA objects made
// with the ipa CLI, certbot's live/ archive/ renewal/ files), for the tests
// of `runner import`: each backend's import test and the end-to-end one
// seed the simulators from it.
package importtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	r53sim "github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// CIPassword is the hashed cloud-init password of the gitlab VM: it must
// never reach an imported file.
const CIPassword = "$5$secret$Zm9vYmFy" //nolint:gosec // a test fixture, checked never to leak

// KVMArgsToken is a token passed to the gitlab VM on its kvm command line
// (args): it must never reach an imported file.
const KVMArgsToken = "pve_SECRET_ARG_42" //nolint:gosec // a test fixture, checked never to leak

// ProxmoxGuests are guests made by hand on sim.HomelabNode (next to the
// homelab's templates): options the runner does not manage, an LXC with
// several mount points, a full and a linked clone of the cloud-init
// template 9000, a privileged stopped container, one with a bind mount and
// one without a cores limit (neither can be declared).
func ProxmoxGuests() []pvesim.GuestSpec {
	node := pvesim.HomelabNode
	return []pvesim.GuestSpec{
		{Node: node, VMID: 101, Type: "lxc", Running: true, Config: map[string]string{
			"hostname": "nextcloud", "ostype": "debian", "arch": "amd64", "unprivileged": "1",
			"cores": "2", "memory": "4096", "swap": "512", "features": "keyctl=1,nesting=1",
			"rootfs":      "local-zfs:subvol-101-disk-0,size=32G",
			"mp0":         "local-zfs:subvol-101-disk-1,mp=/srv/data,backup=1,size=100G",
			"mp1":         "local-zfs:subvol-101-disk-2,mp=/srv/photos,size=200G",
			"mp2":         "local-lvm:vm-101-disk-0,mp=/var/backups,ro=1,size=50G",
			"net0":        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:01,ip=10.42.0.101/24,gw=10.42.0.1,type=veth",
			"onboot":      "1",
			"startup":     "order=2",
			"tags":        "homelab;web",
			"description": "Nextcloud, set up by hand in 2023",
			"nameserver":  "10.42.0.2", "searchdomain": "hetzner.int.mydomain",
			"cpulimit": "2", "protection": "1", "timezone": "Europe/Berlin",
		}},
		{Node: node, VMID: 102, Type: "lxc", Config: map[string]string{
			"hostname": "pihole", "ostype": "debian", "arch": "amd64",
			"cores": "1", "memory": "512", "swap": "0", "features": "fuse=1,mount=nfs",
			"rootfs": "local-lvm:vm-102-disk-0,size=8G",
			"net0":   "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:01:02,ip=dhcp,tag=20,firewall=1,type=veth",
		}},
		{Node: node, VMID: 104, Type: "qemu", Running: true, Config: map[string]string{
			"name": "gitlab", "cores": "4", "memory": "8192", "sockets": "1", "cpu": "host", "agent": "1",
			"ostype": "l26", "scsihw": "virtio-scsi-single", "boot": "order=scsi0",
			"scsi0":     "local-zfs:vm-104-disk-0,iothread=1,size=64G",
			"scsi1":     "local-zfs:vm-104-disk-1,size=2252M",
			"ide2":      "local-zfs:vm-104-cloudinit,media=cdrom",
			"net0":      "virtio=BC:24:11:00:01:04,bridge=vmbr0",
			"ipconfig0": "ip=10.42.0.104/24,gw=10.42.0.1",
			"ciuser":    "debian", "cipassword": CIPassword, "searchdomain": "hetzner.int.mydomain",
			"sshkeys": "ssh-ed25519%20AAAAC3Nza%20admin%40laptop%0A",
			"smbios1": "uuid=0c8a7d21-0104-4b1e-9f4e-1c9e0b9a0104", "vmgenid": "1b3c5f2a-0104-4c6d-9e8f-7a6b5c4d0104",
			"onboot": "1", "args": "-fw_cfg name=opt/com.example/token,string=" + KVMArgsToken,
		}},
		{Node: node, VMID: 105, Type: "qemu", Running: true, Config: map[string]string{
			"name": "ci-runner", "cores": "2", "memory": "2048",
			"scsi0": "local-zfs:base-9000-disk-0/vm-105-disk-0,size=3G",
			"net0":  "e1000=BC:24:11:00:01:05,bridge=vmbr0",
		}},
		{Node: node, VMID: 110, Type: "lxc", Running: true, Config: map[string]string{
			"hostname": "jellyfin", "ostype": "debian", "unprivileged": "1", "cores": "2", "memory": "2048", "swap": "512",
			"rootfs": "local-zfs:subvol-110-disk-0,size=16G",
			"mp0":    "/mnt/media,mp=/media",
			"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:10,ip=10.42.0.110/24,gw=10.42.0.1,type=veth",
		}},
		// No cores limit (pct create without --cores: every core of the
		// node), which a spec cannot say.
		{Node: node, VMID: 111, Type: "lxc", Running: true, Config: map[string]string{
			"hostname": "unlimited", "ostype": "debian", "unprivileged": "1", "memory": "512", "swap": "512",
			"rootfs": "local-zfs:subvol-111-disk-0,size=8G",
			"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:11,ip=10.42.0.111/24,gw=10.42.0.1,type=veth",
		}},
	}
}

// SeedProxmox adds ProxmoxGuests to s.
func SeedProxmox(tb testing.TB, s *pvesim.Server) {
	tb.Helper()
	for _, g := range ProxmoxGuests() {
		if err := s.AddGuest(g); err != nil {
			tb.Fatal(err)
		}
	}
}

// LongTXT is the DKIM key of Route53Sets, longer than one TXT string (255).
var LongTXT = "v=DKIM1; p=" + strings.Repeat("k", 300)

// Route53Sets are record sets of zone mydomain.com kept by hand: several
// types, a TXT longer than one string (split as Route 53 wants it), a
// wildcard, an alias (aliasZoneID: the zone's own ID), MX, CAA, a
// delegation, and a PTR the runner does not manage.
func Route53Sets(aliasZoneID string) []r53sim.RecordSet {
	return []r53sim.RecordSet{
		{Name: "mydomain.com.", Type: "A", TTL: 3600, Values: []string{"203.0.113.10"}},
		{Name: "mydomain.com.", Type: "MX", TTL: 300, Values: []string{"10 mx1.mail.example.net.", "20 mx2.mail.example.net."}},
		{Name: "mydomain.com.", Type: "TXT", TTL: 300, Values: []string{`"v=spf1 include:_spf.example.net -all"`, `"google-site-verification=abc"`}},
		{Name: "mydomain.com.", Type: "CAA", TTL: 300, Values: []string{`0 issue "letsencrypt.org"`}},
		{Name: "dkim._domainkey.mydomain.com.", Type: "TXT", TTL: 300, Values: []string{`"` + LongTXT[:240] + `" "` + LongTXT[240:] + `"`}},
		{Name: "blog.mydomain.com.", Type: "A", TTL: 300, Values: []string{"203.0.113.10"}},
		{Name: "\\052.apps.mydomain.com.", Type: "A", TTL: 60, Values: []string{"203.0.113.11"}},
		{Name: "www.mydomain.com.", Type: "CNAME", TTL: 300, Values: []string{"blog.mydomain.com"}},
		{Name: "v6.mydomain.com.", Type: "AAAA", TTL: 300, Values: []string{"2001:db8::1"}},
		{Name: "_sip._tcp.mydomain.com.", Type: "SRV", TTL: 300, Values: []string{"10 60 5060 sip.mydomain.com."}},
		{Name: "lab.mydomain.com.", Type: "NS", TTL: 172800, Values: []string{"ns1.lab.mydomain.com."}},
		{Name: "4.3.2.1.mydomain.com.", Type: "PTR", TTL: 300, Values: []string{"host.mydomain.com."}},
		{Name: "shop.mydomain.com.", Type: "A", Alias: &r53sim.Alias{HostedZoneID: aliasZoneID, DNSName: "blog.mydomain.com."}},
	}
}

// FreeIPACall is one JSON-RPC call of the ipa CLI.
type FreeIPACall struct {
	Method string
	Args   []any
	Opts   map[string]any
}

// FreeIPAHosts are the hosts FreeIPACalls enrol (add with AddHost, enrolled).
var FreeIPAHosts = []string{"web1.hetzner.int.mydomain", "db1.hetzner.int.mydomain", "gitlab.hetzner.int.mydomain"}

// FreeIPACalls make FreeIPA objects by hand, after FreeIPAHosts exist:
// host details, a host group with members, a service, users, groups with
// nested groups, sudo rules with an option, a disabled rule, and one whose
// name is not a valid resource name.
func FreeIPACalls() []FreeIPACall {
	web, db := FreeIPAHosts[0], FreeIPAHosts[1]
	return []FreeIPACall{
		{"host_mod", []any{db}, map[string]any{"description": "PostgreSQL", "l": "Hetzner"}},
		{"hostgroup_add", []any{"webservers"}, map[string]any{"description": "Web servers"}},
		{"hostgroup_add_member", []any{"webservers"}, map[string]any{"host": []string{web}}},
		{"service_add", []any{"HTTP/" + web}, map[string]any{"force": true}},
		{"user_add", []any{"alice"}, map[string]any{"givenname": "Alice", "sn": "Liddell", "mail": "alice@mydomain.com", "loginshell": "/bin/zsh"}},
		{"user_add", []any{"bob"}, map[string]any{"givenname": "Bob", "sn": "Builder"}},
		{"group_add", []any{"devs"}, map[string]any{"description": "Developers"}},
		{"group_add_member", []any{"devs"}, map[string]any{"user": []string{"alice", "bob"}}},
		{"group_add", []any{"ops"}, nil},
		{"group_add_member", []any{"ops"}, map[string]any{"group": []string{"devs"}}},
		{"sudorule_add", []any{"ops-all"}, map[string]any{"cmdcategory": "all"}},
		{"sudorule_add_user", []any{"ops-all"}, map[string]any{"group": []string{"ops"}}},
		{"sudorule_add_host", []any{"ops-all"}, map[string]any{"hostgroup": []string{"webservers"}}},
		{"sudorule_add_option", []any{"ops-all"}, map[string]any{"ipasudoopt": []string{"!authenticate"}}},
		{"sudorule_add", []any{"old-rule"}, map[string]any{"hostcategory": "all"}},
		{"sudorule_disable", []any{"old-rule"}, nil},
		{"sudorule_add", []any{"with space"}, nil},
	}
}

// CertbotLineage writes one certificate the way certbot 2.x keeps it under
// root (its configuration directory): archive/<name>/{cert,chain,
// fullchain,privkey}1.pem, live/<name>/*.pem as relative symlinks to them,
// live/<name>/README, and renewal/<name>.conf with params in its
// [renewalparams] (certbot/_internal/storage.py: new_lineage,
// write_renewal_config; the default renew_before_expiry is written as a
// comment). The leaf is signed by a throwaway CA (a certificate the runner
// did not obtain) and valid for validFor from now. It returns the private
// key's PEM.
func CertbotLineage(tb testing.TB, root, name string, domains []string, key crypto.Signer, validFor time.Duration, params string) []byte {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Hand CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(3 * validFor), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		tb.Fatal(err)
	}
	leafTpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: domains[0]}, DNSNames: domains,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTpl, caTpl, key.Public(), caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	archive := filepath.Join(root, "archive", name)
	live := filepath.Join(root, "live", name)
	for _, d := range []string{archive, live, filepath.Join(root, "renewal")} {
		if err := os.MkdirAll(d, 0o755); err != nil { //nolint:gosec // as certbot makes them (archive/ is then 0700)
			tb.Fatal(err)
		}
	}
	// certbot: archive/ is 0700, privkey 0600, the rest 0644.
	if err := os.Chmod(filepath.Join(root, "archive"), 0o700); err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{"cert": cert, "chain": chain, "fullchain": append(append([]byte{}, cert...), chain...), "privkey": keyPEM}
	for kind, data := range files {
		mode := os.FileMode(0o644)
		if kind == "privkey" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(archive, kind+"1.pem"), data, mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, kind+"1.pem"), filepath.Join(live, kind+".pem")); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(live, "README"), []byte("This directory contains your keys and certificates.\n"), 0o644); err != nil { //nolint:gosec // as certbot writes it
		tb.Fatal(err)
	}
	conf := "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = " + archive + "\n"
	for _, kind := range []string{"cert", "privkey", "chain", "fullchain"} {
		conf += kind + " = " + filepath.Join(live, kind+".pem") + "\n"
	}
	conf += "\n# Options used in the renewal process\n[renewalparams]\naccount = 0f9a3c2d1e4b5a6978c8d7e6f5a4b3c2\n" + params
	if err := os.WriteFile(filepath.Join(root, "renewal", name+".conf"), []byte(conf), 0o644); err != nil { //nolint:gosec // as certbot writes it
		tb.Fatal(err)
	}
	return keyPEM
}

// KeyBody is a line from the middle of a PEM key: a file that holds it
// holds the key.
func KeyBody(keyPEM []byte) string { return strings.Split(string(keyPEM), "\n")[1] }

// Reader returns a function that imports src the way `runner import` does
// (pipelinetest.Import) and returns the written files, failing the test
// unless that import made no write call, wrote resources resources and
// listed leftAlone live objects as left alone (Counts). writes reports the
// backend's write calls so far (a simulator's write counter, the CA's
// orders); the import's share is the difference around it, so a test need
// not reset its counters. Each backend's import test reads twice: the
// files to push, and after they are deployed the same bytes again.
func Reader(tb testing.TB, src importer.Source, writes func() int, resources, leftAlone int) func() map[string]string {
	return func() map[string]string {
		tb.Helper()
		before := writes()
		res, files := pipelinetest.Import(tb, src)
		if n := writes() - before; n != 0 {
			tb.Errorf("import of %s made %d write calls", src.Name, n)
		}
		Counts(tb, res, files, resources, leftAlone)
		return files
	}
}

// Counts fails the test unless an import wrote resources resources and
// listed leftAlone live objects as left alone; the error shows IMPORT.md
// (files as pipelinetest.Import returns them).
func Counts(tb testing.TB, res *importer.Result, files map[string]string, resources, leftAlone int) {
	tb.Helper()
	if res.Resources != resources || res.Unmanaged != leftAlone {
		tb.Errorf("import: %d resources, %d left alone; want %d and %d\n%s", res.Resources, res.Unmanaged, resources, leftAlone, files["IMPORT.md"])
	}
}
