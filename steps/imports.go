package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Importer is implemented by a backend that can describe what already lives
// in its service as resources of its kinds, for `runner import`: the way to
// move a homelab that was built by hand or by Ansible under the runner.
type Importer interface {
	// Import reads the live objects the backend's credentials see and
	// returns them as resources. where narrows what is read, in the
	// backend's own terms (Route 53: hosted zone names; ACME: a certbot
	// configuration directory); empty means everything the backend can
	// list. Import only reads: it makes no write call.
	Import(ctx context.Context, where []string) (*Imported, error)
}

// Imported is what one backend found, ready to be written as one Jsonnet
// file of an infra repo.
type Imported struct {
	// File is the name of the file the resources go to, e.g. "dns.libsonnet".
	File string
	// Header is the file's Jsonnet before its list of resources: a comment
	// and the `local` bindings of the lib helpers the expressions use.
	Header string
	// Resources are what the backend manages, sorted as they are written.
	Resources []Found
	// Unmanaged are live objects (or parts of them) the runner cannot
	// manage: they are listed in IMPORT.md and left alone.
	Unmanaged []Unmanaged
	// Confirm are values the import had to choose because the service does
	// not record them (the template a guest was made from): the written
	// repo plans clean with them, but they matter the day the object is
	// made anew. IMPORT.md lists them for the operator to confirm.
	Confirm []Unmanaged
}

// Found is one live object as a resource.
type Found struct {
	// ID is the resource's kind and name, as the expression names it.
	ID ID
	// Spec is the spec the backend's Decode returns for the expression's
	// resource: the importer checks that the written Jsonnet gives exactly
	// this, so a generated repo plans no change.
	Spec Spec
	// Group is a heading the resource is written under (a zone, a node).
	Group string
	// Jsonnet is one expression that builds the resource with the lib's
	// helpers and the file's Header bindings, ending with the resource
	// options `adopt: true })`, e.g.
	// `mydomain_com.a('blog', '203.0.113.10', { adopt: true })`.
	Jsonnet string
	// Machine is the DNS name of the machine the resource is, when it is
	// one: a guest's hostname, a FreeIPA host's fqdn.
	Machine string
	// Enrols says the resource describes a machine that runs elsewhere (a
	// FreeIPA host): the importer makes it depend on the resource whose
	// Machine is its name (or its name's first label), the guest it runs
	// on, as the lib writes a host after its guest.
	Enrols bool
	// DependsOn are the resources the importer found this one to depend
	// on; SetDependsOn writes them into Jsonnet.
	DependsOn []ID
}

// SetDependsOn makes the resource depend on ids (once: a second call
// fails): DependsOn is set, and the expression's resource options become
// `dependsOn: ['kind/name', …], adopt: true })`. It reports false, changing
// nothing, when the expression does not end with its resource options.
func (f *Found) SetDependsOn(ids []ID) bool {
	const tail = "adopt: true })"
	i := strings.LastIndex(f.Jsonnet, tail)
	if i < 0 || strings.TrimSpace(f.Jsonnet[i+len(tail):]) != "" || f.DependsOn != nil {
		return false
	}
	refs := make([]string, len(ids))
	for j, id := range ids {
		refs[j] = id.String()
	}
	f.DependsOn = ids
	f.Jsonnet = f.Jsonnet[:i] + "dependsOn: " + JsonnetValue(refs) + ", " + tail
	return true
}

// Unmanaged is a live object, or a part of one, that an import leaves out.
type Unmanaged struct {
	// ID is the resource the entry is about, when it is one the import
	// writes (a value to confirm, an option left alone on a written guest);
	// zero otherwise. An entry whose resource --select leaves out is dropped.
	ID ID
	// Where names the object in the service's terms, e.g. "Route 53 zone
	// mydomain.com: api.mydomain.com A (weighted routing, set identifier eu)".
	Where string
	// Why says why the runner does not manage it.
	Why string
	// Then says what the runner will do about it (usually: leave it alone).
	Then string
}

// JsonnetValue writes v as a Jsonnet literal (JSON is Jsonnet; the
// importer's formatter turns it into the usual style).
func JsonnetValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("steps.JsonnetValue(%T): %v", v, err)) // only plain data is passed
	}
	return string(b)
}
