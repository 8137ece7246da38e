// The reference homelab as an infra repo: everything is generated from one
// data table (homelab.libsonnet). Each part is a function of that table:
//   guests.libsonnet    Proxmox VE LXC containers and VMs on the Hetzner host and
//                       on the Proliant in flat 1 (two Proxmox clusters)
//   network.libsonnet   each site's dnsmasq: every guest's and host's name and
//                       its reverse, DHCP reservations, and the forwarding of
//                       every other site's domain (sites.libsonnet)
//   identity.libsonnet  FreeIPA hosts (each after its guest), host groups,
//                       HTTP services and the admins sudo rule
//   dns.libsonnet       public A records in Route 53 for the names behind the proxy
//   certs.libsonnet     Let's Encrypt certificates for them (DNS-01), and one for
//                       a host not reachable from the internet
// Policies in policy/ are checked at push time and before every apply.
local runner = import 'runner.libsonnet';
local h = import 'homelab.libsonnet';

local guests = (import 'guests.libsonnet')(h);
local guestByName = { [g.name]: g for g in guests };

runner.output([
  guests,
  (import 'network.libsonnet')(h, guestOf=function(g) guestByName[g.name]),
  (import 'identity.libsonnet')(h, guestOf=function(g) guestByName[g.name]),
  (import 'dns.libsonnet')(h),
  (import 'certs.libsonnet')(h),
])
