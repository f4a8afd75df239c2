// Package policy is wasmgate's policy stage: a Rego query, compiled and
// prepared once per configuration load with OPA, evaluated per request
// against an input document built from the exchange.
//
// [New] loads Rego modules and data documents, prepares the query and
// returns a [Stage], which implements the chain's Filter interface. A
// module or query that does not compile is an [*Error] whose problems name
// the Rego file, line and column, so that `wasmgate validate` can print
// them like any other configuration mistake.
//
// # Input
//
// The input document (version [InputVersion]) is described in
// policies/README.md at the repository root; only the fields a policy
// reads are built:
//
//	{
//	  "version": 1,
//	  "request": {"id", "method", "path", "query", "host", "scheme",
//	              "protocol", "headers", "body", "raw_body"},
//	  "source": {"address", "port"},
//	  "destination": {"address", "port"},
//	  "listener": "NAME",
//	  "tls": {},
//	  "route": "NAME", "upstream": "NAME",
//	  "consumer": "NAME", "claims": {...}
//	}
//
// # Decision
//
// The query's value is a boolean, or an object {allow, status, headers,
// body, reason}. An allow may set headers on the upstream request; a deny
// answers locally, 403 unless the decision names another status.
//
// # Failures
//
// An undefined decision, a decision of the wrong shape, a conflict between
// rules, an evaluation error, a request body the policy cannot see or
// claims that are not JSON are failures. Failing closed (the default) the
// stage itself denies with 403 and logs the policy and the reason; failing
// open it returns an [*EvalError] so that the chain logs it and skips the
// stage. A malformed or oversized request body is not a failure of the
// policy: it is denied with 400 or 413 whatever the failure mode.
//
// # Engines
//
// Config.Engine picks how the query is evaluated. OPA's topdown
// interpreter runs any policy. The wasm engine (wasm.go) compiles the
// modules and the query, when it is one reference such as
// data.wasmgate.authz.decision, to WebAssembly with OPA's compile package
// and runs the module on wazero through the OPA Wasm ABI: about four
// times faster per decision on the shipped RBAC policy. "auto", the
// default, uses wasm when the policy compiles and calls no builtin left
// to topdown (nondeterministic or clock-reading ones such as http.send,
// time.now_ns and io.jwt.decode_verify, and opa.runtime), else topdown,
// and logs the choice and the reason at info. Both engines build the same
// input (topdown as AST values, wasm as JSON) and read the same decisions,
// failures and logs, with these differences on wasm:
//
//   - Builtins the OPA wasm runtime implements (to_number, split, ...)
//     are undefined on errors; topdown fails the evaluation ("evaluation
//     failed" there, "decision is undefined" on wasm). Builtins run in Go
//     (sprintf, units.*, glob.match, regex.*, concat, json.marshal and
//     everything the runtime lacks) fail it on both.
//   - Comprehensions building arrays from sets or objects iterate them in
//     hash order, where topdown iterates them sorted.
//   - Strings that are not valid UTF-8 reach the policy with U+FFFD in
//     place of the invalid bytes.
//   - An evaluation is not interrupted when its context is cancelled.
//
// A guest failure (opa_abort, as for conflicting values of a rule, or a
// trap) fails that evaluation only: the instance is dropped and a new one
// made on the next evaluation.
//
// # Decision cache
//
// Decisions of deterministic policies are cached by the input fields they
// read (see Config.CacheSize).
//
// # Tests
//
// [Test] runs Rego unit tests (rules named test_* in *_test.rego files)
// with OPA's test runner; `wasmgate policy test` and the tests of the
// shipped policies use it.
package policy
