// Package filters embeds the built-in WebAssembly filters (builtin:routing,
// builtin:auth, builtin:headers) in the gateway binary.
//
// Each filter is its own Go module in a subdirectory (filters/routing,
// filters/auth, filters/headers), a main package written with the Go guest
// SDK (sdk/go) and compiled by `make filters` to filters/dist/NAME.wasm:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o ../dist/NAME.wasm .
//
// The .wasm files are build outputs and not committed, so this package
// compiles without them: [Builtin] then reports false and [Module] returns
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

// Builtin returns the compiled module of the built-in filter name (without
// the "builtin:" prefix) and true, or nil and false when name is not a
// built-in filter or was not built into this binary (see [Module]). The
// returned slice is shared: callers must not modify it.
func Builtin(name string) ([]byte, bool) {
	if !slices.Contains(Names(), name) {
		return nil, false
	}
	b, err := dist.ReadFile("dist/" + name + ".wasm")
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
