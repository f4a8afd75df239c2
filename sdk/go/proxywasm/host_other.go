//go:build !wasip1

package proxywasm

import "github.com/wasmgate/wasmgate/sdk/go/internal/abi"

// host returns the host that calls go to: natively, the fake host a test
// installed with proxywasmtest.New.
func host() abi.Host { return abi.CurrentHost() }
