// Package pipeline runs one commit of an infra repo through the runner's
// seven steps — load, decode, observe, plan, policy, apply, report — each a
// function taking values and returning values (see Run). Only observe and
// apply talk to the world, through the backends of steps.Registry.
package pipeline
