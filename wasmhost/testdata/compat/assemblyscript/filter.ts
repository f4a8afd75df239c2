// A Proxy-Wasm (ABI 0.2.1) HTTP filter written by hand in AssemblyScript
// against the raw ABI (no SDK), for wasmhost/compat_test.go. The same filter
// exists in C and Rust:
//
//   - proxy_on_configure keeps the plugin configuration (buffer type 7) and
//     logs it once with proxy_log;
//   - proxy_on_request_headers answers 403 "denied" (header x-denied-by: as)
//     and pauses when the request has "x-deny: 1", else adds "x-lang: as";
//   - proxy_on_response_headers adds "x-configured: <configuration>".
//
// Build: asc filter.ts -o filter.wasm -O3 --runtime incremental --use abort=
// (no env.abort import: an abort traps).

const STATUS_OK: u32 = 0;
const LOG_INFO: u32 = 2;
const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_RESPONSE_HEADERS: u32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const ACTION_CONTINUE: u32 = 0;
const ACTION_PAUSE: u32 = 1;

@external("env", "proxy_log")
declare function proxy_log(level: u32, msg: usize, size: usize): u32;
@external("env", "proxy_get_buffer_bytes")
declare function proxy_get_buffer_bytes(typ: u32, start: usize, max: usize, data: usize, size: usize): u32;
@external("env", "proxy_get_header_map_value")
declare function proxy_get_header_map_value(map: u32, key: usize, keySize: usize, value: usize, valueSize: usize): u32;
@external("env", "proxy_add_header_map_value")
declare function proxy_add_header_map_value(map: u32, key: usize, keySize: usize, value: usize, valueSize: usize): u32;
@external("env", "proxy_send_local_response")
declare function proxy_send_local_response(status: u32, details: usize, detailsSize: usize, body: usize, bodySize: usize,
  headers: usize, headersSize: usize, grpcStatus: i32): u32;

// Out-parameters of host calls (static memory).
const retData = memory.data(4);
const retSize = memory.data(4);

// The plugin configuration: a block the host allocated with
// proxy_on_memory_allocate (heap memory, not managed by the GC).
let configPtr: usize = 0;
let configSize: usize = 0;

// UTF-8 strings as the host wants them; globals are GC roots.
function utf8(s: string): ArrayBuffer { return String.UTF8.encode(s); }
const X_DENY = utf8("x-deny");
const X_LANG = utf8("x-lang");
const LANG = utf8("as");
const X_CONFIGURED = utf8("x-configured");
const DETAILS = utf8("compat_denied");
const DENIED = utf8("denied");
const DENIED_HEADERS = serializePair("x-denied-by", "as");

// One header pair, serialized as the ABI wants: count, (name size, value
// size) per pair, then every name and value NUL-terminated; little-endian.
function serializePair(name: string, value: string): ArrayBuffer {
  const n = String.UTF8.encode(name, true);
  const v = String.UTF8.encode(value, true);
  const buf = new ArrayBuffer(12 + n.byteLength + v.byteLength);
  const p = changetype<usize>(buf);
  store<u32>(p, 1);
  store<u32>(p, n.byteLength - 1, 4);
  store<u32>(p, v.byteLength - 1, 8);
  memory.copy(p + 12, changetype<usize>(n), n.byteLength);
  memory.copy(p + 12 + n.byteLength, changetype<usize>(v), v.byteLength);
  return buf;
}

function ptr(b: ArrayBuffer): usize { return changetype<usize>(b); }
function len(b: ArrayBuffer): usize { return <usize>b.byteLength; }

export function proxy_abi_version_0_2_1(): void {}

// The host allocates what it returns (header values, buffers) here.
export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {}

export function proxy_on_vm_start(rootId: u32, vmConfigSize: usize): u32 {
  return 1;
}

export function proxy_on_configure(rootId: u32, size: usize): u32 {
  if (configPtr != 0) heap.free(configPtr);
  configPtr = 0;
  configSize = 0;
  if (size > 0) {
    if (proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, retData, retSize) != STATUS_OK) return 0;
    configPtr = load<usize>(retData);
    configSize = load<usize>(retSize);
  }
  const msg = utf8("compat as: configured with " + String.UTF8.decodeUnsafe(configPtr, configSize));
  proxy_log(LOG_INFO, ptr(msg), len(msg));
  return 1;
}

export function proxy_on_request_headers(contextId: u32, headers: u32, endOfStream: u32): u32 {
  store<usize>(retData, 0);
  store<usize>(retSize, 0);
  const st = proxy_get_header_map_value(MAP_REQUEST_HEADERS, ptr(X_DENY), len(X_DENY), retData, retSize);
  const v = load<usize>(retData);
  const deny = st == STATUS_OK && load<usize>(retSize) == 1 && load<u8>(v) == 0x31; // "1"
  if (v != 0) heap.free(v);
  if (deny) {
    proxy_send_local_response(403, ptr(DETAILS), len(DETAILS), ptr(DENIED), len(DENIED),
      ptr(DENIED_HEADERS), len(DENIED_HEADERS), -1);
    return ACTION_PAUSE;
  }
  proxy_add_header_map_value(MAP_REQUEST_HEADERS, ptr(X_LANG), len(X_LANG), ptr(LANG), len(LANG));
  return ACTION_CONTINUE;
}

export function proxy_on_response_headers(contextId: u32, headers: u32, endOfStream: u32): u32 {
  proxy_add_header_map_value(MAP_RESPONSE_HEADERS, ptr(X_CONFIGURED), len(X_CONFIGURED), configPtr, configSize);
  return ACTION_CONTINUE;
}
