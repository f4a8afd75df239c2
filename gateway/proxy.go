package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/balancer"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// This file is the protocol-neutral request path. Every front end (h1 with
// fasthttp's own request and response, h2 and h3 through pooled copies)
// calls serveRequest, so every stage sees the same exchange whatever
// protocol the client speaks.

// proxyRequest is the per-request state of the request path, pooled so that
// a proxied request allocates nothing in steady state.
type proxyRequest struct {
	x    exchange.Exchange
	run  chain.Run
	call upstream.Call
	buf  []byte
	hop  []byte
	body []byte // the buffered request body, when the chain asks for it
	// logLine is the access log line being built.
	logLine []byte
	// tr carries the trailers of an HTTP/2 or HTTP/3 request whose client
	// announced some; nil otherwise.
	tr *reqTrailers
	// doneLater is the chain whose Done waits until the response trailers
	// have been handed to the stages (HTTP/2 and HTTP/3 front ends, which
	// call finish).
	doneLater *chain.Chain
}

// lockTrailers keeps the request trailer stages, which the upstream's
// goroutine runs as it reads the request body to its end, off the exchange
// while the handler's goroutine uses it after forwarding. A no-op for
// requests without trailers.
func (r *proxyRequest) lockTrailers() {
	if r.tr != nil {
		r.tr.mu.Lock()
	}
}

func (r *proxyRequest) unlockTrailers() {
	if r.tr != nil {
		r.tr.mu.Unlock()
	}
}

// abortIfRefused resets the client's stream when a stage refused the
// request trailers after the response had started (HTTP/2, HTTP/3).
func (r *proxyRequest) abortIfRefused() {
	if r.tr == nil {
		return
	}
	r.tr.mu.Lock()
	late := r.tr.failed != nil && !r.tr.answered
	r.tr.mu.Unlock()
	if late {
		panic(http.ErrAbortHandler)
	}
}

// finish ends the exchange for the HTTP/2 and HTTP/3 front ends once the
// response has been written: the chain's Done if it waited for the
// response trailers, and the request trailers' hold on the exchange.
func (r *proxyRequest) finish() {
	r.lockTrailers()
	if r.doneLater != nil {
		r.doneLater.Done(&r.x, &r.run)
		r.doneLater = nil
	}
	if r.tr != nil {
		r.tr.r = nil
		r.tr.mu.Unlock()
		r.tr = nil
	}
}

// runRequestTrailers hands the request trailers to the stages that asked
// for them, in chain order (see exchange.TrailerStage). A stage that
// fails open is logged and skipped.
func runRequestTrailers(x *exchange.Exchange, log *slog.Logger) error {
	for _, s := range x.TrailerStages() {
		if err := trailerOutcome(s.OnRequestTrailers(context.Background(), x), log); err != nil {
			return err
		}
	}
	return nil
}

// runResponseTrailers hands the response trailers to the stages that asked
// for them, in reverse chain order.
func runResponseTrailers(x *exchange.Exchange, log *slog.Logger) error {
	st := x.TrailerStages()
	for i := len(st) - 1; i >= 0; i-- {
		if err := trailerOutcome(st[i].OnResponseTrailers(context.Background(), x), log); err != nil {
			return err
		}
	}
	return nil
}

func trailerOutcome(err error, log *slog.Logger) error {
	var open *openFailure
	if errors.As(err, &open) {
		log.Warn("trailers: "+open.Error(), "stage", open.stage)
		return nil
	}
	return err
}

// clientConn is what the request path knows about the client connection.
type clientConn struct {
	src   netip.AddrPort
	local net.Addr // the listener side; for Exchange.Destination
	tls   *connTLS // nil on plaintext connections
	proto exchange.Protocol
	// request is the HTTP/2 or HTTP/3 request's context, which ends when
	// the client resets the stream or goes away; nil on HTTP/1.1.
	request context.Context
}

// outcome tells the front end what to do after serveRequest.
type outcome uint8

