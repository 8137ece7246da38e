// The reference homelab as an infra repo: everything is generated from one
// data table (homelab.libsonnet). Each part is a function of that table:
//   dns.libsonnet       public A records in Route 53 for the names behind the proxy
//   identity.libsonnet  FreeIPA hosts, host groups, HTTP services and the admins sudo rule
local runner = import 'runner.libsonnet';
local h = import 'homelab.libsonnet';

runner.output([
  (import 'dns.libsonnet')(h),
  (import 'identity.libsonnet')(h),
])
