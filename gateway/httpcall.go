package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/upstream"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// maxCalloutBody bounds the response body of a filter's http_call.
const maxCalloutBody = 4 << 20

// errUnknownUpstream is a filter calling an upstream the config lacks.
var errUnknownUpstream = errors.New("unknown upstream")

// httpCall performs a filter's proxy_http_call through this graph's
// upstream pools, with the same balancing and retries as proxied requests.
func (rt *graph) httpCall(ctx context.Context, c *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
	up := rt.upstreams[c.Upstream]
	if up == nil {
		return nil, fmt.Errorf("%w %q", errUnknownUpstream, c.Upstream)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.DisableSpecialHeader()
	req.Header.SetProtocol("HTTP/1.1")
	req.Header.EnableSpecialHeader()
	for _, h := range c.Headers {
		switch h[0] {
		case ":method":
			req.Header.SetMethod(h[1])
		case ":path":
			req.Header.SetRequestURI(h[1])
		case ":authority":
			req.Header.SetHost(h[1])
		case ":scheme":
		default:
			if !strings.HasPrefix(h[0], ":") {
				req.Header.Add(h[0], h[1])
			}
		}
	}
	req.SetBody(c.Body)
	var call upstream.Call
	if err := up.Forward(ctx, req, resp, &call); err != nil {
		return nil, err
	}
	out := &wasmhost.CalloutResponse{Headers: [][2]string{{":status", strconv.Itoa(resp.StatusCode())}}}
	for k, v := range resp.Header.All() {
		out.Headers = append(out.Headers, [2]string{strings.ToLower(string(k)), string(v)})
	}
	if s := resp.BodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, maxCalloutBody+1))
		_ = resp.CloseBodyStream()
		if err != nil {
			return nil, fmt.Errorf("read http_call response: %w", err)
		}
		if len(b) > maxCalloutBody {
			return nil, fmt.Errorf("http_call response body exceeds %d bytes", maxCalloutBody)
		}
		out.Body = b
	} else {
		out.Body = append([]byte(nil), resp.Body()...)
	}
	return out, nil
}