const (
	// outClose closes the client connection after the response (h1).
	outClose outcome = 1 << iota
	// outUpgrade means the upstream switched protocols (101): the front end
	// splices the client connection with r.call.Tunnel.
	outUpgrade
)

// serveRequest runs one request through allow list, redirect, chain,
// balancer and upstream, leaving the response in resp.
func (l *h1Listener) serveRequest(st *listenerState, r *proxyRequest, cc *clientConn, req *fasthttp.Request, resp *fasthttp.Response) outcome {
	start := time.Now()
	out := l.proxy(st, r, cc, req, resp)
	status := resp.StatusCode()
	if cc.request != nil && cc.request.Err() != nil {
		status = statusClientClosed // the answer has no one to go to
	}
	now := time.Now()
	l.stats.shared().response(status, now.Sub(start))
	if st.accessLog != nil {
		r.lockTrailers()
		r.logLine = appendAccessLine(r.logLine[:0], st, r, cc, req, resp, status, start, now)
		r.unlockTrailers()
		st.accessLog.write(r.logLine)
	}
	if len(l.altSvc) > 0 && cc.proto != exchange.HTTP3 {
		resp.Header.SetBytesV("Alt-Svc", l.altSvc)
	}
	return out
}

func (l *h1Listener) proxy(st *listenerState, r *proxyRequest, cc *clientConn, req *fasthttp.Request, resp *fasthttp.Response) outcome {
	src := cc.src
	// The pooled per-request state is reset before any early answer, so
	// nothing of an earlier request (route, upstream, TLS facts) shows in
	// this one's access log line.
	x := &r.x
	x.Reset()
	x.Source = src
	x.Listener = st.name
	if cc.tls != nil {
		x.TLS = &cc.tls.info
	}
	x.RequestID = l.gw.requestIDs.Add(1)
	r.call = upstream.Call{}
	if !st.allowed(src.Addr()) {
		writeLocal(resp, fasthttp.StatusForbidden, "source address not allowed")
		return 0
	}
	if st.redirectHTTPS {
		r.buf = writeRedirect(resp, req, st.redirectPort, r.buf)
		if cl := req.Header.ContentLength(); cl > 0 || cl == -1 {
			return outClose // the body is not read
		}
		return 0
	}
	if cc.tls != nil && cc.tls.misdirected(req.Header.Host()) {
		writeLocal(resp, fasthttp.StatusMisdirectedRequest, "host not served on this TLS connection")
		return 0
	}
	cl := req.Header.ContentLength()
	if cc.proto == exchange.HTTP11 {
		if status, mustClose := checkH1Framing(&req.Header, cl); status != 0 {
			writeLocal(resp, status, "malformed request")
			if mustClose {
				return outClose
			}
			return 0
		}
	}
	if len(req.Header.Host()) == 0 && cc.local != nil {
		// HTTP/1.0 without Host: the authority is the address the client
		// connected to.
		req.Header.SetHost(cc.local.String())
	}
	if st.maxBody > 0 && int64(cl) > st.maxBody {
		writeLocal(resp, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		return outClose
	}

	// fasthttp's RequestCtx is a context.Context, but its Done means "server
	// shutting down" and races with Shutdown; requests are bounded by
	// deadlines instead. The chain's stages run under bg.
	bg := context.Background()
	// The try to the upstream ends with the HTTP/2 or HTTP/3 client's
	// stream, as Envoy resets the upstream request when its downstream
	// resets; on HTTP/1.1 only the deadlines bound it.
	fwd := bg
	if cc.request != nil {
		fwd = cc.request
	}
	r.call.Hint = balancer.Hint{Key: balancer.HashAddr(src.Addr())}
	if cl == -1 {
		// A chunked body has no declared size: the limit applies while it
		// streams to the upstream.
		r.call.MaxBody = st.maxBody
	}

	var out outcome
	if req.Header.ConnectionClose() {
		out |= outClose
	}
	upgrade := cc.proto == exchange.HTTP11 && len(req.Header.Peek("Upgrade")) > 0 && isWebSocketUpgrade(&req.Header)
	ch := st.chain
	if ch.HasStages() {
		fillExchange(x, req, cc, st.scheme)
		x.Request.ExpectTrailer = r.tr != nil
		if st.bodyLimit > 0 && (cl > 0 || cl == -1) {
			if status := r.bufferBody(req, x, st.bodyLimit); status != 0 {
				writeLocal(resp, status, "request body")
				return out | outClose
			}
		}
		if ch.OnRequest(bg, x, &r.run) == chain.Stop {
			ch.OnResponse(bg, x, &r.run)
			writeExchangeResponse(resp, x)
			ch.Done(x, &r.run)
			return out
		}
		if x.Request.Modified() {
			applyRequest(req, x)
		}
		if x.Request.BodyModified() {
			req.SetBodyRaw(x.Request.Body)
			req.Header.SetContentLength(len(x.Request.Body))
		}
	}

	up := st.defaultUpstream
	if x.Upstream != "" {
		up = st.upstreams[x.Upstream]
	}
	if up == nil {
		status, msg := fasthttp.StatusNotFound, "no route"
		if x.Upstream != "" {
			status, msg = fasthttp.StatusServiceUnavailable, "unknown upstream"
		}
		finishLocal(resp, ch, x, &r.run, status, msg)
		return out
	}

	r.buf, r.hop = prepareRequest(&req.Header, src.Addr(), st.scheme, viaFor(cc.proto), upgrade, r.buf, r.hop)
	if ch.HasStages() {
		l.applyRouteOverrides(st, x, r, req, cl)
	}
	r.call.Upgrade = upgrade
	if r.tr != nil {
		r.tr.beforeForward(req, x)
	}
	err := up.Forward(fwd, req, resp, &r.call)
	if r.tr != nil {
		// From here on the upstream may be reading the request body, and
		// with its end run the request trailer stages, on its goroutine.
		r.tr.mu.Lock()
		defer r.tr.mu.Unlock()
		if ferr := r.tr.failed; ferr != nil {
			// A stage refused the request trailers before the response
			// started: answer as it says instead.
			r.tr.mu.Unlock()
			_ = resp.CloseBodyStream() // may wait for the upstream's body reader
			r.tr.mu.Lock()
			r.tr.answered = true
			finishRefused(resp, ch, x, &r.run, ferr)
			return out
		}
	}
	if err != nil {
		status := fasthttp.StatusBadGateway
		var ue *upstream.Error
		if errors.As(err, &ue) {
			status = ue.Code
		}
		if cl > 0 || cl == -1 {
			// The rest of the body may be unread: reading on would treat
			// body bytes as the next request (desync), so close.
			out |= outClose
		}
		reason := "upstream failure"
		if ue != nil {
			reason = ue.Reason
		}
		finishLocal(resp, ch, x, &r.run, status, reason)
		return out
	}
	if r.call.Tunnel != nil {
		out |= outUpgrade
	}
	r.hop = stripResponseHopHeaders(&resp.Header, r.hop)
	if ch.HasStages() {
		x.Response.Status = resp.StatusCode()
		fillResponseHeader(&x.Response.Header, &resp.Header)
		if st.bodyLimit > 0 && !resp.IsBodyStream() {
			// A small upstream body is held whole already: stages that read
			// bodies see a copy (never fasthttp's own buffer).
			x.Response.Body = append(x.Response.Body[:0], resp.Body()...)
			x.Response.BodyBuffered = true
		}
		ch.OnResponse(bg, x, &r.run)
		if x.IsLocal() {
			// A stage replaced the response: drop the upstream body.
			r.unlockTrailers() // closing may wait for the upstream's body reader
			_ = resp.CloseBodyStream()
			r.lockTrailers()
			if r.call.Tunnel != nil {
				_ = r.call.Tunnel.Close()
				r.call.Tunnel = nil
				out &^= outUpgrade
			}
			writeExchangeResponse(resp, x)
		} else {
			if x.Response.Header.Modified() || x.Response.Status != resp.StatusCode() {
				applyResponse(resp, x)
			}
			if x.Response.BodyModified() {
				resp.SetBody(x.Response.Body)
				resp.Header.SetContentLength(len(x.Response.Body))
			}
		}
		if cc.proto != exchange.HTTP11 && len(x.TrailerStages()) > 0 && resp.IsBodyStream() {
			if _, ok := resp.BodyStream().(bodyTrailers); ok {
				// Trailers may follow the streamed body: the stages that
				// asked for them keep their state until the front end
				// has handed them over (finish).
				r.doneLater = ch
				return out
			}
		}
		ch.Done(x, &r.run)
	}
	return out
}

// finishRefused answers a request whose trailers a stage refused: with the
// local response the stage set, else with its failure status. The
// response passes through the response stages.
func finishRefused(resp *fasthttp.Response, ch *chain.Chain, x *exchange.Exchange, run *chain.Run, err error) {
	if !x.IsLocal() {
		x.SendLocal(chain.FailStatus(err), nil)
		x.Response.Header.Set("x-wasmgate-reason", "request trailers refused")
	}
	ch.OnResponse(context.Background(), x, run)
	writeExchangeResponse(resp, x)
	ch.Done(x, run)
}

// finishLocal answers with a gateway-generated error that still passes
// through the response stages.
func finishLocal(resp *fasthttp.Response, ch *chain.Chain, x *exchange.Exchange, run *chain.Run, status int, reason string) {
	if !ch.HasStages() {
		writeLocal(resp, status, reason)
		return
	}
	x.SendLocal(status, nil)
	x.Response.Header.Set("x-wasmgate-reason", reason)
	ch.OnResponse(context.Background(), x, run)
	writeExchangeResponse(resp, x)
	ch.Done(x, run)
}

// writeLocal writes a small gateway-generated response.
func writeLocal(resp *fasthttp.Response, status int, reason string) {
	_ = resp.CloseBodyStream()
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	if reason != "" {
		resp.Header.Set("X-Wasmgate-Reason", reason)
	}
	var num [3]byte
	resp.AppendBody(strconv.AppendInt(num[:0], int64(status), 10))
	resp.AppendBodyString(" ")
	resp.AppendBodyString(fasthttp.StatusMessage(status))
	resp.AppendBodyString("\n")
}

// writeRedirect answers with a 301 to the same host, path and query on
// https, on port unless it is empty (443). buf is scratch space, returned.
func writeRedirect(resp *fasthttp.Response, req *fasthttp.Request, port string, buf []byte) []byte {
	host := hostOnly(req.Header.Host())
	buf = append(buf[:0], "https://"...)
	if indexByte(host, ':') >= 0 {
		buf = append(buf, '[')
		buf = append(buf, host...)
		buf = append(buf, ']')
	} else {
		buf = append(buf, host...)
	}
	if port != "" {
		buf = append(buf, ':')
		buf = append(buf, port...)
	}
	uri := req.Header.RequestURI()
	if len(uri) == 0 || uri[0] != '/' {
		buf = append(buf, '/')
	}
	buf = append(buf, uri...)
	writeLocal(resp, fasthttp.StatusMovedPermanently, "")
	resp.Header.SetBytesV("Location", buf)
	return buf
}

// checkH1Framing rejects HTTP/1.x requests whose framing fasthttp accepts
// but a proxy must not pass on: an HTTP major version other than 1 (505),
// and Content-Length together with Transfer-Encoding, which RFC 9112 §6.1
// requires closing the connection after (fasthttp has already dropped the
// Content-Length; we refuse the request outright, as DESIGN asks).
func checkH1Framing(h *fasthttp.RequestHeader, cl int) (status int, closeConn bool) {
	proto := h.Protocol()
	if len(proto) < 6 || string(proto[:5]) != "HTTP/" || proto[5] != '1' || (len(proto) > 6 && proto[6] != '.') {
		return fasthttp.StatusHTTPVersionNotSupported, true
	}
	if cl == -1 && hasRawHeader(h.RawHeaders(), "content-length") {
		return fasthttp.StatusBadRequest, true
	}
	return 0, false
}

// hasRawHeader reports whether the raw header block has a field named name
// (lower case).
func hasRawHeader(raw []byte, name string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if c := bytes.IndexByte(line, ':'); c == len(name) && h1.EqualFold(line[:c], name) {
			return true
		}
	}
	return false
}

