package routing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// TestConfGolden decodes every configuration that conf's golden tests say
// conf.Config.RoutingJSON produces (conf/testdata/routing/*.golden, one
// JSON document per listener), so that the gateway's translation and this
// filter's schema cannot drift apart, and routes a few requests through the
// "public" listener's table.
func TestConfGolden(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "conf", "testdata", "routing", "*.golden"))
	if len(paths) == 0 {
		t.Skip("conf/testdata/routing not found next to this module")
	}
	docs := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range bytes.Split(b, []byte("# listener "))[1:] {
			name, doc, _ := strings.Cut(string(part), "\n")
			docs[filepath.Base(p)+":"+name] = doc
			t.Run(filepath.Base(p)+"/"+name, func(t *testing.T) {
				if _, err := parseConfig([]byte(doc)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	doc, ok := docs["routes.golden:public"]
	if !ok {
		t.Fatal("routes.golden has no listener public")
	}
	tests := []struct {
		req                   req
		route, upstream, path string
		status                int
		location, hostRewrite string
	}{
		{req: get("api.example.com", "/v1/users"), route: "v1", upstream: "api", path: "/users", hostRewrite: "api.internal"},
		{req: get("x.api.example.com", "/v1"), route: "v1", upstream: "api", path: "/", hostRewrite: "api.internal"},
		{req: get("h", "/items/7?format=json&trace", [2]string{"user-agent", "curl/8"}), route: "items", upstream: "api", path: "/item?format=json&trace", hostRewrite: "h"},
		{req: get("h", "/old/a?x=1"), route: "old", status: 308, location: "https://h/new/a"},
		{req: get("h", "/healthz"), upstream: "web", path: "/healthz", hostRewrite: "h"},
	}
	for _, tc := range tests {
		t.Run(tc.req.host+tc.req.path, func(t *testing.T) {
			h := start(t, doc)
			res := do(h, tc.req)
			if res.route != tc.route || res.upstream != tc.upstream || res.status != tc.status || res.location != tc.location {
				t.Fatalf("result %+v, want %+v", res, tc)
			}
			if tc.status == 0 && (res.action != proxywasm.Continue || res.path != tc.path || res.host != tc.hostRewrite) {
				t.Fatalf("result %+v, want path %q host %q", res, tc.path, tc.hostRewrite)
			}
		})
	}
}
