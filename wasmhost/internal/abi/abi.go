// Package abi holds the numeric constants of the Proxy-Wasm ABI 0.2.1
// (proxy-wasm/spec, abi-versions/v0.2.1) as seen by the host.
package abi

// Status is the result code every host function returns to the guest.
type Status = uint32

// Status codes defined by the ABI.
const (
	StatusOK                  Status = 0
	StatusNotFound            Status = 1
	StatusBadArgument         Status = 2
	StatusSerializationFailed Status = 3
	StatusParseFailure        Status = 4
	StatusInvalidMemoryAccess Status = 6
	StatusEmpty               Status = 7
	StatusCASMismatch         Status = 8
	StatusInternalFailure     Status = 10
	StatusUnimplemented       Status = 12
)

// Header map types (proxy_*_header_map_* "map_type").
const (
	MapRequestHeaders          = 0
	MapRequestTrailers         = 1
	MapResponseHeaders         = 2
	MapResponseTrailers        = 3
	MapGRPCReceiveInitialMeta  = 4
	MapGRPCReceiveTrailingMeta = 5
	MapHTTPCallResponseHeaders = 6
	MapHTTPCallResponseTrailer = 7
)

// Buffer types (proxy_get_buffer_bytes / proxy_set_buffer_bytes).
const (
	BufferRequestBody          = 0
	BufferResponseBody         = 1
	BufferDownstreamData       = 2
	BufferUpstreamData         = 3
	BufferHTTPCallResponseBody = 4
	BufferGRPCReceive          = 5
	BufferVMConfiguration      = 6
	BufferPluginConfiguration  = 7
	BufferCallData             = 8
)

// Stream types (proxy_continue_stream / proxy_close_stream).
const (
	StreamRequest    = 0
	StreamResponse   = 1
	StreamDownstream = 2
	StreamUpstream   = 3
)

// Actions returned by the proxy_on_request_*/proxy_on_response_* callbacks.
const (
	ActionContinue = 0
	ActionPause    = 1
)

// Log levels (proxy_log, proxy_get_log_level).
const (
	LogTrace    = 0
	LogDebug    = 1
	LogInfo     = 2
	LogWarn     = 3
	LogError    = 4
	LogCritical = 5
)

// Metric types (proxy_define_metric).
const (
	MetricCounter   = 0
	MetricGauge     = 1
	MetricHistogram = 2
)

// Names of the ABI version marker exports.
const (
	ExportABI021 = "proxy_abi_version_0_2_1"
	ExportABI020 = "proxy_abi_version_0_2_0"
	ExportABI010 = "proxy_abi_version_0_1_0"
)
