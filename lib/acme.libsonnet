// acme.libsonnet: TLS certificates (kind acme.certificate, steps/acme).
//
// The runner obtains certificates from the configured ACME CA (Let's
// Encrypt, or Pebble in the lab), solving DNS-01 challenges through the
// Route 53 backend, and deploys them on the runner host in certbot's layout:
// <certRoot>/live/<name>/{cert,chain,fullchain,privkey}.pem.
// Only DNS-01 is supported: it covers wildcards and hosts that are not
// reachable from the internet.
local runner = import 'runner.libsonnet';

{
  // certificate builds one acme.certificate resource.
  //   name     the resource name, and the default deploy directory live/<name>
  //   domains  the names on the certificate (the first is the subject);
  //            wildcards such as '*.apps.example.com' are allowed
  //   opts     keyType ('ec256' default, 'ec384', 'rsa2048', 'rsa4096'),
  //            renewBefore ('30d'; default: the CA's ARI window, else 30 days),
  //            zone (the DNS zone that must contain every domain),
  //            deploy { dir, owner, group, mode, keyMode,
  //                     reload: { command: [program, args...], timeout } },
  //            and the resource options dependsOn and adopt.
  certificate(name, domains, opts={})::
    assert std.isArray(domains) && std.length(domains) > 0 : 'acme.certificate %s: domains must be a non-empty list' % name;
    local specKeys = ['keyType', 'renewBefore', 'zone', 'challenge', 'deploy'];
    local unknown = [k for k in std.objectFields(opts) if !std.member(specKeys + ['dependsOn', 'adopt'], k)];
    assert std.length(unknown) == 0 : 'acme.certificate %s: unknown option(s) %s' % [name, std.join(', ', unknown)];
    runner.resource('acme.certificate', name,
                    { domains: domains } + { [k]: opts[k] for k in specKeys if std.objectHas(opts, k) },
                    opts),
}
