// The public DNS of the reference homelab: every name served through the
// reverse proxy (each guest's `public` names and the proxy's own names) is an
// A record for the proxy's public address in the Route 53 zone.
//
//   local homelab = import 'homelab.libsonnet';
//   (import 'dns.libsonnet')(homelab)
local route53 = import 'route53.libsonnet';

function(h)
  local zone = route53.zone(h.zone);
  [zone.a(name, h.proxy.ipv4) for g in h.guests for name in g.public]
  + [zone.a(name, h.proxy.ipv4) for name in h.proxyNames]
