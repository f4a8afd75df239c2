package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/filters"
)

// TestBuiltinChain runs the three built-in filters (routing, auth, headers)
// through the gateway against real backends: routes with rewrite, redirect
// and direct response, key auth on one path, and response headers.
func TestBuiltinChain(t *testing.T) {
	if raceEnabled {
		t.Skip("compiling Go-built WASM filters takes minutes under -race; make test runs this in its plain pass")
	}
	for _, name := range []string{"routing", "auth", "headers"} {
		if _, ok := filters.Builtin(name); !ok {
			t.Skipf("builtin:%s is not built (run make filters)", name)
		}
	}
	be := startEcho(t, "web", "api")
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "default"
  upstream = "web"
}
upstream "web" {
  endpoint %q {}
}
upstream "api" {
  endpoint %q {}
}
route "api" {
  match {
    path_prefix = "/api"
  }
  to = { api = 100 }
  rewrite {
    path_prefix = "/"
  }
  timeout = "2s"
}
route "old-docs" {
  match {
    path_prefix = "/docs/v0"
  }
  redirect {
    prefix = "/docs/v1"
    status = 301
  }
}
route "healthz" {
  match {
    path = "/healthz"
  }
  respond {
    status = 200
    body   = "ok\n"
  }
}
chain "default" {
  filter "routing" {
    module = "builtin:routing"
  }
  filter "auth" {
    module = "builtin:auth"
    config = {
      type      = "key"
      keys      = { alice = "alice-key" }
      protected = { paths = ["/admin"] }
    }
  }
  filter "headers" {
    module = "builtin:headers"
    config = {
      request  = { set = { "x-route" = "$${route}" } }
      response = { set = { "x-frame-options" = "DENY", "x-served-by" = "$${upstream}" } }
    }
  }
}
`, be[0].Addr(), be[1].Addr())
	_, url := startGateway(t, src, Options{})
	c := newClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, body := get(t, c, url+"/api/users?id=7")
	r := echoReply(t, body)
	if resp.StatusCode != 200 || r.Backend != "api" || r.Path != "/users?id=7" {
		t.Fatalf("route api with prefix rewrite: %d backend=%q path=%q", resp.StatusCode, r.Backend, r.Path)
	}
	if resp.Header.Get("X-Served-By") != "api" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("response headers: served-by=%q frame=%q", resp.Header.Get("X-Served-By"), resp.Header.Get("X-Frame-Options"))
	}
	if got := r.Headers["x-route"]; len(got) != 1 || got[0] != "api" {
		t.Fatalf("request header with ${route}: %q", got)
	}

	resp, body = get(t, c, url+"/other")
	if echoReply(t, body).Backend != "web" || resp.Header.Get("X-Served-By") != "web" {
		t.Fatal("unrouted requests go to the listener's default upstream")
	}

	resp, _ = get(t, c, url+"/docs/v0/intro?x=1")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://"+resp.Request.Host+"/docs/v1/intro?x=1" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, body = get(t, c, url+"/healthz")
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.Header.Get("X-Backend") != "" {
		t.Fatalf("direct response: %d %q backend=%q", resp.StatusCode, body, resp.Header.Get("X-Backend"))
	}

	resp, _ = get(t, c, url+"/admin")
	if resp.StatusCode != 401 || resp.Header.Get("Www-Authenticate") == "" || resp.Header.Get("X-Backend") != "" {
		t.Fatalf("missing key: %d %q backend=%q", resp.StatusCode, resp.Header.Get("Www-Authenticate"), resp.Header.Get("X-Backend"))
	}
	resp, body = get(t, c, url+"/admin", "X-Api-Key", "alice-key")
	r = echoReply(t, body)
	if resp.StatusCode != 200 || r.Backend != "web" {
		t.Fatalf("valid key: %d %q", resp.StatusCode, r.Backend)
	}
	if _, leaked := r.Headers["x-api-key"]; leaked {
		t.Fatal("the credential reached the upstream")
	}
}

// builtinChainHCL is the chain the built-in filter benchmark runs: routing
// (one route), auth (the benchmark path is public) and response headers.
const builtinChainHCL = `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "default"
  upstream = "u"
}
upstream "u" {
  endpoint %q {}
}
route "bench" {
  match {
    path_prefix = "/bench"
  }
  to = { u = 100 }
}
chain "default" {
  filter "routing" {
    module    = "builtin:routing"
    pool_size = 1
  }
  filter "auth" {
    module    = "builtin:auth"
    pool_size = 1
    config = {
      type      = "key"
      keys      = { alice = "alice-key" }
      protected = { paths = ["/admin"] }
    }
  }
  filter "headers" {
    module    = "builtin:headers"
    pool_size = 1
    config = {
      response = { set = { "x-frame-options" = "DENY" } }
    }
  }
}
`

// BenchmarkBuiltinChain is BenchmarkH1Proxy with the three built-in filters
// in the chain; the difference between the two is what the filters cost
// per request.
func BenchmarkBuiltinChain(b *testing.B) {
	for _, name := range []string{"routing", "auth", "headers"} {
		if _, ok := filters.Builtin(name); !ok {
			b.Skipf("builtin:%s is not built (run make filters)", name)
		}
	}
	backend := fixedBackend(b)
	cfg, diags := conf.Parse(map[string][]byte{"b.hcl": []byte(fmt.Sprintf(builtinChainHCL, backend))}, ".")
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	gw := New(Options{})
	if err := gw.Start(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Shutdown(context.Background()) })
	var l *h1Listener
	for _, v := range gw.listeners {
		l = v
	}
	ctx, tmpl := newBenchCtx()
	for i := 0; i < 100; i++ {
		serveOnce(l, ctx, tmpl)
	}
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek("X-Frame-Options")) != "DENY" {
		b.Fatalf("chain not applied: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Frame-Options"))
	}
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(l, ctx, tmpl)
	}
}

// TestBuiltinRootID checks that a built-in stage runs under its own name as
// root id: another root_id is a diagnostic on the module attribute.
func TestBuiltinRootID(t *testing.T) {
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "default"
  upstream = "u"
}
upstream "u" {
  endpoint "127.0.0.1:1" {}
}
chain "default" {
  filter "auth" {
    module  = "builtin:auth"
    root_id = "routing"
  }
}
`
	cfg, diags := conf.Parse(map[string][]byte{"b.hcl": []byte(src)}, ".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	diags = Check(context.Background(), cfg, Options{})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, `builtin:auth always runs under root id "auth"`) ||
		diags[0].Subject == nil || diags[0].Subject.Start.Line != 13 {
		t.Fatalf("diagnostics = %v", diags)
	}
}
