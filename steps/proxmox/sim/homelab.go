package sim

import "fmt"

// Names in the reference homelab (homelab-infrastructure.md: one Hetzner
// Proxmox host with 48 GB RAM and 2x2 TB disks).
const (
	// HomelabNode is the name of the single Proxmox node.
	HomelabNode = "pve"
	// HomelabLXCTemplate is the Debian 12 container template volume.
	HomelabLXCTemplate = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	// HomelabVMTemplate is the VMID of the Debian 12 cloud-init VM template.
	HomelabVMTemplate = 9000
)

// NewHost returns a simulator seeded with one Proxmox host: node (cores,
// memory in bytes), storages "local" (dir: vztmpl, iso, backup; 100 GiB) and
// "local-zfs" (zfspool: images, rootdir; zfs bytes), and the Debian 12 LXC
// template; more seeds the rest (nil: nothing more). A failed seed closes
// the simulator.
func NewHost(opts Options, node string, cores int, memory, zfs int64, more ...func(*Server) error) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	steps := []func(*Server) error{
		func(s *Server) error { return s.AddNode(node, cores, memory) },
		func(s *Server) error {
			return s.AddStorage(node, "local", "dir", []string{"vztmpl", "iso", "backup"}, 100<<30)
		},
		func(s *Server) error {
			return s.AddStorage(node, "local-zfs", "zfspool", []string{"images", "rootdir"}, zfs)
		},
		func(s *Server) error {
			_, err := s.AddTemplate(node, "local", "vztmpl", "debian-12-standard_12.7-1_amd64.tar.zst", 126<<20)
			return err
		},
	}
	for _, step := range append(steps, more...) {
		if err := step(s); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("seed node %s: %w", node, err)
		}
	}
	return s, nil
}

// NewHomelab returns a simulator seeded with the reference host: node "pve"
// (8 cores, 48 GiB), storages "local" (dir: vztmpl, iso, backup),
// "local-zfs" (zfspool: images, rootdir) and "local-lvm" (lvmthin: images,
// rootdir), the Debian 12 LXC template and a Debian 12 cloud-init VM
// template (VMID 9000).
func NewHomelab(opts Options) (*Server, error) {
	return NewHost(opts, HomelabNode, 8, 48<<30, 1700<<30,
		func(s *Server) error {
			return s.AddStorage(HomelabNode, "local-lvm", "lvmthin", []string{"images", "rootdir"}, 200<<30)
		},
		func(s *Server) error {
			_, err := s.AddTemplate(HomelabNode, "local", "iso", "debian-12.7.0-amd64-netinst.iso", 631<<20)
			return err
		},
		func(s *Server) error {
			return s.AddGuest(GuestSpec{Node: HomelabNode, VMID: HomelabVMTemplate, Type: typeQemu, Config: map[string]string{
				"name":      "debian-12-cloudinit",
				"template":  "1",
				"memory":    "2048",
				"cores":     "2",
				"sockets":   "1",
				"cpu":       "x86-64-v2-AES",
				"ostype":    "l26",
				"agent":     "1",
				"scsihw":    "virtio-scsi-single",
				"scsi0":     "local-zfs:base-9000-disk-0,size=3G",
				"ide2":      "local-zfs:vm-9000-cloudinit,media=cdrom",
				"boot":      "order=scsi0",
				"serial0":   "socket",
				"vga":       "serial0",
				"net0":      "virtio=BC:24:11:90:00:00,bridge=vmbr0",
				"ipconfig0": "ip=dhcp",
				"ciuser":    "debian",
				"smbios1":   "uuid=6f1c7c1e-9000-4a3b-8d2e-1c9e0b9a9000",
				"vmgenid":   "0b3c5f2a-9000-4c6d-9e8f-7a6b5c4d9000",
			}})
		})
}
