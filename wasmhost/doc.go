// Package wasmhost runs Proxy-Wasm (ABI 0.2.1, also accepting 0.2.0) HTTP
// filters on wazero, so filters built for Envoy with the official Go, Rust,
// C++ or AssemblyScript SDKs run unmodified.
//
// A Host owns what plugins share: the compilation cache, the shared data
// store and shared queues (scoped by VM id) and the metrics registry. A
// Plugin is one configured filter: a compiled module and a bounded pool of
// instances that were started (proxy_on_vm_start, proxy_on_configure) at
// Load, so nothing is instantiated on the request path in steady state. An
// HTTPContext is one request/response exchange bound to one instance.
//
// The host knows nothing about the gateway: the embedder hands each
// HTTPContext a Stream (header maps, buffered bodies, properties, local
// responses) that stays valid until HTTPContext.Done returns.
//
// # Concurrency
//
// An instance runs one callback at a time. Callbacks of an HTTPContext are
// made on the calling goroutine while it holds the instance; other streams
// bound to the same instance wait for it. Root-context callbacks
// (proxy_on_tick, proxy_on_http_call_response, proxy_on_queue_ready) run on
// a goroutine per instance. When a filter returns Pause, the calling
// goroutine blocks (under its context) until the plugin resumes the stream,
// possibly from one of those root callbacks.
//
// # Sandbox
//
// Guests get no filesystem, no environment, no arguments and no network;
// stdout and stderr go to the plugin's logger. Each instance has a memory
// cap, each callback a deadline. Deadlines are enforced by instrumenting
// the module at load (internal/rewrite: a kill flag the watchdog sets,
// checked at loop heads and function entries, with a periodic call into Go
// so that a looping guest never stalls the garbage collector); modules
// that cannot be instrumented, or PluginConfig.ContextDeadlines, use
// wazero's costlier per-call context watch. A trap, a blown limit or a deadline fails
// the callback with an error (ErrTrap, ErrMemoryLimit, ErrDeadline), and
// that stream's later callbacks fail too; the instance is discarded and
// replaced in the background. Guest pointers are bounds-checked: a bad
// one yields the INVALID_MEMORY_ACCESS status to the guest, never a host
// panic.
//
// # Bystanders
//
// Other streams bound to a discarded instance are bystanders. A bystander
// that is between callbacks (detached) moves on: its next callback finds
// the instance dead, binds the stream to a live instance (the replacement
// or another one of the pool), runs proxy_on_context_create there under a
// new context id and then the callback. The guest state its earlier
// callbacks built (per-context variables of the SDK) is lost with the old
// instance, as in Envoy when a VM is replaced; nothing is replayed, so a
// filter may see, say, proxy_on_response_headers on a context that never
// saw proxy_on_request_headers. The stream's own state (header maps,
// bodies, properties) lives in the embedder and is intact. A bystander
// that is paused (waiting for proxy_continue_stream from a tick or an
// http_call response of the dead instance) cannot be resumed: its pending
// call and its later ones fail with ErrInstanceLost. Streams are bound
// preferably to instances no other stream is bound to, so while a pool has
// more instances than streams in flight there are no bystanders at all.
//
// # Properties
//
// proxy_get_property answers these itself (Envoy attribute names):
// plugin_name, plugin_root_id, plugin_vm_id (from PluginConfig);
// request.path, request.url_path, request.query, request.method,
// request.host, request.scheme, request.useragent, request.referer and
// request.id (x-request-id) from the request header map;
// request.headers / response.headers / request.trailers /
// response.trailers (serialized pairs) and request.headers.<name> etc.
// (one value); response.code (from ":status", 8-byte little-endian).
// Everything else — request.protocol, request.time, source.address,
// source.port, destination.address, connection.mtls, and the wasmgate-
// specific names, which live under "wasmgate." (e.g. wasmgate.route,
// wasmgate.upstream, wasmgate.consumer) — is asked from Stream.Property;
// proxy_set_property goes to Stream.SetProperty, except
// wasmgate.http_callbacks set by a root context ([HTTPCallbacksProperty]):
// the list of HTTP callbacks its contexts act on, which the host then
// limits itself to.
//
// # Extensions
//
// Two opt-in wasmgate extensions make Go guests cheaper; other hosts ignore
// them, so filters that use them run unchanged elsewhere. A guest that
// exports wasmgate_return_buffer ([ReturnBufferExport]) gets small results
// written into a buffer of its own instead of memory from a nested
// proxy_on_memory_allocate call. A root context that sets
// wasmgate.http_callbacks ([HTTPCallbacksProperty]) gets only the HTTP
// callbacks it names. sdk/go does both.
//
// # Not supported
//
// gRPC calls (proxy_grpc_*) return UNIMPLEMENTED, foreign functions
// return NOT_FOUND, and the L4 (TCP) callbacks are never called.
package wasmhost
