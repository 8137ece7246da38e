package proxmox

import (
	"regexp"
	"testing"
)

// nameChecks pairs each hand-written name check with the regexp it
// replaced.
var nameChecks = []struct {
	re    *regexp.Regexp
	check func(string) bool
}{
	{regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`), validNode},
	{regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]$`), validStorage},
	{regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.\-]{0,14}$`), validIfname},
	{regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\-_.]*:vztmpl/[^/\s]+$`), validTemplate},
}

// FuzzNames: each name check answers as its regexp does.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "a", "-", "pve", "pve-2", "pve-", "-pve", "2pve", "pve_2", "local-lvm", "local.", "l", "local-zfs.2",
		"vmbr0", "vmbr0.100", "a23456789012345", "a234567890123456", "eth0", "eth-", "é",
		"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "local:vztmpl/", "local:vztmpl/a/b", "local:vztmpl/a b", "local:vztmpl/a\vb",
		"local:vztmpl/a\n", "1local:vztmpl/x", "lo:cal:vztmpl/x", "local:vztmpl/x:vztmpl/y", "local:vztmpl/\xff", "local:iso/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range nameChecks {
			if got, want := c.check(s), c.re.MatchString(s); got != want {
				t.Errorf("check for %s of %q = %v, the regexp says %v", c.re, s, got, want)
			}
		}
	})
}
