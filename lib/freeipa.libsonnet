// freeipa.libsonnet: FreeIPA resources (steps/freeipa).
//
//   local ipa = import 'freeipa.libsonnet';
//   local web = ipa.hostgroup('webservers', { description: 'Web servers' });
//   local h = ipa.host('web1.example.test', { force: true, hostGroups: [web] });
//   [web, h, ipa.service('HTTP', h)]
//
// Every helper takes opts: the spec's fields (see steps/freeipa/README.md),
// plus dependsOn and adopt for the resource itself. Wherever a spec lists
// other FreeIPA objects (hostGroups, hosts, users, groups, managedBy), an
// entry may be a name or a resource built by these helpers: a resource
// also becomes a dependsOn, so it is created first. Use names for objects
// that exist in FreeIPA but are not declared (e.g. the admins group).
local r = import 'runner.libsonnet';

local resourceOpts = ['dependsOn', 'adopt'];

// key returns the FreeIPA name of a name or resource entry.
local key(x) =
  if std.isString(x) then x
  else if x.kind == 'freeipa.host' then x.spec.fqdn
  else if x.kind == 'freeipa.user' then x.spec.uid
  else if x.kind == 'freeipa.service' then x.spec.principal
  else x.spec.name;

// build makes a resource: the reference fields turn into names plus
// dependsOn entries for the resources among them.
local build(kind, name, base, opts, refFields) =
  local spec = base + {
    [f]: if std.member(refFields, f) then [key(x) for x in opts[f]] else opts[f]
    for f in std.objectFields(opts)
    if !std.member(resourceOpts, f)
  };
  local deps = std.flattenArrays([
    [x for x in opts[f] if !std.isString(x)]
    for f in refFields
    if std.objectHas(opts, f)
  ]) + (if std.objectHas(opts, 'dependsOn') then opts.dependsOn else []);
  r.resource(kind, name, spec,
             (if deps != [] then { dependsOn: deps } else {})
             + (if std.objectHas(opts, 'adopt') then { adopt: opts.adopt } else {}));

{
  // host: a machine that enrols with ipa-client-install. On create, a
  // one-time enrolment password is written to the runner's secret
  // directory (oneTimePassword: false to skip). Set force: true when DNS is
  // not served by FreeIPA; ipAddress to have IPA DNS add the records.
  host(fqdn, opts={}):: build('freeipa.host', fqdn, { fqdn: fqdn }, opts, ['hostGroups', 'managedBy']),

  // hostgroup: hosts and nested host groups (leave both out to manage the
  // members on the hosts instead).
  hostgroup(name, opts={}):: build('freeipa.hostgroup', name, { name: name }, opts, ['hosts', 'hostGroups']),

  // service: a Kerberos service principal SERVICE/HOST on an existing host;
  // host is an fqdn or a host resource. The resource is named SERVICE_HOST
  // (resource names have no slashes), e.g. freeipa.service/HTTP_web1.example.test.
  service(service, host, opts={}):: build(
    'freeipa.service', service + '_' + key(host), { principal: service + '/' + key(host) },
    opts + (if std.isString(host) then {} else { dependsOn+: [host] }), ['managedBy']
  ),

  // user: a person; passwords are never managed.
  user(uid, firstName, lastName, opts={}):: build('freeipa.user', uid, { uid: uid, firstName: firstName, lastName: lastName }, opts, []),

  // group: a user group with users and nested groups.
  group(name, opts={}):: build('freeipa.group', name, { name: name }, opts, ['users', 'groups']),

  // sudorule: who (users, groups or allUsers) may run what (commands, full
  // paths, or allCommands) where (hosts, hostGroups or allHosts), with
  // sudoers options (options: ['!authenticate']).
  sudorule(name, opts={}):: build('freeipa.sudorule', name, { name: name }, opts, ['hosts', 'hostGroups', 'users', 'groups']),
}
