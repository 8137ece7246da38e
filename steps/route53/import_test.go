package route53

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/importtest"
	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// A zone kept by hand (records of many types, a long TXT, a wildcard, an
// alias, a delegation, a type the runner does not manage) is imported; the
// written repo, pushed, adopts everything with no change batch, and a second
// import writes the same bytes.
func TestImportPlansClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com", "other.org"}, nil)
	e.seed("mydomain.com", importtest.Route53Sets(e.zoneID("mydomain.com"))...)
	e.seed("other.org", sim.RecordSet{Name: "other.org.", Type: "A", TTL: 300, Values: []string{"192.0.2.7"}})

	// 11 record sets and the alias; SOA, apex NS and PTR left alone
	read := importtest.Reader(t, importer.Source{Backend: e.b, Name: "route53", Where: []string{"mydomain.com"}},
		func() int { return e.sim.Count(sim.OpChangeResourceRecordSets) }, 12, 3)
	files := read()
	pipelinetest.FileHas(t, files, "dns.libsonnet",
		`local mydomain_com = route53.zone('mydomain.com');`,
		`mydomain_com.a('@', '203.0.113.10', { ttl: 3600, adopt: true }),`,
		`mydomain_com.a('*.apps', '203.0.113.11', { ttl: 60, adopt: true }),`,
		`mydomain_com.alias('shop', 'A', 'blog', { adopt: true }),`,
		`mydomain_com.record('_sip._tcp', 'SRV', '10 60 5060 sip.mydomain.com.', { adopt: true }),`,
	)
	if dns := files["dns.libsonnet"]; strings.Contains(dns, "other.org") {
		t.Errorf("a zone not asked for was imported:\n%s", dns)
	}
	pipelinetest.FileHas(t, files, "IMPORT.md", "mydomain.com: mydomain.com SOA", "mydomain.com: mydomain.com NS", "4.3.2.1.mydomain.com PTR")

	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 4, Backoff: 1, MaxBackoff: 1}, e.b)
	p.In.Push("import mydomain.com", files)
	e.sim.ResetCounters()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("first deployment of the import: %s %v", rep.Summary, rep.Errors)
	}
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 0 {
		t.Errorf("adopting the import made %d change batches, want 0", n)
	}

	pipelinetest.SameFiles(t, files, read())
}

