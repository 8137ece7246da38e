package route53

import (
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
)

// The helpers of lib/route53.libsonnet build resources this backend decodes.
func TestLibHelpersBuildDecodableRecords(t *testing.T) {
	t.Parallel()
	var doc struct {
		Resources []pipelinetest.Resource `json:"resources"`
	}
	pipelinetest.EvalLib(t, `
local r = import 'runner.libsonnet';
local route53 = import 'route53.libsonnet';
local dns = route53.zone('mydomain.com');
r.output([
  dns.a('blog', '203.0.113.10'),
  dns.a('*.apps', ['203.0.113.11', '203.0.113.10'], { ttl: 60 }),
  dns.aaaa('v6', '2001:db8::1', { dependsOn: ['proxmox.lxc/blog'] }),
  dns.cname('www', 'blog.mydomain.com'),
  dns.txt('@', 'v=spf1 -all'),
  dns.mx('@', ['10 mail.mydomain.com']),
  dns.caa('@', '0 issue "letsencrypt.org"'),
  dns.alias('@', 'A', 'blog'),
  dns.a('status.mydomain.com.', '203.0.113.10', { adopt: true, id: 'status' }),
  route53.record('_dmarc', 'txt', 'v=DMARC1; p=none', { zone: 'mydomain.com' }),
])`, &doc)
	b, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"A-blog.mydomain.com", "A-_wildcard.apps.mydomain.com", "AAAA-v6.mydomain.com",
		"CNAME-www.mydomain.com", "TXT-mydomain.com", "MX-mydomain.com", "CAA-mydomain.com", "A-mydomain.com",
		"status", "TXT-_dmarc.mydomain.com"}
	var names []string
	specs := map[string]Spec{}
	for _, r := range doc.Resources {
		if r.Kind != Kind {
			t.Errorf("%s: kind %s", r.Name, r.Kind)
		}
		s, err := b.Decode(Kind, r.Spec)
		if err != nil {
			t.Errorf("%s: %v (spec %s)", r.Name, err, r.Spec)
			continue
		}
		names = append(names, r.Name)
		specs[r.Name] = s.(Spec)
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("resource names %q\nwant %q", names, wantNames)
	}
	if s := specs["A-_wildcard.apps.mydomain.com"]; s.Name != "*.apps.mydomain.com" || *s.TTL != 60 || len(s.Values) != 2 {
		t.Errorf("wildcard: %+v", s)
	}
	if s := specs["A-mydomain.com"]; s.Alias == nil || s.Alias.Name != "blog.mydomain.com" || s.TTL != nil {
		t.Errorf("alias: %+v", s)
	}
	if s := specs["status"]; s.Name != "status.mydomain.com" || !doc.Resources[8].Adopt {
		t.Errorf("status: %+v adopt=%v", s, doc.Resources[8].Adopt)
	}
	if d := doc.Resources[2].DependsOn; len(d) != 1 || d[0] != "proxmox.lxc/blog" {
		t.Errorf("dependsOn = %v", d)
	}
}
