package lab

import (
	"os"
	"os/exec"

	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// Flat1Node is the Proxmox node of the lab's second cluster, flat1: the HP
// Proliant Microserver of flat 1 (4 GB RAM, 2x4 TB disks), which runs the
// misc services of the flat in LXC containers.
const Flat1Node = "proliant"

// newFlat1 is the simulator of cluster flat1: node proliant (2 cores,
// 4 GiB), storages local (dir: vztmpl, iso, backup) and local-zfs
// (zfspool: images, rootdir; 3.5 TiB), and the Debian 12 LXC template. The
// Hetzner host's simulator is pvesim.NewHomelab.
func newFlat1(opts pvesim.Options) (*pvesim.Server, error) {
	return pvesim.NewHost(opts, Flat1Node, 2, 4<<30, 3584<<30)
}

// FindDnsmasq returns the installed dnsmasq program: in PATH, else in
// /usr/sbin or /sbin (Debian installs it there, and a user's PATH often
// lacks them).
func FindDnsmasq() (string, error) {
	if p, err := exec.LookPath("dnsmasq"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/dnsmasq", "/sbin/dnsmasq"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
