// sites.libsonnet: the homelab's sites as dnsmasq.libsonnet sites, by name,
// from the data table (homelab.libsonnet): sites(h).flat1.guest(...) etc.
//
//   local sites = import 'sites.libsonnet';
//   sites(import 'homelab.libsonnet').flat1.network('jellyfin', 'vmbr0')
local dnsmasq = import 'dnsmasq.libsonnet';

function(h) {
  [name]: dnsmasq.site(name, h.sites[name].domain, h.sites[name].subnet, h.sites[name].dns,
                       { port: std.get(h.sites[name], 'dnsPort', 53) })
  for name in std.objectFields(h.sites)
}
