package conf

import (
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Stage kinds, the values of [Stage.Kind].
const (
	// StageFilter is a WebAssembly filter stage (a filter block).
	StageFilter = "filter"
	// StagePolicy is a Rego policy stage (a policy block).
	StagePolicy = "policy"
)

// Failure modes, the values of [Stage.Fail].
const (
	// FailClosed fails the request when the stage fails.
	FailClosed = "closed"
	// FailOpen skips the stage when it fails.
	FailOpen = "open"
)

// Policy engines, the values of [Stage.Engine].
const (
	// EngineAuto runs a policy compiled to WebAssembly when it can be, and
	// on OPA's Rego interpreter otherwise.
	EngineAuto = "auto"
	// EngineWasm requires the WebAssembly engine: a policy it cannot run is
	// an error.
	EngineWasm = "wasm"
	// EngineRego runs a policy on OPA's Rego interpreter (topdown).
	EngineRego = "rego"
)

// BuiltinPrefix starts a [Stage.Module] that names a filter shipped with
// wasmgate ("builtin:routing") rather than a file.
const BuiltinPrefix = "builtin:"

// Config is a decoded configuration. Slices keep declaration order: files in
// name order, blocks in file order.
type Config struct {
	// Listeners are the listener blocks.
	Listeners []*Listener
	// Upstreams are the upstream blocks.
	Upstreams []*Upstream
	// Chains are the chain blocks.
	Chains []*Chain
	// Routes are the route blocks (see route.go and [Config.RoutingJSON]).
	Routes []*Route
	// Admin is the admin block; nil when there is none.
	Admin *Admin

	// Files holds every parsed file by the name used in diagnostics, for
	// [WriteDiagnostics]. It is filled even when loading failed.
	Files map[string]*hcl.File
}

// Listener returns the listener with the given name, or nil if none.
func (c *Config) Listener(name string) *Listener {
	for _, l := range c.Listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// Upstream returns the upstream with the given name, or nil if none.
func (c *Config) Upstream(name string) *Upstream {
	for _, u := range c.Upstreams {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// Chain returns the chain with the given name, or nil if none.
func (c *Config) Chain(name string) *Chain {
	for _, ch := range c.Chains {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// Admin is the admin block: a separate HTTP listener for operators that
// serves Prometheus metrics on /metrics and readiness on /ready.
type Admin struct {
	// Address is the "host:port" to listen on, as written.
	Address string
	// Allow is the source address allow list; empty allows everyone.
	Allow []netip.Prefix
	// DeclRange is the block header, `admin`.
	DeclRange hcl.Range
	// AddressRange is the address attribute's value.
	AddressRange hcl.Range
}

// Listener is a listener block: a socket accepting client connections.
type Listener struct {
	// Name is the block label.
	Name string
	// Address is the "host:port" to listen on, as written. The host may be
	// empty (all interfaces); port 0 picks a free port.
	Address string
	// Protocol is "http" (the default) or "https" (TLS; see TLS).
	Protocol string
	// Chain names the chain requests run through; "" for none.
	Chain string
	// Upstream names the default upstream; "" for none.
	Upstream string

	// ReadHeaderTimeout bounds reading a request's headers; default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is the client keep-alive timeout; default 610s.
	IdleTimeout time.Duration
	// MaxHeaderSize is the request header limit in bytes; default 16 KiB.
	MaxHeaderSize int64
	// MaxBodySize is the request body limit in bytes; default 1 GiB.
	MaxBodySize int64
	// Allow is the source address allow list; empty allows everyone.
	// Prefixes are masked (10.1.2.3/8 becomes 10.0.0.0/8); a bare address
	// is a single-address prefix.
	Allow []netip.Prefix

	// TLS is the tls block: set exactly when Protocol is "https".
	TLS *ListenerTLS
	// HTTP2 serves HTTP/2 next to HTTP/1.1: negotiated with ALPN on https
	// listeners (default true), by prior knowledge (h2c) on http listeners
	// (default false).
	HTTP2 bool
	// HTTP2MaxConcurrentStreams limits the streams of one HTTP/2
	// connection; default 250.
	HTTP2MaxConcurrentStreams int
	// HTTP2StreamWindow is the flow-control window of one HTTP/2 stream
	// in bytes; default 1 MiB.
	HTTP2StreamWindow int64
	// HTTP2ConnectionWindow is the flow-control window of one HTTP/2
	// connection in bytes; default 4 MiB.
	HTTP2ConnectionWindow int64
	// HTTP3 serves HTTP/3 on the UDP side of Address (https only).
	HTTP3 bool
	// QUIC is how HTTP/3 is advertised with Alt-Svc on HTTP/1.1 and
	// HTTP/2 responses: QUICAuto (the default: when HTTP3 is on), QUICOn
	// (the same, but an error without http3 = true) or QUICOff (never;
	// HTTP/3 then only serves clients that know about it).
	QUIC string
	// AccessLog is where one JSON line per request goes: "off" (the
	// default, also ""), "stdout", "stderr", or a file path (absolute,
	// resolved against the config file), opened for appending.
	AccessLog string
	// RedirectHTTPS names an https listener: this (http) listener answers
	// every allowed request with a 301 to it, keeping host, path and query.
	RedirectHTTPS string
	// PlainPathOff turns off the plain path (HCL plain_path = false): the
	// event loop that serves requests without a body on a plain HTTP/1.1
	// listener without a chain. Everything is then served by fasthttp.
	PlainPathOff bool

	// DeclRange is the block header, `listener "NAME"`.
	DeclRange hcl.Range
	// AddressRange is the address attribute's value.
	AddressRange hcl.Range
}

// Values of [Listener.QUIC].
const (
	QUICAuto = "auto"
	QUICOn   = "on"
	QUICOff  = "off"
)

// Values of [ListenerTLS.ClientAuth].
const (
	// ClientAuthNone asks for no client certificate (no client_ca_file).
	ClientAuthNone = ""
	// ClientAuthRequire refuses handshakes without a certificate that
	// verifies against the client CAs.
	ClientAuthRequire = "require"
	// ClientAuthVerifyIfGiven accepts clients without a certificate and
	// refuses a certificate that does not verify.
	ClientAuthVerifyIfGiven = "verify_if_given"
	// ClientAuthOptional asks for a certificate and accepts any or none;
	// whether it verified is reported to the chain (connection.mtls).
	ClientAuthOptional = "optional"
)

// ListenerTLS is the tls block of an https listener.
type ListenerTLS struct {
	// Certificates are the certificate blocks, at least one. Each serves
	// the DNS names of its certificate (wildcards included) chosen by SNI;
	// the first, or the one with default = true, serves everything else.
	Certificates []Certificate
	// ClientCAFile is the absolute path of a PEM bundle of CAs that sign
	// client certificates; "" disables mutual TLS.
	ClientCAFile string
	// ClientCAFileRange is the client_ca_file attribute's value.
	ClientCAFileRange hcl.Range
	// ClientAuth is one of the ClientAuth constants; "require" by default
	// when ClientCAFile is set.
	ClientAuth string
	// MinVersion is the lowest TLS version accepted, a crypto/tls
	// VersionTLS constant; default TLS 1.2.
	MinVersion uint16
	// CipherSuites are the TLS 1.2 cipher suites offered, crypto/tls ids
	// in preference order; empty means Go's defaults.
	CipherSuites []uint16
	// DeclRange is the block header, `tls`.
	DeclRange hcl.Range
}

// Certificate is a certificate block: a PEM certificate chain (leaf first)
// and its private key (PKCS#1, PKCS#8 or SEC 1).
type Certificate struct {
	// Name is the block label.
	Name string
	// CertFile and KeyFile are absolute paths.
	CertFile, KeyFile string
	// Default makes this the certificate for names no certificate covers.
	Default bool
	// CertFileRange and KeyFileRange are the attributes' values.
	CertFileRange, KeyFileRange hcl.Range
	// DeclRange is the block header, `certificate "NAME"`.
	DeclRange hcl.Range
}

// Upstream is an upstream block: a pool of endpoints and how to use them.
type Upstream struct {
	// Name is the block label.
	Name string
	// Balancer is the endpoint selection algorithm, one of round_robin
	// (the default), weighted_round_robin, least_conn, random, p2c and
	// source_ip_hash.
	Balancer string

	// Timeout bounds the whole upstream response (504 when exceeded);
	// default 30s.
	Timeout time.Duration
	// ConnectTimeout bounds connecting to an endpoint; default 5s.
	ConnectTimeout time.Duration
	// IdleTimeout is the upstream keep-alive timeout; default 600s.
	IdleTimeout time.Duration
	// MaxConnections limits connections per endpoint; default 1024.
	MaxConnections int

	// Protocol is how endpoints are spoken to: "http" (HTTP/1.1, the
	// default), "https" (HTTP/1.1 over TLS), "h2" (HTTP/2 over TLS) or
	// "h2c" (cleartext HTTP/2 with prior knowledge, e.g. for gRPC).
	Protocol string
	// TLS is the tls block of an https or h2 upstream, or nil (verify
	// against the system roots, server name from the endpoint host).
	TLS *UpstreamTLS

	// Endpoints are the endpoint blocks, at least one.
	Endpoints []Endpoint
	// Retry is the retry block, or its defaults.
	Retry Retry

	// HealthCheck is the health_check block, or nil (no active checks).
	HealthCheck *HealthCheck
	// Outlier is the outlier block, or nil (no passive detection).
	Outlier *Outlier
	// Affinity is the affinity block, or nil (no session affinity).
	Affinity *Affinity
	// CircuitBreaker is the circuit_breaker block, or nil (no limits).
	CircuitBreaker *CircuitBreaker
	// SlowStart ramps a recovered endpoint's traffic up over this time;
	// 0 (the default) for none.
	SlowStart time.Duration

	// DeclRange is the block header, `upstream "NAME"`.
	DeclRange hcl.Range
}

// UpstreamTLS is the tls block of an upstream.
type UpstreamTLS struct {
	// CAFile is the absolute path of a PEM CA bundle that endpoint
	// certificates must verify against; "" uses the system roots.
	CAFile string
	// CAFileRange is the ca_file attribute's value.
	CAFileRange hcl.Range
	// ServerName is the SNI sent and the name verified; "" uses the
	// endpoint's host.
	ServerName string
	// InsecureSkipVerify accepts any endpoint certificate (testing only).
	InsecureSkipVerify bool
	// CertFile and KeyFile are a client certificate for mutual TLS, as
	// absolute paths; both or neither.
	CertFile, KeyFile string
	// CertFileRange and KeyFileRange are the attributes' values.
	CertFileRange, KeyFileRange hcl.Range
	// DeclRange is the block header, `tls`.
	DeclRange hcl.Range
}

// Endpoint is an endpoint block inside an upstream.
type Endpoint struct {
	// Address is the "host:port" label, as written; host may be a DNS name.
	Address string
	// Weight is 0..100, default 100; 0 receives no new requests.
	Weight int
	// DeclRange is the block header, `endpoint "ADDRESS"`.
	DeclRange hcl.Range
}

// Retry is the retry policy of an upstream.
type Retry struct {
	// Attempts is the number of extra tries after the first, 0..5;
	// default 1.
	Attempts int
	// On lists the failures that allow a retry, each one of
	// connect-failure, reset, refused-stream, gateway-error (502, 503,
	// 504, and a per-try timeout), 5xx, or a status code ("429");
	// default ["connect-failure"]. An explicit empty list never retries.
	On []string
	// The fields below are 0 when not set, which means the default.

	// PerTryTimeout bounds each try until the response head; 0 (the
	// default) lets a try use the whole timeout.
	PerTryTimeout time.Duration
	// Backoff (default 25ms) and MaxBackoff (default 250ms): a retry to an
	// endpoint already tried waits a random time up to Backoff×2^(n-1),
	// at most MaxBackoff; a retry to another endpoint goes at once.
	Backoff, MaxBackoff time.Duration
	// AllowPost retries non-idempotent methods (POST, PATCH) after they
	// reached an endpoint; AllowBody retries requests with a (buffered)
	// body. Both default false; a connect failure is always retryable.
	AllowPost, AllowBody bool
	// BudgetPercent caps retries in progress at this share of the
	// upstream's requests in progress (default 20, 100 for no cap), but
	// MinRetryConcurrency (default 3) are always allowed.
	BudgetPercent, MinRetryConcurrency int
}

// Chain is a chain block: stages a request runs through in order, and its
// response in reverse order.
type Chain struct {
	// Name is the block label.
	Name string
	// Stages are the filter and policy blocks in declaration order.
	Stages []*Stage
	// DeclRange is the block header, `chain "NAME"`.
	DeclRange hcl.Range
}

// Stage is one filter or policy block of a chain. Fields that do not apply
// to its Kind are zero.
type Stage struct {
	// Kind is StageFilter or StagePolicy.
	Kind string
	// Name is the block label, unique within the chain.
	Name string

	// Module is the filter's module: "builtin:NAME" as written, otherwise
	// the absolute path of a readable file.
	Module string
	// ModuleRange is the module attribute's value.
	ModuleRange hcl.Range
	// Config is the filter's config value as JSON; a string value is kept
	// verbatim. It is "" when the attribute is absent or null.
	Config string
	// VMConfig is handed to proxy_on_vm_start, encoded like Config.
	VMConfig string
	// RootID and VMID are the Proxy-Wasm root context id and VM id (shared
	// data and queues are scoped by VM id); "" when not set.
	RootID, VMID string
	// PoolSize is the number of filter instances; 0 means the default.
	PoolSize int
	// MemoryLimit caps each instance's memory in bytes; 0 means the default.
	MemoryLimit int64
	// CallTimeout bounds each filter callback; 0 means the default.
	CallTimeout time.Duration
	// BufferBody, when set, makes the filter see bodies: request bodies up
	// to this size are buffered and handed to proxy_on_request_body, and
	// upstream responses the gateway holds whole (up to 64 KiB) to
	// proxy_on_response_body. 0: bodies stream past the filter.
	BufferBody int64

	// Files are the policy's Rego files as absolute paths. A policy has
	// Files, a Dir, or both.
	Files []string
	// Dir is a directory (absolute path) whose *.rego files, searched
	// recursively and except *_test.rego, belong to the policy; "" for none.
	Dir string
	// Data are JSON or YAML documents (absolute paths) merged into the
	// policy's data document.
	Data []string
	// Query is the policy's Rego query; default
	// "data.wasmgate.authz.decision".
	Query string
	// QueryRange is the query attribute's value, or the block header when
	// the query is the default.
	QueryRange hcl.Range
	// IncludeBody puts the request body into the policy input; default
	// false.
	IncludeBody bool
	// MaxBody is the largest body a policy with IncludeBody reads; a larger
	// one is denied with 413. Default 64 KiB.
	MaxBody int64
	// DecisionLog is where the policy writes one JSON line per decision:
	// "" (the default, written "off") for nowhere, "stderr", or the
	// absolute path of a file it appends to.
	DecisionLog string
	// Engine evaluates a policy: EngineAuto (the default), EngineWasm or
	// EngineRego.
	Engine string

	// Fail is what a failing stage does: FailClosed (the default) or
	// FailOpen.
	Fail string

	// DeclRange is the block header, `filter "NAME"` or `policy "NAME"`.
	DeclRange hcl.Range
}
