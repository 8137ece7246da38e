// Package sim is a Proxmox VE API simulator: an http.Handler that speaks the
// /api2/json API of a small PVE cluster (nodes, storages, LXC containers and
// qemu VMs, async tasks with UPIDs, guest locks, pending changes), validates
// every request against PVE's own API schema, and can add latency and faults.
//
// The Proxmox backend (steps/proxmox) is tested against it through the real
// go-proxmox client, and `runner lab` serves it as a simulated homelab. It
// follows docs/api-facts.md §1–2 and the PVE sources named
// in README.md.
package sim
