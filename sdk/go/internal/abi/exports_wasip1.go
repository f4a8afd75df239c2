//go:build wasip1

package abi

// The ABI version marker and proxy_on_memory_allocate. The callbacks
// (proxy_on_context_create and the rest) are exported by package proxywasm,
// which calls its dispatcher directly rather than through the Guest
// interface: an interface call costs a Go call per callback, and Go calls
// are dear in a Wasm guest.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

// scratch is lent to the host for results the SDK documents as transient
// (valid until the next such call), so hot paths such as body reads do not
// allocate. lendScratch is set only for the duration of one host call.
var (
	scratch     []byte
	lendScratch bool
	zeroByte    [1]byte
)

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) *byte {
	if size == 0 {
		return &zeroByte[0]
	}
	if lendScratch {
		lendScratch = false // at most one result per host call
		if uint32(cap(scratch)) < size {
			scratch = make([]byte, size)
		}
		return &scratch[:size][0]
	}
	b := make([]byte, size)
	return &b[0]
}