// viaFor is the Via entry for the protocol the request was received with
// (RFC 9110 §7.6.3: the received protocol version).
func viaFor(p exchange.Protocol) string {
	switch p {
	case exchange.HTTP2:
		return "2 wasmgate"
	case exchange.HTTP3:
		return "3 wasmgate"
	}
	return "1.1 wasmgate"
}

// applyRouteOverrides honours what a routing stage asked for through
// properties: wasmgate.timeout (a Go duration), wasmgate.retry_attempts (a
// count) and wasmgate.mirror (an upstream to copy the request to).
func (l *h1Listener) applyRouteOverrides(st *listenerState, x *exchange.Exchange, r *proxyRequest, req *fasthttp.Request, cl int) {
	if v, ok := x.Attr("timeout"); ok {
		if d, err := time.ParseDuration(bytesToString(v)); err == nil && d > 0 {
			r.call.Timeout = d
		}
	}
	if v, ok := x.Attr("retry_attempts"); ok {
		if n, err := strconv.Atoi(bytesToString(v)); err == nil && n >= 0 && n <= maxRetryAttempts {
			r.call.Retries, r.call.RetriesSet = n, true
		}
	}
	if v, ok := x.Attr("mirror"); ok {
		if m := st.upstreams[bytesToString(v)]; m != nil {
			// A streamed body can be read only once, so only bodiless
			// requests are mirrored.
			if cl <= 0 && cl != -1 && !req.IsBodyStream() {
				l.gw.mirror(m, req)
			} else {
				l.gw.log.Debug("request with a body not mirrored", "upstream", m.Name())
			}
		}
	}
}

