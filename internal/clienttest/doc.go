// Package clienttest runs clients nobody here wrote — the AWS CLI, proxmoxer,
// certbot, curl — against the simulators of steps/route53/sim,
// steps/proxmox/sim and steps/freeipa/sim. The simulators are tested through
// our own Go clients elsewhere; these tests catch what those clients forgive
// (paging tokens, error shapes, message texts) and stand for the tools the
// homelab runs today. The tools come from Debian packages that .ci/run
// installs; with CI=true a missing tool fails the test, elsewhere it skips.
package clienttest
