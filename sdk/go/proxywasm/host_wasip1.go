//go:build wasip1

package proxywasm

import "github.com/wasmgate/wasmgate/sdk/go/internal/abi"

// host returns the host that calls go to: in a Wasm build, the real one,
// called statically (see abi.WasmHost). proxywasmtest's fake host is for
// native tests only.
func host() abi.WasmHost { return abi.WasmHost{} }
