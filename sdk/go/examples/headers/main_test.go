package main

import (
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		request    [][2]string
		wantAction proxywasm.Action
		wantStatus int    // local response status, 0 for none
		wantHeader string // expected response header name ("" for none)
		wantValue  string
	}{
		{
			name:       "deny",
			request:    [][2]string{{":path", "/"}, {"x-deny", "1"}},
			wantAction: proxywasm.Pause,
			wantStatus: 403,
		},
		{
			name:       "deny other value passes",
			request:    [][2]string{{":path", "/"}, {"x-deny", "0"}, {"user-agent", "curl/8"}},
			wantAction: proxywasm.Continue,
			wantHeader: "x-seen-agent",
			wantValue:  "curl/8",
		},
		{
			name:       "configured header name",
			config:     "x-agent",
			request:    [][2]string{{":path", "/"}, {"User-Agent", "test/1"}},
			wantAction: proxywasm.Continue,
			wantHeader: "x-agent",
			wantValue:  "test/1",
		},
		{
			name:       "no user agent",
			request:    [][2]string{{":path", "/"}},
			wantAction: proxywasm.Continue,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(tt.config)})
			if !h.Start() {
				t.Fatal("start failed")
			}
			s := h.NewStream()
			if got := s.CallOnRequestHeaders(tt.request, true); got != tt.wantAction {
				t.Fatalf("request action = %d, want %d", got, tt.wantAction)
			}
			lr, ok := s.LocalResponse()
			if tt.wantStatus != 0 {
				if !ok || lr.Status != tt.wantStatus || string(lr.Body) != "denied\n" {
					t.Fatalf("local response = %+v, %v; want status %d", lr, ok, tt.wantStatus)
				}
				return
			}
			if ok {
				t.Fatalf("unexpected local response %+v", lr)
			}
			if got := s.CallOnResponseHeaders([][2]string{{":status", "200"}}, true); got != proxywasm.Continue {
				t.Fatalf("response action = %d", got)
			}
			all := s.ResponseHeaders()
			if tt.wantHeader == "" {
				if len(all) != 1 {
					t.Fatalf("response headers = %v, want only :status", all)
				}
			} else if v, _ := s.ResponseHeader(tt.wantHeader); v != tt.wantValue {
				t.Fatalf("%s = %q, want %q (headers %v)", tt.wantHeader, v, tt.wantValue, all)
			}
			s.Complete()
		})
	}
}
