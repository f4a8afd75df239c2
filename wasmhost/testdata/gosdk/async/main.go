// Command async is a Go-SDK test filter (built for GOOS=wasip1 by the
// wasmhost tests): http_call with pause/resume (like the SDK's http_auth
// example), an http_call dispatched from a tick (dispatch_call_on_tick),
// shared data with CAS (shared_data) and a shared queue.
package main

import (
	"encoding/binary"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	queue              uint32
	ticks, tickCalls   proxywasm.MetricCounter
	queueItems         proxywasm.MetricCounter
	dispatchedFromTick bool
}

var callHeaders = [][2]string{{":method", "GET"}, {":path", "/auth"}, {":authority", "auth.local"}}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	var err error
	if p.queue, err = proxywasm.RegisterSharedQueue("events"); err != nil {
		proxywasm.LogCriticalf("register queue: %v", err)
		return types.OnPluginStartStatusFailed
	}
	// Create the shared counter once, like the SDK's shared_data example: a
	// set with cas 0 is unconditional, so creating it per request would race.
	if _, _, err := proxywasm.GetSharedData("hits"); err == types.ErrorStatusNotFound {
		if err := proxywasm.SetSharedData("hits", make([]byte, 8), 0); err != nil {
			proxywasm.LogCriticalf("init shared data: %v", err)
		}
	}
	p.ticks = proxywasm.DefineCounterMetric("gosdk_ticks")
	p.tickCalls = proxywasm.DefineCounterMetric("gosdk_tick_calls")
	p.queueItems = proxywasm.DefineCounterMetric("gosdk_queue_items")
	if err := proxywasm.SetTickPeriodMilliSeconds(5); err != nil {
		proxywasm.LogCriticalf("tick: %v", err)
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) OnTick() {
	p.ticks.Increment(1)
	if p.dispatchedFromTick {
		return
	}
	p.dispatchedFromTick = true
	if _, err := proxywasm.DispatchHttpCall("ticker", callHeaders, nil, nil, 1000, func(int, int, int) {
		p.tickCalls.Increment(1)
		proxywasm.LogInfo("tick call answered")
	}); err != nil {
		proxywasm.LogErrorf("dispatch from tick: %v", err)
	}
}

func (p *plugin) OnQueueReady(id uint32) {
	for {
		if _, err := proxywasm.DequeueSharedQueue(id); err != nil {
			return
		}
		p.queueItems.Increment(1)
	}
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &httpCtx{p: p} }

type httpCtx struct {
	types.DefaultHttpContext
	p *plugin
}

func (h *httpCtx) OnHttpRequestHeaders(int, bool) types.Action {
	mode, _ := proxywasm.GetHttpRequestHeader("x-mode")
	switch mode {
	case "shared":
		for {
			v, cas, err := proxywasm.GetSharedData("hits")
			var n uint64
			if err == nil && len(v) == 8 {
				n = binary.LittleEndian.Uint64(v)
			} else if err != nil && err != types.ErrorStatusNotFound {
				proxywasm.LogErrorf("get shared: %v", err)
				return types.ActionContinue
			}
			n++
			buf := binary.LittleEndian.AppendUint64(nil, n)
			err = proxywasm.SetSharedData("hits", buf, cas)
			if err == types.ErrorStatusCasMismatch {
				continue
			}
			if err != nil {
				proxywasm.LogErrorf("set shared: %v", err)
				return types.ActionContinue
			}
			_ = proxywasm.AddHttpRequestHeader("x-hits", strconv.FormatUint(n, 10))
			return types.ActionContinue
		}
	case "queue":
		id, err := proxywasm.ResolveSharedQueue("vm1", "events")
		if err == nil {
			err = proxywasm.EnqueueSharedQueue(id, []byte("hit"))
		}
		if err != nil {
			proxywasm.LogErrorf("enqueue: %v", err)
		}
	case "auth":
		if _, err := proxywasm.DispatchHttpCall("auth", callHeaders, []byte("who?"), nil, 1000, h.onAuth); err != nil {
			proxywasm.LogErrorf("dispatch: %v", err)
			_ = proxywasm.SendHttpResponse(500, nil, []byte("dispatch failed"), -1)
		}
		return types.ActionPause
	}
	return types.ActionContinue
}

func (h *httpCtx) onAuth(_, bodySize, _ int) {
	hs, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		_ = proxywasm.SendHttpResponse(503, nil, []byte("auth unavailable"), -1)
		return
	}
	status := ""
	for _, kv := range hs {
		if kv[0] == ":status" {
			status = kv[1]
		}
	}
	if status != "200" {
		_ = proxywasm.SendHttpResponse(403, [][2]string{{"x-auth-status", status}}, []byte("forbidden"), -1)
		return
	}
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	_ = proxywasm.AddHttpRequestHeader("x-user", string(body))
	_ = proxywasm.ResumeHttpRequest()
}
