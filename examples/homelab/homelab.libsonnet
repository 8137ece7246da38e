// The reference homelab as data: one table that every part of the infra repo
// (guests, FreeIPA hosts, DNS records, certificates) is generated from.
// See shared/reference/homelab-infrastructure.md.
{
  // Public DNS (Route 53) and the internal domain (dnsmasq + FreeIPA).
  zone: 'mydomain.com',
  internalDomain: 'hetzner.int.mydomain',
  realm: 'INT.MYDOMAIN',

  // The Hetzner auction server: 48 GB RAM, Proxmox VE, Apache as reverse proxy.
  node: 'pve',
  proxy: { name: 'proxy', ipv4: '203.0.113.10' },  // the host's public address
  network: { bridge: 'vmbr0', cidr: '10.42.0.0/24', gateway: '10.42.0.1' },

  // Guests. memory in MiB; public: names served through the reverse proxy;
  // docker: Docker inside the LXC container (nesting + keyctl).
  guests: [
    { name: 'nextcloud', type: 'lxc', vmid: 101, cores: 2, memory: 4096, disk: '64GiB', ip: '10.42.0.101', public: ['cloud'] },
    { name: 'blog', type: 'lxc', vmid: 102, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.102', public: ['blog', 'www'] },
    { name: 'twitterbot', type: 'lxc', vmid: 103, cores: 1, memory: 512, disk: '4GiB', ip: '10.42.0.103', public: [] },
    { name: 'dokku', type: 'vm', vmid: 104, cores: 4, memory: 8192, disk: '64GiB', ip: '10.42.0.104', public: ['apps', '*.apps'] },
    { name: 'discourse', type: 'vm', vmid: 105, cores: 2, memory: 4096, disk: '40GiB', ip: '10.42.0.105', public: ['forum'] },
    { name: 'ipa2', type: 'lxc', vmid: 106, cores: 2, memory: 3072, disk: '16GiB', ip: '10.42.0.106', public: [], ipaServer: true },
    { name: 'nagios', type: 'lxc', vmid: 107, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.107', public: [] },
    { name: 'grafana', type: 'lxc', vmid: 108, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.108', public: ['grafana'] },
    { name: 'ipsilon', type: 'lxc', vmid: 109, cores: 1, memory: 1024, disk: '8GiB', ip: '10.42.0.109', public: ['sso'] },
    { name: 'postgresql', type: 'lxc', vmid: 110, cores: 2, memory: 4096, disk: '32GiB', ip: '10.42.0.110', public: [] },
    { name: 'workstation', type: 'lxc', vmid: 111, cores: 4, memory: 4096, disk: '32GiB', ip: '10.42.0.111', public: [], docker: true },
    { name: 'gitolite', type: 'lxc', vmid: 112, cores: 1, memory: 512, disk: '8GiB', ip: '10.42.0.112', public: ['git'] },
  ],

  // Names served by the proxy host itself (netdata for every host behind SSO).
  proxyNames: ['netdata'],

  // A certificate for a host not reachable from the internet: the reason the
  // operator uses DNS-01.
  internalCertificates: [{ name: 'nagios-internal', domains: ['nagios.mydomain.com'] }],
}
