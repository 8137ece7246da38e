package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// A typo in the example's data table names the entry and the sites, not
// "Field does not exist" somewhere in a libsonnet.
func TestHomelabExampleNamesABadSite(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ from, to, want string }{
		{"{ name: 'jellyfin', site: 'flat1'", "{ name: 'jellyfin', site: 'flatt1'", "jellyfin: site flatt1 is not one of sites (flat1, flat2, hetzner, ovh)"},
		{"{ name: 'jellyfin', site: 'flat1'", "{ name: 'jellyfin', site: 'flat2'", "guest jellyfin: site flat2 runs no Proxmox"},
		{"{ name: 'pi', site: 'flat2'", "{ name: 'pi', site: 'flat3'", "pi: site flat3 is not one of sites"},
	} {
		files := homelabFiles(t)
		if !strings.Contains(files["homelab.libsonnet"], c.from) {
			t.Fatalf("homelab.libsonnet has no %q", c.from)
		}
		files["homelab.libsonnet"] = strings.Replace(files["homelab.libsonnet"], c.from, c.to, 1)
		_, err := loadOnly(t, files).Load(context.Background(), "main", pipeline.Vars{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.to, err, c.want)
		}
	}
}
