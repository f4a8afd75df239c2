// Package policies holds the Rego policies shipped with wasmgate and their
// unit tests (*_test.rego). It has no Go API: its Go test runs every Rego
// test through OPA's test runner, so `go test ./...` (and `make test`)
// fails when a shipped policy breaks. README.md documents each policy, the
// policy block, the input document and decisions.
package policies
