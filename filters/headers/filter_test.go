package headers

import (
	"reflect"
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
)

// TestHeaders runs a request and a response through the filter and checks
// both header maps.
func TestHeaders(t *testing.T) {
	props := map[string]string{
		"source.address":    "203.0.113.7:50123",
		"wasmgate.route":    "v1",
		"wasmgate.upstream": "api",
		"wasmgate.consumer": "alice",
		"wasmgate.listener": "public",
		"request.id":        "req-1", // wasmgate derives it from x-request-id
	}
	reqHeaders := [][2]string{
		{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/a?b=1"},
		{"x-request-id", "req-1"}, {"cookie", "a=1"}, {"x-remove-me", "1"}, {"x-multi", "1"}, {"x-multi", "2"},
	}
	respHeaders := [][2]string{{":status", "200"}, {"server", "backend"}, {"x-powered-by", "php"}, {"set-cookie", "a=1"}}
	tests := []struct {
		name       string
		config     string
		props      map[string]string
		wantReq    [][2]string
		wantResp   [][2]string
		noContexts bool
	}{
		{
			name:     "empty config passes through",
			config:   ``,
			wantReq:  reqHeaders,
			wantResp: respHeaders,
		},
		{
			name:   "request set add remove, names case-insensitive",
			config: `{"request":{"set":{"X-Multi":"one","X-New":"n"},"add":{"Cookie":"b=2"},"remove":["x-remove-me","X-MISSING"]}}`,
			wantReq: [][2]string{
				{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/a?b=1"},
				{"x-request-id", "req-1"}, {"cookie", "a=1"}, {"x-multi", "one"}, {"x-new", "n"}, {"cookie", "b=2"},
			},
			wantResp: respHeaders,
		},
		{
			name:     "response set add remove",
			config:   `{"response":{"set":{"x-frame-options":"DENY","Server":"wasmgate"},"add":{"set-cookie":"b=2"},"remove":["X-Powered-By"]}}`,
			wantReq:  reqHeaders,
			wantResp: [][2]string{{":status", "200"}, {"server", "wasmgate"}, {"set-cookie", "a=1"}, {"x-frame-options", "DENY"}, {"set-cookie", "b=2"}},
		},
		{
			name:   "variables",
			config: `{"request":{"set":{"x-client":"${client_ip}","x-ctx":"${route}/${upstream}/${consumer}/${listener}","x-id":"id=${request_id}","x-req":"${method} ${scheme}://${host}${path}","x-lit":"$${route} costs $5"}}}`,
			props:  props,
			wantReq: append(append([][2]string{}, reqHeaders...),
				[2]string{"x-client", "203.0.113.7"}, [2]string{"x-ctx", "v1/api/alice/public"}, [2]string{"x-id", "id=req-1"},
				[2]string{"x-lit", "${route} costs $5"}, [2]string{"x-req", "GET https://example.com/a?b=1"}),
			wantResp: respHeaders,
		},
		{
			name:    "ipv6 client and unset properties",
			config:  `{"response":{"add":{"x-client":"${client_ip}","x-consumer":"[${consumer}]"}}}`,
			props:   map[string]string{"source.address": "[2001:db8::1]:443"},
			wantReq: reqHeaders,
			wantResp: append(append([][2]string{}, respHeaders...),
				[2]string{"x-client", "2001:db8::1"}, [2]string{"x-consumer", "[]"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(tc.config)})
			if !h.Start() {
				t.Fatalf("rejected: %v", h.LogMessages(proxywasm.LevelError))
			}
			s := h.NewStream()
			for k, v := range tc.props {
				s.SetProperty(k, v)
			}
			if act := s.CallOnRequestHeaders(reqHeaders, true); act != proxywasm.Continue {
				t.Fatalf("request action %d", act)
			}
			if act := s.CallOnResponseHeaders(respHeaders, true); act != proxywasm.Continue {
				t.Fatalf("response action %d", act)
			}
			if got := s.RequestHeaders(); !reflect.DeepEqual(got, tc.wantReq) {
				t.Errorf("request headers\n got %q\nwant %q", got, tc.wantReq)
			}
			if got := s.ResponseHeaders(); !reflect.DeepEqual(got, tc.wantResp) {
				t.Errorf("response headers\n got %q\nwant %q", got, tc.wantResp)
			}
			s.Complete()
		})
	}
}

// TestBadConfig: invalid configurations are rejected with a log line.
func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{
		`{`,
		`{"requests":{}}`,
		`{"request":{"set":{":path":"/x"}}}`,
		`{"request":{"remove":["bad name"]}}`,
		`{"response":{"add":{"x":"${nope}"}}}`,
		`{"response":{"add":{"x":"${route"}}}`,
		`{"response":{"replace":{"x":"y"}}}`,
	} {
		t.Run(cfg, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(cfg)})
			if h.Start() {
				t.Fatal("accepted")
			}
			if len(h.LogMessages(proxywasm.LevelError)) == 0 {
				t.Fatal("nothing logged")
			}
		})
	}
}

// TestVariablesFit: every variable fits the per-request cache.
func TestVariablesFit(t *testing.T) {
	if n := len(variables()); n > maxVars {
		t.Fatalf("%d variables, cache holds %d", n, maxVars)
	}
}

// BenchmarkHeaders measures a request and a response with literal and
// variable values.
func BenchmarkHeaders(b *testing.B) {
	h := proxywasmtest.New(b, newRoot, proxywasmtest.Options{PluginConfig: []byte(
		`{"request":{"set":{"x-client":"${client_ip}","x-route":"${route}"},"remove":["x-internal"]},` +
			`"response":{"set":{"x-frame-options":"DENY"},"add":{"x-upstream":"${upstream}"},"remove":["server"]}}`),
		Properties: map[string]string{"source.address": "10.0.0.1:1234", "wasmgate.route": "v1", "wasmgate.upstream": "api"}})
	if !h.Start() {
		b.Fatal("rejected")
	}
	req := [][2]string{{":method", "GET"}, {":authority", "h"}, {":path", "/"}, {"x-internal", "1"}}
	resp := [][2]string{{":status", "200"}, {"server", "x"}}
	b.ReportAllocs()
	for b.Loop() {
		s := h.NewStream()
		s.CallOnRequestHeaders(req, true)
		s.CallOnResponseHeaders(resp, true)
		s.Complete()
	}
}

// TestContextReuse: a finished request's context serves the next one, with
// nothing of the first left: each request sees its own variables.
func TestContextReuse(t *testing.T) {
	var r *root
	newR := func(id uint32) proxywasm.RootContext { r = newRoot(id).(*root); return r }
	h := proxywasmtest.New(t, newR, proxywasmtest.Options{PluginConfig: []byte(
		`{"request":{"set":{"x-route":"${route}"}}}`)})
	if !h.Start() {
		t.Fatal("start failed")
	}
	for i, route := range []string{"first", "second", "", "third"} {
		s := h.NewStream()
		if route != "" {
			s.SetProperty("wasmgate.route", route)
		}
		s.CallOnRequestHeaders([][2]string{{":method", "GET"}, {":path", "/"}}, true)
		if got, _ := s.RequestHeader("x-route"); got != route {
			t.Fatalf("request %d: x-route = %q, want %q", i, got, route)
		}
		s.Complete()
	}
	if n := len(r.free); n != 1 {
		t.Fatalf("%d contexts kept for reuse, want 1", n)
	}
}
