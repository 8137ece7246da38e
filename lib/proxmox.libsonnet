// proxmox.libsonnet: Proxmox VE guests, the kinds proxmox.lxc and proxmox.vm
// (see steps/proxmox/README.md for every spec field).
//
//   local proxmox = import 'proxmox.libsonnet';
//   proxmox.lxc('nextcloud', {  // cluster: 'hetzner' when backends.proxmox names several
//     node: 'pve', vmid: 101, cores: 2, memory: '4GiB',
//     ostemplate: proxmox.templates.debian12,
//     rootfs: { storage: 'local-zfs', size: '64GiB' },
//     features: proxmox.docker,
//     networks: [proxmox.network('vmbr0', '10.42.0.101/24', '10.42.0.1')],
//   })
local runner = import 'runner.libsonnet';
{
  // lxc builds a proxmox.lxc resource. opts may carry dependsOn and adopt.
  lxc(name, spec, opts={}):: runner.resource('proxmox.lxc', name, spec, opts),

  // vm builds a proxmox.vm resource (a clone of a template).
  vm(name, spec, opts={}):: runner.resource('proxmox.vm', name, spec, opts),

  // cluster returns lxc and vm bound to one Proxmox cluster (a key of
  // backends.proxmox.clusters): spec.cluster is set unless the spec sets it.
  //   local flat1 = proxmox.cluster('flat1');
  //   flat1.lxc('pihole', { node: 'proliant', ... })
  cluster(name):: {
    lxc(n, spec, opts={}):: $.lxc(n, { cluster: name } + spec, opts),
    vm(n, spec, opts={}):: $.vm(n, { cluster: name } + spec, opts),
  },

  // network is one interface: ip is 'dhcp' or a CIDR; gateway goes with a CIDR.
  network(bridge, ip='dhcp', gateway=null, vlan=null):: {
    bridge: bridge,
    ip: ip,
    [if gateway != null then 'gateway']: gateway,
    [if vlan != null then 'vlan']: vlan,
  },

  // docker are the container features Docker inside LXC needs.
  docker:: { nesting: true, keyctl: true },

  // templates are well-known LXC template volumes.
  templates:: {
    debian12: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
  },
}
