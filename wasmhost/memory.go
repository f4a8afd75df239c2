package wasmhost

import "github.com/wasmgate/wasmgate/wasmhost/internal/rewrite"

// DefineImportedMemory returns a copy of the module wasm in which its
// memory import env.memory becomes a memory the module defines itself, with
// the import's minimum and maxPages (at least that minimum) as its maximum.
//
// wazero's host modules export only functions, so a module that imports its
// memory, as OPA's compiled policies do, cannot be instantiated as it is.
// The import must be the module's only memory; the defined one keeps its
// index, so the code is unchanged and the module's export of the memory, if
// any, names the defined one.
func DefineImportedMemory(wasm []byte, maxPages uint32) ([]byte, error) {
	return rewrite.DefineMemory(wasm, "env", "memory", maxPages)
}
