// Command benchbackend is the upstream used by hack/bench.sh: a minimal
// fasthttp server that answers every request, whatever its method or path,
// with 200 and the same fixed 1 KiB body. The handler does not allocate, so
// the backend costs as little CPU as possible and the proxy under test
// dominates the measurement.
package main

import (
	"bytes"
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

// bodySize is the size of every response body.
const bodySize = 1024

var (
	body        = bytes.Repeat([]byte("x"), bodySize)
	contentType = []byte("text/plain")
)

func handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(contentType)
	// SetBodyRaw keeps a reference to body instead of copying it; body is
	// never modified.
	ctx.Response.SetBodyRaw(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address (host:port)")
	flag.Parse()

	s := &fasthttp.Server{
		Handler:               handle,
		Name:                  "benchbackend",
		NoDefaultServerHeader: true,
		// Proxies keep connections open for a long time; do not cut them.
		IdleTimeout: 0,
	}
	log.Printf("benchbackend: listening on %s (body %d bytes)", *addr, bodySize)
	if err := s.ListenAndServe(*addr); err != nil {
		log.Fatalf("benchbackend: %v", err)
	}
}
