// Package pipeline runs one commit of an infra repo through the runner's
// steps, each a function that takes values and returns a value plus
// Diagnostics under a typed Stage. Only observe and apply talk to the world,
// through the backends of steps.Registry.
//
// One file per step, in the order a run takes them:
//
//	load.go       1 load: resolve the commit, evaluate its Jsonnet (Evaluate, Runner.load)
//	evalchild.go    the evaluation in a child process the kernel limits (Runner.Isolate)
//	decode.go     2 decode: the resources, strictly, every problem at once (Decode)
//	inventory.go    what the runner owns; delete candidates (Targets), the next inventory
//	observe.go    3 observe: every backend in parallel (Observe), warnings, live facts
//	plan.go       4 plan: diff and order (MakePlan)
//	identity.go     one live object, one resource: collisions and renames (Identities)
//	policy.go     5 policy: the input document and the policy check
//	apply.go      6 apply: the journal, then the changes in order
//	journal.go      the write-ahead journal of an apply's creates
//	record.go     7 record: the status commit and the note
//	giveup.go       the status of a job whose workers died (RecordGivenUp)
//
// and the compositions of those steps:
//
//	run.go        Run (deploy, replay, plan, drift) and PolicyInput (runner policy eval)
//	check.go      Check: the push-time check (load, decode, policy)
//
// with the report (report.go, rendered by render.go), the diagnostics and
// stages (diag.go) and the Runner itself (runner.go).
package pipeline
