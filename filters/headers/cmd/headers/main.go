// Command headers builds the built-in headers filter as a Proxy-Wasm module of its
// own, for users who want to run or replace it outside the built-in set:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o headers.wasm .
package main

import (
	"github.com/wasmgate/wasmgate/filters/headers"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// A c-shared Wasm module runs package initialisers but never main.
func init() { proxywasm.SetRootContext(headers.NewRoot) }

func main() {}
