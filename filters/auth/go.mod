module github.com/wasmgate/wasmgate/filters/auth

go 1.26.0

require (
	github.com/wasmgate/wasmgate/sdk/go v0.0.0
	golang.org/x/crypto v0.58.0
)

replace github.com/wasmgate/wasmgate/sdk/go => ../../sdk/go
