package wasmhost

import "errors"

// Load errors. Load wraps one of them with details; use errors.Is. They all
// concern the plugin's module (an HCL "module" attribute), except
// ErrVMStartFailed and ErrConfigureFailed which concern its configuration.
var (
	// ErrInvalidModule: the bytes are not a valid WebAssembly module, or it
	// needs memory beyond the limit, or it does not export "memory".
	ErrInvalidModule = errors.New("invalid wasm module")
	// ErrNoABIMarker: the module exports neither proxy_abi_version_0_2_1 nor
	// proxy_abi_version_0_2_0, so it is not a Proxy-Wasm module.
	ErrNoABIMarker = errors.New("not a Proxy-Wasm module: no proxy_abi_version_0_2_x export")
	// ErrUnsupportedABI: the module targets an ABI version this host does not
	// speak (0.1.0).
	ErrUnsupportedABI = errors.New("unsupported Proxy-Wasm ABI version")
	// ErrNoAllocator: the module exports neither proxy_on_memory_allocate nor
	// malloc.
	ErrNoAllocator = errors.New("module exports no proxy_on_memory_allocate or malloc")
	// ErrUnresolvedImport: the module imports a function the host does not
	// provide.
	ErrUnresolvedImport = errors.New("module imports an unknown function")
	// ErrStartFailed: _initialize, main or _start failed or trapped.
	ErrStartFailed = errors.New("module start failed")
	// ErrVMStartFailed: proxy_on_vm_start returned false.
	ErrVMStartFailed = errors.New("proxy_on_vm_start failed")
	// ErrConfigureFailed: proxy_on_configure returned false (the plugin
	// rejected its configuration).
	ErrConfigureFailed = errors.New("proxy_on_configure failed")
)

// Runtime errors, returned (wrapped) by HTTPContext methods. After any of
// them but ErrPaused, the HTTPContext keeps failing; call Done anyway.
var (
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, a Go
	// panic, proc_exit...) during a callback. The instance is replaced.
	ErrTrap = errors.New("wasm trap")
	// ErrDeadline: a callback exceeded the plugin's CallTimeout. The instance
	// is replaced.
	ErrDeadline = errors.New("wasm callback deadline exceeded")
	// ErrMemoryLimit accompanies ErrTrap when the instance had little room
	// left under its memory cap when it trapped (a heuristic: less than half
	// the cap, at most 4 MiB, of headroom).
	ErrMemoryLimit = errors.New("wasm memory limit reached")
	// ErrInstanceLost: the instance this stream was bound to was discarded
	// (because of another stream's failure, or Plugin.Close) while the
	// stream was paused, or no live instance could take the stream over
	// (see "Bystanders" in the package documentation).
	ErrInstanceLost = errors.New("wasm instance discarded")
	// ErrPaused: the stream was paused and the caller's context ended before
	// the plugin resumed it. The instance stays healthy.
	ErrPaused = errors.New("stream paused by the plugin was not resumed in time")
	// ErrClosed: the plugin or host was closed.
	ErrClosed = errors.New("wasm plugin closed")
)
