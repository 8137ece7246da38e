// route53.libsonnet: Route 53 record sets (kind route53.record), on top of
// runner.libsonnet.
//
//   local route53 = import 'route53.libsonnet';
//   local dns = route53.zone('mydomain.com');
//   [dns.a('blog', '203.0.113.10'), dns.cname('www', 'blog.mydomain.com'),
//    dns.txt('@', 'v=spf1 -all'), dns.alias('@', 'A', 'blog')]
//
// Names are relative to the zone ('blog', '*.apps'), '@' for the apex, or
// fully qualified with a trailing dot ('blog.mydomain.com.'). Each record set
// is one resource named '<TYPE>-<fqdn>', e.g. route53.record/A-blog.mydomain.com
// (a wildcard label '*' is written '_wildcard' in the resource name, which
// allows only letters, digits, '.', '_' and '-'). opts may carry ttl (default
// 300), dependsOn, adopt, and id (another resource name).
local r = import 'runner.libsonnet';

{
  // fqdn qualifies a record name in zone (lower case, no trailing dot).
  fqdn(zone, name)::
    local z = std.asciiLower(std.rstripChars(zone, '.'));
    local n = std.asciiLower(name);
    if n == '' || n == '@' then z
    else if std.endsWith(n, '.') then std.rstripChars(n, '.')
    else if n == z || std.endsWith(n, '.' + z) then n
    else n + '.' + z,

  // record builds one record set. values is a string or a list of strings;
  // opts.zone is required here (zone(z) below binds it).
  record(name, type, values, opts={})::
    assert std.objectHas(opts, 'zone') : 'route53.record: opts.zone is required (or use route53.zone(z).record)';
    local t = std.asciiUpper(type);
    local spec = {
      zone: opts.zone,
      name: $.fqdn(opts.zone, name),
      type: t,
    } + (if std.objectHas(opts, 'alias') then { alias: opts.alias }
         else { values: if std.isArray(values) then values else [values] })
      + (if std.objectHas(opts, 'ttl') then { ttl: opts.ttl } else {});
    r.resource('route53.record', if std.objectHas(opts, 'id') then opts.id else $.id(spec.name, t), spec,
               { [k]: opts[k] for k in ['dependsOn', 'adopt'] if std.objectHas(opts, k) }),

  // id is the resource name of a record set: 'A-blog.mydomain.com'.
  id(fqdn, type):: std.asciiUpper(type) + '-' + std.strReplace(fqdn, '*', '_wildcard'),

  // zone returns the helpers bound to one hosted zone.
  zone(z):: {
    local zopts(opts) = opts + { zone: z },
    record(name, type, values, opts={}):: $.record(name, type, values, zopts(opts)),
    a(name, ips, opts={}):: self.record(name, 'A', ips, opts),
    aaaa(name, ips, opts={}):: self.record(name, 'AAAA', ips, opts),
    cname(name, target, opts={}):: self.record(name, 'CNAME', target, opts),
    // txt takes plain strings; the backend quotes them and splits them at 255 bytes.
    txt(name, texts, opts={}):: self.record(name, 'TXT', texts, opts),
    // mx takes 'PRIORITY HOST' strings, e.g. '10 mail.mydomain.com'.
    mx(name, values, opts={}):: self.record(name, 'MX', values, opts),
    caa(name, values, opts={}):: self.record(name, 'CAA', values, opts),
    // alias points name at another record set of the same type in this zone.
    alias(name, type, target, opts={}):: self.record(name, type, null, opts + { alias: { name: $.fqdn(z, target) } }),
  },
}
