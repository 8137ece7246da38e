// Package gitopsrunner is the root of the gitops-runner module. The `runner`
// command lives in ./runner; DESIGN.md in the shared folder describes the flow.
package gitopsrunner
