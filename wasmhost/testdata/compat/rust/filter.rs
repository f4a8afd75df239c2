// A Proxy-Wasm (ABI 0.2.1) HTTP filter written by hand in Rust against the
// raw ABI (no SDK, no crates), for wasmhost/compat_test.go. The same filter
// exists in C and AssemblyScript:
//
//   - proxy_on_configure keeps the plugin configuration (buffer type 7) and
//     logs it once with proxy_log;
//   - proxy_on_request_headers answers 403 "denied" (header x-denied-by: rust)
//     and pauses when the request has "x-deny: 1", else adds "x-lang: rust";
//   - proxy_on_response_headers adds "x-configured: <configuration>".
//
// Build: rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -O filter.rs

use std::alloc::{alloc, Layout};
use std::ptr::null_mut;

const STATUS_OK: u32 = 0;
const LOG_INFO: u32 = 2;
const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_RESPONSE_HEADERS: u32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const ACTION_CONTINUE: u32 = 0;
const ACTION_PAUSE: u32 = 1;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, msg: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(typ: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(map: u32, key: *const u8, key_size: usize, value: *mut *mut u8, value_size: *mut usize) -> u32;
    fn proxy_add_header_map_value(map: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

// The plugin configuration. Wasm instances are single-threaded.
static mut CONFIG: Vec<u8> = Vec::new();

fn config() -> &'static mut Vec<u8> {
    unsafe { &mut *std::ptr::addr_of_mut!(CONFIG) }
}

// Takes ownership of a buffer the host allocated with proxy_on_memory_allocate.
unsafe fn take(ptr: *mut u8, size: usize) -> Vec<u8> {
    if ptr.is_null() {
        return Vec::new();
    }
    Vec::from_raw_parts(ptr, size, size)
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host allocates what it returns here; blocks have alignment 1 so that
/// take can hand them to Vec<u8>.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    if size == 0 {
        return std::ptr::NonNull::<u8>::dangling().as_ptr();
    }
    unsafe { alloc(Layout::from_size_align_unchecked(size, 1)) }
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_config_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_id: u32, size: usize) -> u32 {
    unsafe {
        let config = config();
        config.clear();
        if size > 0 {
            let (mut ptr, mut n) = (null_mut(), 0);
            if proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, &mut ptr, &mut n) != STATUS_OK {
                return 0;
            }
            *config = take(ptr, n);
        }
        let mut msg = b"compat rust: configured with ".to_vec();
        msg.extend_from_slice(config);
        proxy_log(LOG_INFO, msg.as_ptr(), msg.len());
    }
    1
}

// One header pair, serialized as the ABI wants: count, (name size, value
// size) per pair, then every name and value NUL-terminated; little-endian.
const DENIED_HEADERS: &[u8] = b"\x01\0\0\0\x0b\0\0\0\x04\0\0\0x-denied-by\0rust\0";

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context_id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    unsafe {
        let key = b"x-deny";
        let (mut ptr, mut n) = (null_mut(), 0);
        let st = proxy_get_header_map_value(MAP_REQUEST_HEADERS, key.as_ptr(), key.len(), &mut ptr, &mut n);
        let v = take(ptr, n);
        if st == STATUS_OK && v == b"1" {
            let (details, body) = (b"compat_denied", b"denied");
            proxy_send_local_response(
                403,
                details.as_ptr(),
                details.len(),
                body.as_ptr(),
                body.len(),
                DENIED_HEADERS.as_ptr(),
                DENIED_HEADERS.len(),
                -1,
            );
            return ACTION_PAUSE;
        }
        let (k, v) = (b"x-lang", b"rust");
        proxy_add_header_map_value(MAP_REQUEST_HEADERS, k.as_ptr(), k.len(), v.as_ptr(), v.len());
    }
    ACTION_CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_context_id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    unsafe {
        let (k, v) = (b"x-configured", config());
        proxy_add_header_map_value(MAP_RESPONSE_HEADERS, k.as_ptr(), k.len(), v.as_ptr(), v.len());
    }
    ACTION_CONTINUE
}
