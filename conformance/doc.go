// Package conformance is wasmgate's black-box conformance suite: data-driven
// cases, each an HCL file that holds a gateway configuration fragment, the
// backends it needs and the requests to send with what must come back.
//
// The runner starts a wasmgate binary and echo backends on loopback with free
// ports, runs every case on each protocol the case and the build allow (h1,
// h2, h3) and reports a case × protocol table of pass, fail, skip and
// pending cells, as text and as JSON. The cases are embedded in the package
// ([Embedded]) so that `wasmgate conformance` runs them anywhere.
//
// The case language is described in README.md next to this file and, by
// example, in the cases directory.
package conformance
