// The reference homelab as data: one table that every part of the infra repo
// (guests, internal DNS and DHCP, FreeIPA hosts, public DNS records,
// certificates) is generated from.
{
  // Public DNS (Route 53) and the FreeIPA realm.
  zone: 'mydomain.com',
  realm: 'INT.MYDOMAIN',

  // The sites: each has a /24, its own domain and a dnsmasq doing DNS and
  // DHCP (dns: the address it answers on, dnsPort its port), and every site
  // resolves every other site's names, forward and reverse. A site with
  // proxmox runs guests there: cluster is the key of backends.proxmox.clusters
  // in the runner config, node the Proxmox node, bridge and gateway the
  // guests' network.
  sites: {
    // The Hetzner auction server (48 GB RAM): Proxmox VE, Apache as reverse
    // proxy, dnsmasq for the Proxmox network.
    hetzner: {
      domain: 'hetzner.int.mydomain', subnet: '10.42.0.0/24', dns: '10.42.0.1', dnsPort: 53,
      proxmox: { cluster: 'hetzner', node: 'pve', bridge: 'vmbr0', gateway: '10.42.0.1' },
    },
    // Flat 1: the HP Proliant Microserver (4 GB RAM), now a second Proxmox
    // host; its misc services run in LXC containers. It does DHCP/DNS too.
    flat1: {
      domain: 'flat1.int.mydomain', subnet: '192.168.1.0/24', dns: '192.168.1.2', dnsPort: 53,
      proxmox: { cluster: 'flat1', node: 'proliant', bridge: 'vmbr0', gateway: '192.168.1.1' },
    },
    // Flat 2: a Raspberry Pi doing DHCP/DNS.
    flat2: { domain: 'flat2.int.mydomain', subnet: '192.168.2.0/24', dns: '192.168.2.2', dnsPort: 53 },
    // The OVH VPS (2 GB RAM): the first FreeIPA server.
    ovh: { domain: 'ovh.int.mydomain', subnet: '10.43.0.0/24', dns: '10.43.0.1', dnsPort: 53 },
  },
  // Whether the sites' dnsmasq get their host records, reservations and
  // forwarding from this repo (backends.dnsmasq in the runner config).
  dnsmasq: true,

  // The reverse proxy: the Hetzner host's public address.
  proxy: { name: 'proxy', ipv4: '203.0.113.10' },

  // Guests. memory in MiB; ip: their address, static unless dhcp: true (then
  // the site's dnsmasq reserves it for the MAC derived from the name);
  // public: names served through the reverse proxy; docker: Docker inside
  // the LXC container (nesting + keyctl); ipaServer: a FreeIPA server.
  guests: [
    { name: 'nextcloud', site: 'hetzner', type: 'lxc', vmid: 101, cores: 2, memory: 4096, disk: '64GiB', ip: '10.42.0.101', public: ['cloud'] },
    { name: 'blog', site: 'hetzner', type: 'lxc', vmid: 102, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.102', public: ['blog', 'www'] },
    { name: 'twitterbot', site: 'hetzner', type: 'lxc', vmid: 103, cores: 1, memory: 512, disk: '4GiB', ip: '10.42.0.103', public: [] },
    { name: 'dokku', site: 'hetzner', type: 'vm', vmid: 104, cores: 4, memory: 8192, disk: '64GiB', ip: '10.42.0.104', public: ['apps', '*.apps'] },
    { name: 'discourse', site: 'hetzner', type: 'vm', vmid: 105, cores: 2, memory: 4096, disk: '40GiB', ip: '10.42.0.105', public: ['forum'] },
    { name: 'ipa2', site: 'hetzner', type: 'lxc', vmid: 106, cores: 2, memory: 3072, disk: '16GiB', ip: '10.42.0.106', public: [], ipaServer: true },
    { name: 'nagios', site: 'hetzner', type: 'lxc', vmid: 107, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.107', public: [] },
    { name: 'grafana', site: 'hetzner', type: 'lxc', vmid: 108, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.108', public: ['grafana'] },
    { name: 'ipsilon', site: 'hetzner', type: 'lxc', vmid: 109, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.109', public: ['sso'] },
    { name: 'postgresql', site: 'hetzner', type: 'lxc', vmid: 110, cores: 2, memory: 4096, disk: '32GiB', ip: '10.42.0.110', public: [] },
    { name: 'workstation', site: 'hetzner', type: 'lxc', vmid: 111, cores: 4, memory: 4096, disk: '32GiB', ip: '10.42.0.111', public: [], docker: true },
    { name: 'gitolite', site: 'hetzner', type: 'lxc', vmid: 112, cores: 1, memory: 512, disk: '8GiB', ip: '10.42.0.112', public: ['git'] },
    // On the Proliant: Samba and NFS (the TVHeadend recordings, the
    // backups), and Jellyfin serving the media.
    { name: 'files', site: 'flat1', type: 'lxc', vmid: 101, cores: 1, memory: 512, disk: '8GiB', ip: '192.168.1.21', dhcp: true, public: [] },
    { name: 'jellyfin', site: 'flat1', type: 'lxc', vmid: 102, cores: 2, memory: 1536, disk: '16GiB', ip: '192.168.1.22', dhcp: true, public: [] },
  ],

  // Machines that are not guests, by site: their names in the site's
  // dnsmasq; mac: a DHCP reservation for the machine's own MAC.
  hosts: [
    { name: 'pve', site: 'hetzner', ip: '10.42.0.1' },
    { name: 'proliant', site: 'flat1', ip: '192.168.1.2' },
    { name: 'libreelec', site: 'flat1', ip: '192.168.1.30', mac: 'b8:27:eb:30:01:01' },  // the Raspberry Pi with the DVB-T tuner
    { name: 'pi', site: 'flat2', ip: '192.168.2.2' },
    { name: 'ipa', site: 'ovh', ip: '10.43.0.1' },  // the VPS: FreeIPA's first server (ipa2 on Hetzner is the second)
  ],

  // Names served by the proxy host itself (netdata for every host behind SSO).
  proxyNames: ['netdata'],

  // A certificate for a host not reachable from the internet: the reason the
  // operator uses DNS-01.
  internalCertificates: [{ name: 'nagios-internal', domains: ['nagios.mydomain.com'] }],
}
