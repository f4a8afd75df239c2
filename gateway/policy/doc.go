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
