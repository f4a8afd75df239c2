// Package filters embeds the built-in WebAssembly filters (builtin:routing,
// builtin:auth, builtin:headers) in the gateway binary.
//
// Each filter is a Go library package with its own module in a
// subdirectory (filters/routing, filters/auth, filters/headers), written
// with the Go guest SDK (sdk/go); filters/NAME/cmd/NAME builds one filter
// as a module of its own. The gateway embeds one module that links all
// three, filters/builtin, compiled by `make filters`:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o ../dist/builtin.wasm .
//
// Every builtin:NAME stage loads that module with root id NAME (property
// plugin_root_id), which selects the filter. Sharing one module lets the
// stages share one compiled copy of its code: a chain of three separate Go
// modules runs three copies of the Go runtime's machine code, which costs
// more in cache misses than the filters' own work.
//
// The .wasm file is a build output and not committed, so this package
// compiles without it: [Builtin] then reports false and [Module] returns
// an error that tells the user to run `make filters`. The configuration
// schema of each filter is documented in filters/README.md.
package filters

import (
	"embed"
	"fmt"
	"slices"
)

// dist holds filters/dist: its README placeholder and whatever .wasm files
// `make filters` produced before the binary was built. It is read-only.
//
//go:embed dist
var dist embed.FS

// Names returns the names of the built-in filters, sorted, whether or not
// they were built: "auth", "headers", "routing". A configuration refers to
// one as module = "builtin:NAME".
func Names() []string { return []string{"auth", "headers", "routing"} }

// Builtin returns the module that holds the built-in filter name (without
// the "builtin:" prefix) and true, or nil and false when name is not a
// built-in filter or was not built into this binary (see [Module]). All
// names return the same module; a plugin selects its filter with name as
// its root id. The returned slice is shared: callers must not modify it.
func Builtin(name string) ([]byte, bool) {
	if !slices.Contains(Names(), name) {
		return nil, false
	}
	b, err := dist.ReadFile("dist/builtin.wasm")
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// Module is [Builtin] with an error that explains a missing module: either
// "builtin:NAME is not a built-in filter (built-in filters: ...)" or
// "builtin:NAME not built: run make filters".
func Module(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("builtin:%s is not a built-in filter (built-in filters: %v)", name, Names())
	}
	b, ok := Builtin(name)
	if !ok {
		return nil, fmt.Errorf("builtin:%s not built: run make filters", name)
	}
	return b, nil
}
