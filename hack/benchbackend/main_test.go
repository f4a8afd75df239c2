package main

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestHandleBody(t *testing.T) {
	var ctx fasthttp.RequestCtx
	handle(&ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusOK {
		t.Fatalf("status = %d, want 200", got)
	}
	if got := len(ctx.Response.Body()); got != bodySize {
		t.Fatalf("body length = %d, want %d", got, bodySize)
	}
}

func TestHandleDoesNotAllocate(t *testing.T) {
	var ctx fasthttp.RequestCtx
	handle(&ctx) // warm the header buffers
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		handle(&ctx)
	})
	if allocs != 0 {
		t.Fatalf("handle allocates %.1f times per request, want 0", allocs)
	}
}
