module github.com/wasmgate/wasmgate/filters/headers

go 1.26.0

require github.com/wasmgate/wasmgate/sdk/go v0.0.0

replace github.com/wasmgate/wasmgate/sdk/go => ../../sdk/go
