package dnsmasq

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Probe checks each site for `runner doctor`, reading and changing
// nothing else: it reads the three files (over SSH: the connection, the
// key and the pinned host key) and runs `dnsmasq --test` with the site's
// configuration. It returns one summary for all sites; the time is zero
// (no server clock to compare).
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if b.sites == nil {
		return "", time.Time{}, ErrNotConfigured
	}
	var ok []string
	for _, name := range slices.Sorted(maps.Keys(b.sites)) {
		s := b.sites[name]
		if _, err := s.tr.read(ctx, []string{s.AddnHosts, s.DHCPHostsfile, s.ServersFile}); err != nil {
			return "", time.Time{}, fmt.Errorf("site %s: read its files (%s): %w", name, s.tr.where(), err)
		}
		if _, err := s.tr.run(ctx, []string{s.Dnsmasq, "--test", "--conf-file=" + s.ConfFile}); err != nil {
			return "", time.Time{}, fmt.Errorf("site %s: dnsmasq --test (%s): %w", name, s.tr.where(), err)
		}
		ok = append(ok, fmt.Sprintf("%s (%s)", name, s.tr.where()))
	}
	return "files readable and dnsmasq --test passes at " + strings.Join(ok, ", "), time.Time{}, nil
}
