// Command headers is a Go-SDK test filter (built for GOOS=wasip1 by the
// wasmhost tests): header read/add, local response, properties, bodies,
// metrics and logging, in the style of the SDK's http_headers, http_body and
// properties examples.
package main

import (
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	requests proxywasm.MetricCounter
	suffix   string
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCriticalf("reading configuration: %v", err)
	}
	if string(cfg) == "reject" {
		return types.OnPluginStartStatusFailed
	}
	p.suffix = string(cfg)
	p.requests = proxywasm.DefineCounterMetric("gosdk_requests_total")
	proxywasm.LogInfof("gosdk plugin started with %q", cfg)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &httpCtx{p: p} }

type httpCtx struct {
	types.DefaultHttpContext
	p  *plugin
	in string
}

func (h *httpCtx) OnHttpRequestHeaders(int, bool) types.Action {
	h.p.requests.Increment(1)
	v, err := proxywasm.GetHttpRequestHeader("x-in")
	if err != nil {
		return types.ActionContinue
	}
	h.in = v
	switch v {
	case "deny":
		if err := proxywasm.SendHttpResponse(403, [][2]string{{"x-denied-by", "gosdk"}}, []byte("denied by gosdk"), -1); err != nil {
			proxywasm.LogErrorf("send: %v", err)
		}
		return types.ActionPause
	case "props":
		path, _ := proxywasm.GetProperty([]string{"request", "path"})
		name, _ := proxywasm.GetProperty([]string{"plugin_name"})
		hs, _ := proxywasm.GetPropertyMap([]string{"request", "headers"})
		src, _ := proxywasm.GetProperty([]string{"source", "address"})
		_ = proxywasm.AddHttpRequestHeader("x-prop-path", string(path))
		_ = proxywasm.AddHttpRequestHeader("x-prop-plugin", string(name))
		_ = proxywasm.AddHttpRequestHeader("x-prop-nheaders", strconv.Itoa(len(hs)))
		_ = proxywasm.AddHttpRequestHeader("x-prop-src", string(src))
		_ = proxywasm.SetProperty([]string{"wasmgate", "upstream"}, []byte("api"))
	case "rewrite":
		_ = proxywasm.ReplaceHttpRequestHeader(":path", "/rewritten")
		_ = proxywasm.RemoveHttpRequestHeader("x-remove")
		hs, _ := proxywasm.GetHttpRequestHeaders()
		_ = proxywasm.ReplaceHttpRequestHeaders(append(hs, [2]string{"X-Set-Pairs", "1"}))
		_ = proxywasm.AddHttpRequestHeader("x-count", strconv.Itoa(len(hs)))
	case "panic":
		panic("filter bug")
	}
	return types.ActionContinue
}

func (h *httpCtx) OnHttpRequestBody(size int, eos bool) types.Action {
	if !eos {
		return types.ActionPause // buffer the whole body
	}
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		proxywasm.LogErrorf("body: %v", err)
		return types.ActionContinue
	}
	_ = proxywasm.ReplaceHttpRequestBody([]byte(strings.ToUpper(string(b))))
	return types.ActionContinue
}

func (h *httpCtx) OnHttpResponseHeaders(int, bool) types.Action {
	if h.in != "" {
		_ = proxywasm.AddHttpResponseHeader("x-out", h.in+h.p.suffix)
	}
	return types.ActionContinue
}

func (h *httpCtx) OnHttpResponseBody(_ int, eos bool) types.Action {
	if eos {
		_ = proxywasm.AppendHttpResponseBody([]byte("!"))
	}
	return types.ActionContinue
}
