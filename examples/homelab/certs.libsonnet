// The homelab's certificates, generated from the data table
// (homelab.libsonnet): one per guest that serves public names through the
// reverse proxy, one for the names the proxy host serves itself, and the
// internal ones (hosts not reachable from the internet: the reason this
// homelab solves ACME challenges with DNS-01).
//
//   local certs = import 'certs.libsonnet';
//   certs(import 'homelab.libsonnet', { reload: ['/usr/bin/systemctl', 'reload', 'apache2'] })
//
// opts.reload, when set, is run after a certificate changes (the program
// must be listed in backends.acme.reloadAllowed of the runner config);
// opts.keyType overrides the default key type (ec256).
local acme = import 'acme.libsonnet';

function(h, opts={})
  local fqdn(n) = n + '.' + h.zone;
  local deploy = if std.objectHas(opts, 'reload') && opts.reload != null
  then { deploy: { reload: { command: opts.reload, timeout: '60s' } } }
  else {};
  local common = deploy + (if std.objectHas(opts, 'keyType') then { keyType: opts.keyType } else {});
  [
    acme.certificate(g.name, [fqdn(n) for n in g.public], common { zone: h.zone })
    for g in h.guests
    if std.length(g.public) > 0
  ] + [
    acme.certificate(h.proxy.name, [fqdn(n) for n in h.proxyNames], common { zone: h.zone }),
  ] + [
    acme.certificate(c.name, c.domains, common)
    for c in h.internalCertificates
  ]