// An import --into a repo that declares some record sets already (one by
// another resource name) adds only the others, in a new file its
// main.jsonnet imports (its own files untouched), says what it skipped,
// and the repo then adopts the rest with no change batch.
func TestImportInto(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	e.seed("mydomain.com",
		sim.RecordSet{Name: "blog.mydomain.com.", Type: "A", TTL: 300, Values: []string{"203.0.113.10"}},
		sim.RecordSet{Name: "www.mydomain.com.", Type: "CNAME", TTL: 300, Values: []string{"blog.mydomain.com"}},
		sim.RecordSet{Name: "shop.mydomain.com.", Type: "A", TTL: 300, Values: []string{"203.0.113.12"}},
	)
	mine := map[string]string{
		"main.jsonnet": `local runner = import 'runner.libsonnet';
runner.output([import 'dns.libsonnet'])
`,
		"dns.libsonnet": `local route53 = import 'route53.libsonnet';
local z = route53.zone('mydomain.com');
[
  z.a('blog', '203.0.113.10', { adopt: true }),
  z.cname('www', 'blog.mydomain.com', { id: 'www-alias', adopt: true }),
]
`,
	}
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, e.b)
	p.In.Push("by hand", mine)
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("the repo before: %s %v", rep.Summary, rep.Errors)
	}
	reg, err := steps.NewRegistry(e.b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.Run(t.Context(), reg, importer.Request{Into: p.In.Work,
		Sources: []importer.Source{{Backend: e.b, Name: "route53", Where: []string{"mydomain.com"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resources != 1 || !slices.Equal(res.Skipped, []string{"route53.record/A-blog.mydomain.com", "route53.record/CNAME-www.mydomain.com (declared as route53.record/www-alias)"}) {
		t.Errorf("import --into: %d resources, skipped %q", res.Resources, res.Skipped)
	}
	if !slices.Equal(res.Files, []string{"IMPORT.md", "dns-imported.libsonnet", "main.jsonnet"}) {
		t.Errorf("import --into wrote %v", res.Files)
	}
	files := map[string]string{}
	for _, f := range res.Files {
		b, err := os.ReadFile(filepath.Join(p.In.Work, f)) //nolint:gosec // the test's repo
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	if got, err := os.ReadFile(filepath.Join(p.In.Work, "dns.libsonnet")); err != nil || string(got) != mine["dns.libsonnet"] { //nolint:gosec // the test's repo
		t.Errorf("the repo's own dns.libsonnet changed: %s %v", got, err)
	}
	pipelinetest.FileHas(t, files, "main.jsonnet", mine["main.jsonnet"]+"\n// Added by `runner import --into`",
		"+ { resources+: (import 'dns-imported.libsonnet') }")
	pipelinetest.FileHas(t, files, "dns-imported.libsonnet", `mydomain_com.a('shop', '203.0.113.12', { adopt: true }),`)
	pipelinetest.FileHas(t, files, "IMPORT.md", "## Declared already", "- route53.record/CNAME-www.mydomain.com (declared as route53.record/www-alias)")

	p.In.Push("import --into", files)
	e.sim.ResetCounters()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 || rep.Counts["adopt"] != 1 {
		t.Fatalf("after the import: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 0 {
		t.Errorf("adopting the import made %d change batches, want 0", n)
	}
}

// One record set the Jsonnet cannot give as it is (a TXT value with a
// byte that is not UTF-8, set with an octal escape) is left alone with
// the reason, not a failed import; two zones whose names map to the same
// Jsonnet local (a-b.com, a.b.com) get a local each.
func TestImportOddRecordsAndZoneNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"a-b.com", "a.b.com"}, nil)
	e.seed("a-b.com",
		sim.RecordSet{Name: "a-b.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.1"}},
		sim.RecordSet{Name: "bin.a-b.com.", Type: "TXT", TTL: 300, Values: []string{`"tab\011 octal \240"`}},
	)
	e.seed("a.b.com", sim.RecordSet{Name: "a.b.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.2"}})
	res, files := pipelinetest.Import(t, importer.Source{Backend: e.b, Name: "route53", Where: []string{"a-b.com", "a.b.com"}})
	// 2 apex A; left alone: the TXT, each zone's SOA and NS
	importtest.Counts(t, res, files, 2, 5)
	pipelinetest.FileHas(t, files, "dns.libsonnet",
		`local a_b_com = route53.zone('a-b.com');`,
		`local a_b_com_2 = route53.zone('a.b.com');`,
		`a_b_com.a('@', '192.0.2.1', { adopt: true }),`,
		`a_b_com_2.a('@', '192.0.2.2', { adopt: true }),`,
	)
	pipelinetest.FileHas(t, files, "IMPORT.md", "| Route 53 zone a-b.com: bin.a-b.com TXT | a value holds bytes that are not UTF-8")
}

// skewed is the backend with an import that reads one record set wrong
// (its TTL one more than the Jsonnet it writes gives): a bug in one
// resource's import.
type skewed struct{ *Backend }

func (s skewed) Import(ctx context.Context, zones []string) (*steps.Imported, error) {
	im, err := s.Backend.Import(ctx, zones)
	if err == nil && len(im.Resources) > 0 {
		sp := im.Resources[0].Spec.(Spec)
		ttl := *sp.TTL + 1
		sp.TTL = &ttl
		im.Resources[0].Spec = sp
	}
	return im, err
}

// A resource whose written Jsonnet would not give what was read is left
// alone with the reason; the others are still imported.
func TestImportLeavesOneBadResourceAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	e.seed("mydomain.com",
		sim.RecordSet{Name: "mydomain.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.1"}},
		sim.RecordSet{Name: "www.mydomain.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.2"}},
	)
	res, files := pipelinetest.Import(t, importer.Source{Backend: skewed{e.b}, Name: "route53", Where: []string{"mydomain.com"}})
	importtest.Counts(t, res, files, 1, 3)
	pipelinetest.FileHas(t, files, "IMPORT.md", `| route53.record/A-mydomain.com | the Jsonnet can only give {"zone":"mydomain.com","name":"mydomain.com","type":"A","ttl":300,`)
	pipelinetest.FileHas(t, files, "dns.libsonnet", `mydomain_com.a('www', '192.0.2.2', { adopt: true }),`)
}

// With backends.route53.zones set, a zone named that is not in it cannot be
// imported (ErrNotConfigured: the command line asked for what the runner
// may not manage); with '*' (no zones named) such a zone is listed once.
func TestImportZoneOutsideConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com", "other.org"}, map[string]any{"zones": []string{"mydomain.com"}})
	e.seed("other.org", sim.RecordSet{Name: "other.org.", Type: "A", TTL: 300, Values: []string{"192.0.2.7"}})
	_, err := e.b.Import(t.Context(), []string{"other.org"})
	if !errors.Is(err, steps.ErrNotConfigured) || !strings.Contains(err.Error(), "other.org is not in backends.route53.zones (mydomain.com)") {
		t.Errorf("import of a zone outside backends.route53.zones: %v, want ErrNotConfigured naming it", err)
	}
	im, err := e.b.Import(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Unmanaged) != 3 || im.Unmanaged[0].Where != "Route 53 zone other.org" {
		t.Errorf("import of every zone left alone %+v, want other.org, then mydomain.com's SOA and NS", im.Unmanaged)
	}
}
