// Package simapi is the test-facing API the three vendor simulators
// (steps/proxmox/sim, steps/route53/sim, steps/freeipa/sim) share: request
// Counters, a request Log and a FaultQueue of one-shot faults. A simulator
// keeps one of each, counts and logs every request it serves, and asks the
// queue before it answers; what a fault looks like on the wire (a PVE
// reason phrase, a Route 53 XML error, a FreeIPA HTML page) stays with the
// simulator, as the queue's type parameter.
//
// Tests then read every simulator the same way: Counters(), Count(op),
// Requests(), ResetCounters(), FailNext(match, fault, n) and Close() error.
package simapi
