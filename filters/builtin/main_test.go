package main

import (
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
)

// TestRootIDSelectsFilter runs the module's root factory under each root id
// and checks that the filter it selects is the one that acts: headers sets
// a response header, auth answers 401, routing answers a direct response;
// an unknown or missing root id refuses to start.
func TestRootIDSelectsFilter(t *testing.T) {
	req := [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/x"}}
	for _, tc := range []struct {
		rootID, config string
		check          func(t *testing.T, s *proxywasmtest.Stream)
	}{
		{"headers", `{"response":{"set":{"x-frame-options":"DENY"}}}`, func(t *testing.T, s *proxywasmtest.Stream) {
			s.CallOnRequestHeaders(req, true)
			s.CallOnResponseHeaders([][2]string{{":status", "200"}}, true)
			if v, _ := s.ResponseHeader("x-frame-options"); v != "DENY" {
				t.Errorf("x-frame-options = %q, want DENY", v)
			}
		}},
		{"auth", `{"type":"key","keys":{"alice":"k"}}`, func(t *testing.T, s *proxywasmtest.Stream) {
			if a := s.CallOnRequestHeaders(req, true); a != proxywasm.Pause {
				t.Errorf("action = %v, want Pause", a)
			}
			if lr, ok := s.LocalResponse(); !ok || lr.Status != 401 {
				t.Errorf("local response = %+v %v, want 401", lr, ok)
			}
		}},
		{"routing", `{"routes":[{"name":"r","match":[{"path":"/x"}],"respond":{"status":418,"body":"tea"}}]}`,
			func(t *testing.T, s *proxywasmtest.Stream) {
				s.CallOnRequestHeaders(req, true)
				if lr, ok := s.LocalResponse(); !ok || lr.Status != 418 {
					t.Errorf("local response = %+v %v, want 418", lr, ok)
				}
			}},
	} {
		t.Run(tc.rootID, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{
				PluginConfig: []byte(tc.config),
				Properties:   map[string]string{"plugin_root_id": tc.rootID},
			})
			if !h.Start() {
				t.Fatalf("start failed: %q", h.LogMessages(proxywasm.LevelError))
			}
			tc.check(t, h.NewStream())
		})
	}
	for _, props := range []map[string]string{{"plugin_root_id": "nope"}, nil} {
		t.Run("refused", func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{Properties: props})
			if h.Start() {
				t.Fatal("an unknown root id started")
			}
			if msgs := h.LogMessages(proxywasm.LevelError); len(msgs) == 0 || !strings.Contains(msgs[0], "builtin:") {
				t.Errorf("error logs = %q", msgs)
			}
		})
	}
}
