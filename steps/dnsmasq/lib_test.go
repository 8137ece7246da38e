package dnsmasq_test

import (
	"crypto/md5" //nolint:gosec // the lib's MAC derivation, not security
	"encoding/hex"
	"net"
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
)

// libMAC is the MAC lib/dnsmasq.libsonnet derives from a name, computed
// independently: 02 and the first five bytes of the name's MD5.
func libMAC(name string) string {
	sum := md5.Sum([]byte(name)) //nolint:gosec // see import
	h := hex.EncodeToString(sum[:5])
	return "02:" + h[0:2] + ":" + h[2:4] + ":" + h[4:6] + ":" + h[6:8] + ":" + h[8:10]
}

// The helpers of lib/dnsmasq.libsonnet build resources this backend
// decodes: a site declared once gives its guests a host record and a
// reservation whose MAC is the guest network's, and the forwarding between
// all sites.
func TestLibSites(t *testing.T) {
	t.Parallel()
	var doc struct {
		Resources []pipelinetest.Resource `json:"resources"`
		Network   map[string]string       `json:"network"`
	}
	pipelinetest.EvalLib(t, `
local r = import 'runner.libsonnet';
local dnsmasq = import 'dnsmasq.libsonnet';
local flat1 = dnsmasq.site('flat1', 'flat1.int.mydomain', '192.168.1.0/24', '192.168.1.1');
local flat2 = dnsmasq.site('flat2', 'flat2.int.mydomain', '192.168.2.0/24', '192.168.2.1', { port: 5353 });
r.output([
  dnsmasq.forwarding([flat1, flat2]),
  flat1.guest('NAS', '192.168.1.20'),
  flat2.guest('pi.flat2.int.mydomain', '192.168.2.30', { dhcp: false, ipv6: 'fd00:2::30' }),
]) + { network: flat1.network('nas', 'vmbr0') }`, &doc)
	b := configured(t)
	type row struct{ kind, name string }
	var got []row
	specs := map[row]any{}
	for _, r := range doc.Resources {
		s, err := b.Decode(r.Kind, r.Spec)
		if err != nil {
			t.Errorf("%s/%s: %v (spec %s)", r.Kind, r.Name, err, r.Spec)
			continue
		}
		got = append(got, row{r.Kind, r.Name})
		specs[row{r.Kind, r.Name}] = s
	}
	want := []row{
		{dnsmasq.KindForward, "flat1-to-flat2"}, {dnsmasq.KindForward, "flat2-to-flat1"},
		{dnsmasq.KindHost, "nas.flat1.int.mydomain"}, {dnsmasq.KindDHCPHost, "nas.flat1.int.mydomain"},
		{dnsmasq.KindHost, "pi.flat2.int.mydomain"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resources %v\nwant %v", got, want)
	}
	mac := libMAC("nas.flat1.int.mydomain")
	if s := specs[want[3]]; !reflect.DeepEqual(s, dnsmasq.DHCPHostSpec{Site: "flat1", MAC: mac, IP: "192.168.1.20", Hostname: "nas"}) {
		t.Errorf("reservation %+v", s)
	}
	if hw, err := net.ParseMAC(mac); err != nil || hw[0]&0b11 != 0b10 {
		t.Errorf("MAC %s is not a locally administered unicast address: %v", mac, err)
	}
	if want := map[string]string{"bridge": "vmbr0", "ip": "dhcp", "mac": mac}; !reflect.DeepEqual(doc.Network, want) {
		t.Errorf("network %v, want %v (the reservation's MAC)", doc.Network, want)
	}
	if s := specs[want[0]]; !reflect.DeepEqual(s, dnsmasq.ForwardSpec{Site: "flat1", Domain: "flat2.int.mydomain", Server: "192.168.2.1", Port: 5353, Reverse: []string{"192.168.2.0/24"}}) {
		t.Errorf("forward %+v", s)
	}
	if s := specs[want[4]]; !reflect.DeepEqual(s, dnsmasq.HostSpec{Site: "flat2", Name: "pi.flat2.int.mydomain", IPv4: "192.168.2.30", IPv6: "fd00:2::30"}) {
		t.Errorf("host %+v", s)
	}
}
