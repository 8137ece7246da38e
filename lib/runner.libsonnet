// runner.libsonnet: the resource model of gitops-runner.
//
// main.jsonnet evaluates to { resources: [ ... ] }; each resource is
// { kind, name, spec, dependsOn?: ['kind/name', ...], adopt?: bool }.
// These helpers build such entries; backends' libraries build on them.
{
  // resource builds one resource entry. opts may carry dependsOn and adopt.
  // (One object with optional fields rather than `+` of objects, and
  // std.join rather than std.flattenArrays below: both cost the evaluation
  // of every resource; see README "Performance".)
  resource(kind, name, spec, opts={}):: {
    kind: kind,
    name: name,
    spec: spec,
    [if std.objectHas(opts, 'dependsOn') then 'dependsOn']: [$.ref(d) for d in opts.dependsOn],
    [if std.objectHas(opts, 'adopt') then 'adopt']: opts.adopt,
  },

  // ref turns a resource entry or a 'kind/name' string into 'kind/name'.
  ref(r):: if std.isString(r) then r else r.kind + '/' + r.name,

  // output wraps a list (or nested lists) of resources as main.jsonnet's result.
  output(rs):: { resources: std.join([], [if std.isArray(r) then r else [r] for r in rs]) },
}
