// guests.libsonnet: the Proxmox guests of the homelab, one per entry of the
// data table (homelab.libsonnet): LXC containers from the Debian 12 template
// (nesting + keyctl for entries with docker: true, for Docker inside LXC),
// VMs cloned from the Debian 12 cloud-init template 9000.
//
//   local guests = import 'guests.libsonnet';
//   guests(import 'homelab.libsonnet')
//
// An entry may carry `spec` (merged into the guest's spec, e.g.
// { protect: false }) and `docker: true`.
local proxmox = import 'proxmox.libsonnet';

function(h, storage='local-zfs', vmTemplate=9000)
  local prefix = std.split(h.network.cidr, '/')[1];
  local net(g) = [proxmox.network(h.network.bridge, g.ip + '/' + prefix, h.network.gateway)];
  local common(g) = {
    node: h.node,
    vmid: g.vmid,
    cores: g.cores,
    memory: g.memory,
    networks: net(g),
    onboot: true,
    tags: ['homelab'],
  };
  [
    if g.type == 'lxc' then
      proxmox.lxc(g.name, common(g) {
        ostemplate: proxmox.templates.debian12,
        rootfs: { storage: storage, size: g.disk },
        features: if std.get(g, 'docker', false) then proxmox.docker else {},
        searchdomain: h.internalDomain,
      } + std.get(g, 'spec', {}))
    else
      proxmox.vm(g.name, common(g) {
        clone: { template: vmTemplate, full: true, storage: storage },
        cloudInit: { user: 'debian', searchdomain: h.internalDomain },
        disks: [{ slot: 'scsi0', size: g.disk }],
      } + std.get(g, 'spec', {}))
    for g in h.guests
  ]
