// Command builtin is the module the gateway embeds for builtin:routing,
// builtin:auth and builtin:headers: the three built-in filters linked into
// one Proxy-Wasm module, each plugin selecting its filter by root id
// (property plugin_root_id: "routing", "auth" or "headers"; the gateway
// sets it from the module name).
//
// One module instead of three is a matter of speed: every plugin loaded
// from the same bytes shares one compiled copy of the code, so a chain of
// all three filters runs one Go runtime's machine code instead of three,
// and the processor's caches hold it.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o ../dist/builtin.wasm .
package main

import (
	"strconv"

	"github.com/wasmgate/wasmgate/filters/auth"
	"github.com/wasmgate/wasmgate/filters/headers"
	"github.com/wasmgate/wasmgate/filters/routing"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// A c-shared Wasm module runs package initialisers but never main.
func init() { proxywasm.SetRootContext(newRoot) }

func main() {}

// newRoot creates the root context of the filter the plugin's root id
// names.
func newRoot(id uint32) proxywasm.RootContext {
	rootID, err := proxywasm.Property("plugin_root_id")
	if err != nil {
		return unknownRoot{reason: "builtin: cannot read plugin_root_id: " + err.Error()}
	}
	switch string(rootID) {
	case "auth":
		return auth.NewRoot(id)
	case "headers":
		return headers.NewRoot(id)
	case "routing":
		return routing.NewRoot(id)
	}
	return unknownRoot{reason: "builtin: unknown root id " + strconv.Quote(string(rootID)) +
		" (want auth, headers or routing)"}
}

// unknownRoot refuses to start, so that the gateway reports the plugin's
// misconfiguration at load instead of passing requests through unfiltered.
type unknownRoot struct {
	proxywasm.DefaultRootContext
	reason string
}

func (r unknownRoot) OnVMStart([]byte) bool {
	proxywasm.LogError(r.reason)
	return false
}

func (r unknownRoot) OnConfigure([]byte) bool {
	proxywasm.LogError(r.reason)
	return false
}
