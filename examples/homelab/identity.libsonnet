// identity.libsonnet: the homelab's FreeIPA objects, generated from the data
// table (homelab.libsonnet).
//
//   local identity = import 'identity.libsonnet';
//   identity(h)                       // FreeIPA resources only
//   identity(h, guestOf=function(g) guests[g.name])  // each host after its guest
//
// Every guest gets a freeipa.host <name>.<its site's domain> in host group
// containers or vms, plus webservers and an HTTP/ service (for Kerberos SSO
// behind the reverse proxy) when it has public names. The IPA replica is
// left out: ipa-replica-install enrols it. Sudo integration: members of
// FreeIPA's admins group may sudo anything on every host.
local ipa = import 'freeipa.libsonnet';

function(h, guestOf=null)
  local groups = {
    containers: ipa.hostgroup('containers', { description: 'LXC containers on Proxmox' }),
    vms: ipa.hostgroup('vms', { description: 'Virtual machines on Proxmox' }),
    webservers: ipa.hostgroup('webservers', { description: 'Guests with public names behind the reverse proxy' }),
  };
  local guests = [g for g in h.guests if !std.get(g, 'ipaServer', false)];
  local fqdn(g) = g.name + '.' + h.sites[g.site].domain;
  local host(g) = ipa.host(fqdn(g), {
    description: '%s %d on %s' % [if g.type == 'vm' then 'VM' else 'LXC container', g.vmid, h.sites[g.site].proxmox.node],
    locality: std.asciiUpper(g.site[0]) + g.site[1:],
    // Internal names are served by dnsmasq, not FreeIPA's DNS: skip the
    // resolvability check (FreeIPA's host_add without force or ip_address
    // requires the name to resolve: `ipa help host-add`, --force).
    force: true,
    // The Ansible playbooks enrolled the existing guests: take them over.
    adopt: true,
    hostGroups: [if g.type == 'vm' then groups.vms else groups.containers]
                + (if g.public != [] then [groups.webservers] else []),
  } + (if guestOf != null then { dependsOn: [guestOf(g)] } else {}));
  local hosts = { [g.name]: host(g) for g in guests };
  std.objectValues(groups)
  + [hosts[g.name] for g in guests]
  // force: service_add checks that the host name resolves, too.
  + [ipa.service('HTTP', hosts[g.name], { force: true, adopt: true }) for g in guests if g.public != []]
  + [
    ipa.sudorule('admins', {
      description: 'Members of admins may run any command on any host',
      allHosts: true,
      allCommands: true,
      groups: ['admins'],  // FreeIPA's own group: a name, not declared here
    }),
  ]
