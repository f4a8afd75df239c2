// A Proxy-Wasm (ABI 0.2.1) HTTP filter written by hand in C against the raw
// ABI, for wasmhost/compat_test.go. The same filter exists in Rust and
// AssemblyScript:
//
//   - proxy_on_configure keeps the plugin configuration (buffer type 7) and
//     logs it once with proxy_log;
//   - proxy_on_request_headers answers 403 "denied" (header x-denied-by: c)
//     and pauses when the request has "x-deny: 1", else adds "x-lang: c";
//   - proxy_on_response_headers adds "x-configured: <configuration>".
//
// Build: clang --target=wasm32-wasi -mexec-model=reactor -O2 -o filter.wasm filter.c
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

enum { STATUS_OK = 0 };
enum { LOG_INFO = 2 };
enum { MAP_REQUEST_HEADERS = 0, MAP_RESPONSE_HEADERS = 2 };
enum { BUFFER_PLUGIN_CONFIGURATION = 7 };
enum { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };

IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char *msg, size_t size);
IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max_size, char **data, size_t *size);
IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_size, char **value, size_t *value_size);
IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_size, const char *value,
                                    size_t value_size);
IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status, const char *details, size_t details_size, const char *body,
                                   size_t body_size, const char *headers, size_t headers_size, int32_t grpc_status);

#define S(lit) lit, sizeof(lit) - 1

static char *config;  // the plugin configuration (owned)
static size_t config_size;

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

// The host allocates what it returns (header values, buffers) here.
EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) { return malloc(size); }

EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t context_id, uint32_t parent_id) {
  (void)context_id;
  (void)parent_id;
}

EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_id, uint32_t vm_config_size) {
  (void)root_id;
  (void)vm_config_size;
  return 1;
}

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_id, uint32_t size) {
  (void)root_id;
  free(config);
  config = NULL;
  config_size = 0;
  if (size > 0 && proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, &config, &config_size) != STATUS_OK)
    return 0;
  static const char prefix[] = "compat c: configured with ";
  char *msg = malloc(sizeof(prefix) - 1 + config_size);
  if (msg == NULL) return 0;
  memcpy(msg, prefix, sizeof(prefix) - 1);
  if (config_size > 0) memcpy(msg + sizeof(prefix) - 1, config, config_size);
  proxy_log(LOG_INFO, msg, sizeof(prefix) - 1 + config_size);
  free(msg);
  return 1;
}

// One header pair, serialized as the ABI wants: count, (name size, value
// size) per pair, then every name and value NUL-terminated; little-endian.
static const char denied_headers[] = "\x01\0\0\0" "\x0b\0\0\0" "\x01\0\0\0" "x-denied-by\0" "c";

EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
  (void)context_id;
  (void)headers;
  (void)end_of_stream;
  char *v = NULL;
  size_t n = 0;
  int deny = proxy_get_header_map_value(MAP_REQUEST_HEADERS, S("x-deny"), &v, &n) == STATUS_OK && n == 1 && v[0] == '1';
  free(v);
  if (deny) {
    proxy_send_local_response(403, S("compat_denied"), S("denied"), denied_headers, sizeof(denied_headers), -1);
    return ACTION_PAUSE;
  }
  proxy_add_header_map_value(MAP_REQUEST_HEADERS, S("x-lang"), S("c"));
  return ACTION_CONTINUE;
}

EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
  (void)context_id;
  (void)headers;
  (void)end_of_stream;
  proxy_add_header_map_value(MAP_RESPONSE_HEADERS, S("x-configured"), config ? config : "", config_size);
  return ACTION_CONTINUE;
}
