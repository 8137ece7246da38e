// guests.libsonnet: the Proxmox guests of the homelab, one per entry of the
// data table (homelab.libsonnet), each on the Proxmox cluster of its site:
// LXC containers from the Debian 12 template (nesting + keyctl for entries
// with docker: true, for Docker inside LXC), VMs cloned from the Debian 12
// cloud-init template 9000.
//
//   local guests = import 'guests.libsonnet';
//   guests(import 'homelab.libsonnet')
//
// A guest with dhcp: true takes its address by DHCP, with the MAC its site's
// dnsmasq reservation is for (sites.libsonnet); the others get their
// address statically. A site whose proxmox has cluster: null is the runner
// config's single-host form (no cluster named). An entry may carry `spec`
// (merged into the guest's spec, e.g. { protect: false }) and `docker: true`.
local proxmox = import 'proxmox.libsonnet';
local sites = import 'sites.libsonnet';

function(h, storage='local-zfs', vmTemplate=9000)
  local dns = sites(h);
  // The guest's site, which must run Proxmox (a typo would otherwise end in
  // "Field does not exist" far from the entry).
  local siteOf(g) =
    assert std.objectHas(h.sites, g.site) : 'homelab.libsonnet: guest %s: site %s is not one of sites (%s)' % [g.name, g.site, std.join(', ', std.objectFields(h.sites))];
    assert std.objectHas(h.sites[g.site], 'proxmox') : 'homelab.libsonnet: guest %s: site %s runs no Proxmox (it has no proxmox: {...}); put the guest on a site that does' % [g.name, g.site];
    h.sites[g.site];
  local net(g) =
    local site = siteOf(g), px = site.proxmox;
    if std.get(g, 'dhcp', false)
    then [dns[g.site].network(g.name, px.bridge)]
    else [proxmox.network(px.bridge, g.ip + '/' + std.split(site.subnet, '/')[1], px.gateway)];
  local common(g) =
    local px = siteOf(g).proxmox;
    (if std.get(px, 'cluster', null) != null then { cluster: px.cluster } else {}) + {
      node: px.node,
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
        searchdomain: h.sites[g.site].domain,
      } + std.get(g, 'spec', {}))
    else
      proxmox.vm(g.name, common(g) {
        clone: { template: vmTemplate, full: true, storage: storage },
        cloudInit: { user: 'debian', searchdomain: h.sites[g.site].domain },
        disks: [{ slot: 'scsi0', size: g.disk }],
      } + std.get(g, 'spec', {}))
    for g in h.guests
  ]
