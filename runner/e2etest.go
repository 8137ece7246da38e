//go:build e2etest

package main

// An e2etest build compiles the test backend in, for end-to-end tests that
// run the real binary behind Gitolite.
func init() { extraBuiltins = append(extraBuiltins, testBackend) }
