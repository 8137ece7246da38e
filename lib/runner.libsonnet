// runner.libsonnet: the resource model of gitops-runner.
//
// main.jsonnet evaluates to { resources: [ ... ] }; each resource is
// { kind, name, spec, dependsOn?: ['kind/name', ...], adopt?: bool }.
// These helpers build such entries; backends' libraries build on them.
{
  // resource builds one resource entry. opts may carry dependsOn and adopt.
  resource(kind, name, spec, opts={}):: {
    kind: kind,
    name: name,
    spec: spec,
  } + (if std.objectHas(opts, 'dependsOn') then { dependsOn: [$.ref(d) for d in opts.dependsOn] } else {})
    + (if std.objectHas(opts, 'adopt') then { adopt: opts.adopt } else {}),

  // ref turns a resource entry or a 'kind/name' string into 'kind/name'.
  ref(r):: if std.isString(r) then r else r.kind + '/' + r.name,

  // output wraps a list (or nested lists) of resources as main.jsonnet's result.
  output(rs):: { resources: std.flattenArrays([if std.isArray(r) then r else [r] for r in rs]) },
}
