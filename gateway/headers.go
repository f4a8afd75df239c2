package gateway

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// hopHeaders are the hop-by-hop fields (RFC 9110 §7.6.1 and the legacy
// Proxy-Connection/Keep-Alive); Transfer-Encoding and Connection are managed
// by fasthttp itself.
var hopHeaders = [...]string{
	"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Upgrade",
}

const viaValue = "1.1 wasmgate"

// prepareRequest turns the client's request header into the upstream's:
// hop-by-hop fields (and those Connection names) removed, X-Forwarded-For
// appended, X-Forwarded-Proto and Via set. Host is preserved. buf and hop are
// scratch buffers returned for reuse.
func prepareRequest(h *fasthttp.RequestHeader, client netip.Addr, buf, hop []byte) ([]byte, []byte) {
	hop = stripConnectionTokens(h.Peek("Connection"), hop, h.Del)
	for _, name := range hopHeaders {
		if len(h.Peek(name)) > 0 {
			h.Del(name)
		}
	}
	h.Del("Connection")
	h.ResetConnectionClose()

	buf = buf[:0]
	if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
		buf = append(buf, prior...)
		buf = append(buf, ", "...)
	}
	buf = client.AppendTo(buf)
	h.SetBytesV("X-Forwarded-For", buf)
	h.Set("X-Forwarded-Proto", "http")
	if prior := h.Peek("Via"); len(prior) > 0 {
		buf = append(buf[:0], prior...)
		buf = append(buf, ", "+viaValue...)
		h.SetBytesV("Via", buf)
	} else {
		h.Set("Via", viaValue)
	}
	if len(h.Host()) == 0 {
		// HTTP/1.0 without Host: fasthttp refuses to write a request
		// without one; an empty Host is what the client meant.
		h.SetHost("")
	}
	return buf, hop
}

// stripResponseHopHeaders removes hop-by-hop fields from an upstream
// response before it goes to the client.
func stripResponseHopHeaders(h *fasthttp.ResponseHeader, hop []byte) []byte {
	hop = stripConnectionTokens(h.Peek("Connection"), hop, h.Del)
	for _, name := range hopHeaders {
		if len(h.Peek(name)) > 0 {
			h.Del(name)
		}
	}
	h.Del("Connection")
	return hop
}

// stripConnectionTokens deletes the fields named by a Connection value. The
// value is copied first because deleting fields invalidates it.
func stripConnectionTokens(value, scratch []byte, del func(string)) []byte {
	if len(value) == 0 {
		return scratch
	}
	scratch = append(scratch[:0], value...)
	for rest := scratch; len(rest) > 0; {
		var tok []byte
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			tok, rest = rest, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == 0 || asciiEqualFold(tok, "close") || asciiEqualFold(tok, "keep-alive") {
			continue
		}
		del(bytesToString(tok))
	}
	return scratch
}

// fillExchange copies the h1 request into the protocol-neutral exchange.
func fillExchange(x *exchange.Exchange, ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	r := &x.Request
	r.Method = append(r.Method[:0], req.Header.Method()...)
	r.Scheme = append(r.Scheme[:0], "http"...)
	r.Authority = append(r.Authority[:0], req.Header.Host()...)
	r.Path = append(r.Path[:0], req.Header.RequestURI()...)
	r.Protocol = exchange.HTTP11
	r.ContentLength = int64(max(req.Header.ContentLength(), -1))
	if req.Header.ContentLength() == -2 {
		r.ContentLength = 0
	}
	if ta, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		x.Destination = netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port))
	}
	for k, v := range req.Header.All() {
		if asciiEqualFold(k, "host") {
			continue
		}
		r.Header.AddBytes(k, v)
	}
	r.ClearModified()
}

// applyRequest writes a request the chain modified back into the h1 request.
func applyRequest(req *fasthttp.Request, x *exchange.Exchange) {
	h := &req.Header
	cl := h.ContentLength()
	closeConn := h.ConnectionClose()
	r := &x.Request
	h.Reset()
	h.SetMethodBytes(r.Method)
	h.SetRequestURIBytes(r.Path)
	h.SetHostBytes(r.Authority)
	r.Header.Range(func(k, v []byte) bool {
		if !asciiEqualFold(k, "content-length") && !asciiEqualFold(k, "transfer-encoding") {
			h.AddBytesKV(k, v)
		}
		return true
	})
	if cl >= -1 {
		// -2 means "no body framing" (GET, HEAD): setting it would turn
		// into Transfer-Encoding: chunked.
		h.SetContentLength(cl)
	}
	if closeConn {
		h.SetConnectionClose()
	}
}

// fillResponseHeader copies an h1 response header into the exchange.
func fillResponseHeader(dst *exchange.Header, src *fasthttp.ResponseHeader) {
	dst.Reset()
	for k, v := range src.All() {
		dst.AddBytes(k, v)
	}
	dst.ClearModified()
}

// applyResponse writes response headers the chain modified back into the h1
// response, keeping its body (buffered or streamed) and framing.
func applyResponse(resp *fasthttp.Response, x *exchange.Exchange) {
	h := &resp.Header
	cl := h.ContentLength()
	h.Reset()
	h.SetNoDefaultContentType(true)
	h.SetStatusCode(x.Response.Status)
	x.Response.Header.Range(func(k, v []byte) bool {
		if !asciiEqualFold(k, "content-length") && !asciiEqualFold(k, "transfer-encoding") && !asciiEqualFold(k, "connection") {
			h.AddBytesKV(k, v)
		}
		return true
	})
	h.SetContentLength(cl)
}

// writeExchangeResponse writes the exchange's local response.
func writeExchangeResponse(ctx *fasthttp.RequestCtx, x *exchange.Exchange) {
	resp := &ctx.Response
	_ = resp.CloseBodyStream()
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	status := x.Response.Status
	if status == 0 {
		status = fasthttp.StatusOK
	}
	resp.SetStatusCode(status)
	x.Response.Header.Range(func(k, v []byte) bool {
		if !asciiEqualFold(k, "content-length") && !asciiEqualFold(k, "transfer-encoding") && !asciiEqualFold(k, "connection") {
			resp.Header.AddBytesKV(k, v)
		}
		return true
	})
	if len(x.Response.Body) > 0 && len(resp.Header.ContentType()) == 0 {
		resp.Header.SetContentType("text/plain; charset=utf-8")
	}
	resp.SetBody(x.Response.Body)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c1, c2 := b[i], s[i]
		if 'A' <= c1 && c1 <= 'Z' {
			c1 += 'a' - 'A'
		}
		if 'A' <= c2 && c2 <= 'Z' {
			c2 += 'a' - 'A'
		}
		if c1 != c2 {
			return false
		}
	}
	return true
}
