module github.com/wasmgate/wasmgate/filters/builtin

go 1.26.0

require (
	github.com/wasmgate/wasmgate/filters/auth v0.0.0
	github.com/wasmgate/wasmgate/filters/headers v0.0.0
	github.com/wasmgate/wasmgate/filters/routing v0.0.0
	github.com/wasmgate/wasmgate/sdk/go v0.0.0
)

require golang.org/x/crypto v0.58.0 // indirect

replace (
	github.com/wasmgate/wasmgate/filters/auth => ../auth
	github.com/wasmgate/wasmgate/filters/headers => ../headers
	github.com/wasmgate/wasmgate/filters/routing => ../routing
	github.com/wasmgate/wasmgate/sdk/go => ../../sdk/go
)
