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

// Listener is a listener block: a socket accepting client connections.
type Listener struct {
	// Name is the block label.
	Name string
	// Address is the "host:port" to listen on, as written. The host may be
	// empty (all interfaces); port 0 picks a free port.
	Address string
	// Protocol is "http" (the default and, for now, the only value).
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

	// DeclRange is the block header, `listener "NAME"`.
	DeclRange hcl.Range
	// AddressRange is the address attribute's value.
	AddressRange hcl.Range
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

	// Endpoints are the endpoint blocks, at least one.
	Endpoints []Endpoint
	// Retry is the retry block, or its defaults.
	Retry Retry

	// DeclRange is the block header, `upstream "NAME"`.
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
	// connect-failure, reset, gateway-error and 5xx; default
	// ["connect-failure"]. An explicit empty list never retries.
	On []string
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

	// Files are the policy's Rego files as absolute paths, at least one.
	Files []string
	// Query is the policy's Rego query; default
	// "data.wasmgate.authz.decision".
	Query string

	// Fail is what a failing stage does: FailClosed (the default) or
	// FailOpen.
	Fail string

	// DeclRange is the block header, `filter "NAME"` or `policy "NAME"`.
	DeclRange hcl.Range
}
