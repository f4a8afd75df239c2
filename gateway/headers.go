package gateway

import (
	"bytes"
	"iter"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
)

// hopHeaders are the hop-by-hop fields (RFC 9110 §7.6.1 and the legacy
// Proxy-Connection/Keep-Alive); Transfer-Encoding and Connection are managed
// by fasthttp itself.
var hopHeaders = [...]string{
	"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Upgrade",
}

// prepareRequest turns the client's request header into the upstream's:
// hop-by-hop fields (and those Connection names) removed, X-Forwarded-For
// appended, X-Forwarded-Proto and Via set. Host is preserved. buf and hop are
// scratch buffers returned for reuse.
//
// scheme is the client's scheme ("http" or "https") for X-Forwarded-Proto.
// upgrade keeps a WebSocket upgrade (Upgrade: websocket, Connection:
// Upgrade), the one hop-by-hop exchange a proxy passes on.
func prepareRequest(h *fasthttp.RequestHeader, client netip.Addr, scheme, via string, upgrade bool, buf, hop []byte) ([]byte, []byte) {
	// One pass finds the fields that need work; a typical request has
	// none of them, and a lookup by name costs a key normalisation and a
	// scan each.
	found := scanFields(h.All())
	if found&(h1.FieldConnection|h1.FieldHopByHop) != 0 {
		hop = stripConnectionTokens(h.Peek("Connection"), hop, h.Del)
		for _, name := range hopHeaders {
			if len(h.Peek(name)) > 0 {
				h.Del(name)
			}
		}
		h.Del("Connection")
	}
	h.ResetConnectionClose()
	if upgrade {
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
	}

	var prior []byte
	if found&h1.FieldXFF != 0 {
		prior = h.Peek("X-Forwarded-For")
	}
	buf = h1.AppendForwardedFor(buf[:0], prior, client)
	h.SetCanonical([]byte("X-Forwarded-For"), buf)
	h.SetCanonical([]byte("X-Forwarded-Proto"), []byte(scheme))
	prior = nil
	if found&h1.FieldVia != 0 {
		prior = h.Peek("Via")
	}
	buf = h1.AppendVia(buf[:0], prior, via)
	h.SetCanonical([]byte("Via"), buf)
	// Forward the client's fields as sent: fasthttp would otherwise invent
	// a Content-Type for a body that came without one.
	h.SetNoDefaultContentType(true)
	return buf, hop
}

// scanFields ORs the h1.Field classes of a head's field names, so that one
// pass tells which fields need work.
func scanFields(all iter.Seq2[[]byte, []byte]) int {
	found := 0
	for k := range all {
		found |= h1.Classify(k)
	}
	return found
}

// isWebSocketUpgrade reports whether an HTTP/1.1 request asks to switch to
// WebSocket (RFC 6455 §4.1): GET with Upgrade: websocket and a Connection
// that lists upgrade.
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	if !h.IsGet() || !h1.EqualFold(bytes.TrimSpace(h.Peek("Upgrade")), "websocket") {
		return false
	}
	found := false
	h1.ForEachToken(h.Peek("Connection"), func(tok []byte) {
		found = found || h1.EqualFold(tok, "upgrade")
	})
	return found
}

// stripResponseHopHeaders removes hop-by-hop fields from an upstream
// response before it goes to the client.
func stripResponseHopHeaders(h *fasthttp.ResponseHeader, hop []byte) []byte {
	if h.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// The tunnel's Upgrade and Connection are end to end by now.
		return hop
	}
	if scanFields(h.All())&(h1.FieldConnection|h1.FieldHopByHop) == 0 {
		return hop
	}
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
	h1.ForEachToken(scratch, func(tok []byte) {
		if !h1.EqualFold(tok, "close") && !h1.EqualFold(tok, "keep-alive") {
			del(bytesToString(tok))
		}
	})
	return scratch
}

// fillExchange copies a request into the protocol-neutral exchange.
func fillExchange(x *exchange.Exchange, req *fasthttp.Request, cc *clientConn, scheme string) {
	r := &x.Request
	r.Method = append(r.Method[:0], req.Header.Method()...)
	r.Scheme = append(r.Scheme[:0], scheme...)
	r.Authority = append(r.Authority[:0], req.Header.Host()...)
	r.Path = append(r.Path[:0], req.Header.RequestURI()...)
	r.Protocol = cc.proto
	r.ContentLength = int64(max(req.Header.ContentLength(), -1))
	if req.Header.ContentLength() == -2 {
		r.ContentLength = 0
	}
	x.Destination = addrPort(cc.local)
	for k, v := range req.Header.All() {
		if h1.EqualFold(k, "host") {
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
	// Through the Request so a URI fasthttp parsed earlier is dropped too;
	// Write would otherwise rebuild the request line from it.
	req.SetRequestURIBytes(r.Path)
	h.SetHostBytes(r.Authority)
	r.Header.Range(func(k, v []byte) bool {
		if !h1.EqualFold(k, "content-length") && !h1.EqualFold(k, "transfer-encoding") {
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
		if !h1.EqualFold(k, "content-length") && !h1.EqualFold(k, "transfer-encoding") && !h1.EqualFold(k, "connection") {
			h.AddBytesKV(k, v)
		}
		return true
	})
	h.SetContentLength(cl)
}

// writeExchangeResponse writes the exchange's local response.
func writeExchangeResponse(resp *fasthttp.Response, x *exchange.Exchange) {
	_ = resp.CloseBodyStream()
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	status := x.Response.Status
	if status == 0 {
		status = fasthttp.StatusOK
	}
	resp.SetStatusCode(status)
	x.Response.Header.Range(func(k, v []byte) bool {
		if !h1.EqualFold(k, "content-length") && !h1.EqualFold(k, "transfer-encoding") && !h1.EqualFold(k, "connection") {
			resp.Header.AddBytesKV(k, v)
		}
		return true
	})
	if len(x.Response.Body) > 0 && len(resp.Header.ContentType()) == 0 {
		resp.Header.SetContentType("text/plain; charset=utf-8")
	}
	resp.SetBody(x.Response.Body)
}

// addrPort converts a TCP or UDP address; anything else is the zero value.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