// maxRetryAttempts bounds a per-route retry override.
const maxRetryAttempts = 5

// bufferBody reads the request body whole for the chain's stages that asked
// for it (a policy with include_body), up to limit bytes, and makes the
// buffer the body the upstream gets. A body whose declared length is over
// the limit is left streaming: the stage that asked answers 413 itself. It
// returns a status to answer when the body cannot be buffered: 400 when it
// is malformed, 413 when a chunked body turns out larger than the limit
// (part of it is consumed by then, so it cannot be forwarded either).
func (r *proxyRequest) bufferBody(req *fasthttp.Request, x *exchange.Exchange, limit int64) int {
	cl := req.Header.ContentLength()
	if int64(cl) > limit {
		return 0
	}
	r.body = r.body[:0]
	if !req.IsBodyStream() {
		r.body = append(r.body, req.Body()...)
	} else {
		stream := req.BodyStream()
		for {
			if len(r.body) == cap(r.body) {
				r.body = append(r.body, 0)[:len(r.body)]
			}
			n, err := stream.Read(r.body[len(r.body):cap(r.body)])
			r.body = r.body[:len(r.body)+n]
			if int64(len(r.body)) > limit {
				return fasthttp.StatusRequestEntityTooLarge
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fasthttp.StatusBadRequest
			}
		}
	}
	req.SetBodyRaw(r.body)
	req.Header.SetContentLength(len(r.body))
	x.Request.Body = r.body
	x.Request.BodyBuffered = true
	x.Request.ContentLength = int64(len(r.body))
	return 0
}
