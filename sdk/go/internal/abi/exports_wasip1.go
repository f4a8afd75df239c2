//go:build wasip1

package abi

import "unsafe"

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

// retBuf receives host results of up to retBufSize bytes from a host that
// calls wasmgate_return_buffer (wasmgate): it writes them here instead of
// calling proxy_on_memory_allocate, a nested call into the guest that
// costs more than the rest of most host calls. The wrappers in
// imports_wasip1.go copy a result out of it before the next host call.
var (
	retBuf     [retBufSize]byte
	retBufDesc [2]uint32
)

const retBufSize = 4096

// wasmgateReturnBuffer tells the host where retBuf is: it returns the
// address of two little-endian u32, the buffer's address and size.
//
//go:wasmexport wasmgate_return_buffer
func wasmgateReturnBuffer() uint32 {
	retBufDesc = [2]uint32{uint32(uintptr(unsafe.Pointer(&retBuf[0]))), retBufSize}
	return uint32(uintptr(unsafe.Pointer(&retBufDesc[0])))
}

// inRetBuf tells whether p points into retBuf.
func inRetBuf(p *byte) bool {
	return uintptr(unsafe.Pointer(p))-uintptr(unsafe.Pointer(&retBuf[0])) < retBufSize
}

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
