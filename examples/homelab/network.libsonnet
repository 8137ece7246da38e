// network.libsonnet: the internal DNS and DHCP of every site, from the data
// table (homelab.libsonnet), on each site's dnsmasq:
//   - every site forwards every other site's domain and reverse zone to that
//     site's dnsmasq (dnsmasq.forward, 12 for 4 sites);
//   - every guest and host gets its name in its site's domain
//     (dnsmasq.host: nextcloud.hetzner.int.mydomain and its reverse), and a
//     DHCP reservation when it takes its address by DHCP (dnsmasq.dhcpHost:
//     a guest's MAC derived from its name, a host's own mac).
//
//   local network = import 'network.libsonnet';
//   network(h, guestOf=function(g) guests[g.name])  // each record after its guest
//
// Nothing when h.dnsmasq is false.
local dnsmasq = import 'dnsmasq.libsonnet';
local sites = import 'sites.libsonnet';

function(h, guestOf=null)
  local site = sites(h);
  local after(g) = if guestOf != null then { dependsOn: [guestOf(g)] } else {};
  local siteOf(e) =
    assert std.objectHas(site, e.site) : 'homelab.libsonnet: %s: site %s is not one of sites (%s)' % [e.name, e.site, std.join(', ', std.objectFields(site))];
    site[e.site];
  if !h.dnsmasq then [] else
    dnsmasq.forwarding([site[n] for n in std.objectFields(site)])
    + std.flattenArrays([
      siteOf(g).guest(g.name, g.ip, after(g) { dhcp: std.get(g, 'dhcp', false) })
      for g in h.guests
    ])
    + std.flattenArrays([
      siteOf(m).guest(m.name, m.ip, if std.objectHas(m, 'mac') then { mac: m.mac } else { dhcp: false })
      for m in h.hosts
    ])
