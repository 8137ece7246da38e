// dnsmasq.libsonnet: the homelab's sites and their dnsmasq (kinds
// dnsmasq.host, dnsmasq.dhcpHost, dnsmasq.forward), on top of
// runner.libsonnet.
//
//   local dnsmasq = import 'dnsmasq.libsonnet';
//   local hetzner = dnsmasq.site('hetzner', 'hetzner.int.mydomain', '10.0.0.0/24', '10.0.0.1');
//   local flat1 = dnsmasq.site('flat1', 'flat1.int.mydomain', '192.168.1.0/24', '192.168.1.1');
//   [
//     dnsmasq.forwarding([hetzner, flat1]),   // each site forwards the others' domain and reverse zone
//     flat1.guest('nas', '192.168.1.20'),      // host record + DHCP reservation, MAC from the name
//     proxmox.lxc('nas', { ..., networks: [flat1.network('nas', 'vmbr0')] }),  // the same MAC
//   ]
//
// A site is declared once: its name (a key of backends.dnsmasq.sites in the
// runner config), its domain, its IPv4 subnet and the address its dnsmasq
// answers on (port 53 unless opts.port). Host names are relative to the
// site's domain ('nas') or fully qualified ('nas.flat1.int.mydomain').
local r = import 'runner.libsonnet';

{
  // mac derives a stable MAC address from a name: 02 (locally administered,
  // unicast: IEEE 802 sets bit 1 of the first octet for local addresses and
  // bit 0 for group ones) followed by the first five bytes of the name's MD5.
  mac(name)::
    local h = std.md5(name);
    '02:' + std.join(':', [std.substr(h, 2 * i, 2) for i in std.range(0, 4)]),

  // site returns the helpers bound to one site.
  site(name, domain, subnet, dns, opts={}):: {
    local site = self,
    name: name,
    domain: domain,
    subnet: subnet,
    dns: dns,
    port:: if std.objectHas(opts, 'port') then opts.port else 53,

    // fqdn qualifies a host name in the site's domain (lower case).
    fqdn(host)::
      local h = std.asciiLower(std.rstripChars(host, '.'));
      if h == domain || std.endsWith(h, '.' + domain) then h else h + '.' + domain,

    // label is a host's first label, its DHCP hostname.
    label(host):: std.split(site.fqdn(host), '.')[0],

    // mac is the MAC address of a host of the site, derived from its FQDN.
    mac(host):: $.mac(site.fqdn(host)),

    // host is a host record: ipv4 (and opts.ipv6) for the host's FQDN.
    host(host, ipv4, opts={})::
      r.resource('dnsmasq.host', site.fqdn(host),
                 { site: name, name: site.fqdn(host), ipv4: ipv4 }
                 + (if std.objectHas(opts, 'ipv6') then { ipv6: opts.ipv6 } else {}),
                 { [k]: opts[k] for k in ['dependsOn', 'adopt'] if std.objectHas(opts, k) }),

    // reservation is a DHCP reservation of ip for the host; the MAC is
    // opts.mac, or the one mac(host) derives.
    reservation(host, ip, opts={})::
      r.resource('dnsmasq.dhcpHost', site.fqdn(host),
                 { site: name, mac: if std.objectHas(opts, 'mac') then opts.mac else site.mac(host), ip: ip, hostname: site.label(host) },
                 { [k]: opts[k] for k in ['dependsOn', 'adopt'] if std.objectHas(opts, k) }),

    // guest is what a guest on the site gets: its host record and, unless
    // opts.dhcp is false (a static address), a reservation of the same
    // address for its MAC (opts.mac, or the derived one).
    guest(host, ip, opts={})::
      [site.host(host, ip, opts)]
      + (if std.objectHas(opts, 'dhcp') && !opts.dhcp then [] else [site.reservation(host, ip, opts)]),

    // network is a Proxmox guest network on bridge that takes its address
    // by DHCP with the host's derived MAC, so guest and reservation agree.
    network(host, bridge, opts={}):: { bridge: bridge, ip: 'dhcp', mac: site.mac(host) } + opts,
  },

  // forwarding makes every site forward every other site's domain and its
  // subnet's reverse zone to that site's dnsmasq: one dnsmasq.forward per
  // ordered pair, named '<from>-to-<to>'.
  forwarding(sites):: [
    r.resource('dnsmasq.forward', from.name + '-to-' + to.name,
               { site: from.name, domain: to.domain, server: to.dns, reverse: [to.subnet] }
               + (if to.port != 53 then { port: to.port } else {}))
    for from in sites
    for to in sites
    if from.name != to.name
  ],
}
