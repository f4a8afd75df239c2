// Command auth builds the built-in auth filter as a Proxy-Wasm module of its
// own, for users who want to run or replace it outside the built-in set:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o auth.wasm .
package main

import (
	"github.com/wasmgate/wasmgate/filters/auth"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// A c-shared Wasm module runs package initialisers but never main.
func init() { proxywasm.SetRootContext(auth.NewRoot) }

func main() {}
