package gateway

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// Mirroring bounds: copies in flight at once (more are dropped, never
// queued, so a slow mirror cannot hold up live traffic) and how long one
// may take.
const (
	maxMirrorsInFlight = 64
	mirrorTimeout      = 30 * time.Second
)

// mirror sends a copy of req to up in the background and discards the
// answer. req must be bodiless; it is copied before mirror returns.
func (g *Gateway) mirror(up *upstream.Upstream, req *fasthttp.Request) {
	select {
	case g.mirrors <- struct{}{}:
	default:
		g.mirrorsDropped.Add(1)
		return
	}
	cp := fasthttp.AcquireRequest()
	req.Header.CopyTo(&cp.Header)
	go func() {
		defer func() { <-g.mirrors }()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(cp)
		defer fasthttp.ReleaseResponse(resp)
		ctx, cancel := context.WithTimeout(context.Background(), mirrorTimeout)
		defer cancel()
		var call upstream.Call
		if err := up.Forward(ctx, cp, resp, &call); err != nil {
			g.log.Debug("mirror failed", "upstream", up.Name(), "err", err)
			return
		}
		_ = resp.CloseBodyStream()
	}()
}
