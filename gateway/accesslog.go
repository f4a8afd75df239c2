package gateway

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/jsontext"
)

// accessLog writes one JSON line per request to a file or a standard
// stream. Lines are buffered and flushed every flushEvery, so logging costs
// the request path a lock and a copy, not a write system call.
type accessLog struct {
	mu     sync.Mutex
	w      *bufio.Writer
	file   *os.File // nil for stdout/stderr
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

const flushEvery = 100 * time.Millisecond

// openAccessLog opens dest: "stdout", "stderr" or a file path (appended to).
func openAccessLog(dest string) (*accessLog, error) {
	var out io.Writer
	a := &accessLog{stop: make(chan struct{}), done: make(chan struct{})}
	switch dest {
	case "stdout":
		out = os.Stdout
	case "stderr":
		out = os.Stderr
	default:
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		a.file, out = f, f
	}
	a.w = bufio.NewWriterSize(out, 64<<10)
	go a.flusher()
	return a, nil
}

func (a *accessLog) flusher() {
	defer close(a.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.mu.Lock()
			_ = a.w.Flush()
			a.mu.Unlock()
		}
	}
}

// write appends one line (which must end in '\n'). Lines written after
// close (a request still running on a retired config) are dropped.
func (a *accessLog) write(line []byte) {
	a.mu.Lock()
	if !a.closed {
		_, _ = a.w.Write(line)
	}
	a.mu.Unlock()
}

// close flushes and closes the log.
func (a *accessLog) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	<-a.done
	a.mu.Lock()
	_ = a.w.Flush()
	a.mu.Unlock()
	if a.file != nil {
		_ = a.file.Close()
	}
}

// accessRecord is what one access log line says. Both HTTP/1.1 paths (and
// h2, h3) fill one and format it with append, so a request logs the same
// line whichever path served it. The byte slices are only read during
// append.
type accessRecord struct {
	listener  string
	client    netip.AddrPort
	method    []byte
	scheme    string
	host      []byte
	uri       []byte
	protocol  string
	status    int
	reqLength int64 // the request's Content-Length; -1 when it has none
	bytesSent int64 // the response body's length; -1 when not known up front
	start     time.Time
	upstream  string
	endpoint  string
	tries     int
	route     string
	consumer  string
	userAgent []byte
	referer   []byte
	xff       []byte // X-Forwarded-For as sent upstream
	tls       *exchange.TLS
}

// appendAccessLine appends the JSON line of one request: what the client
// asked, what it got, where it went, how long it took, and its TLS facts.
// status is the response's, or 499 when the client left before it; the
// request began at start and its response head was ready at now.
func appendAccessLine(b []byte, st *listenerState, r *proxyRequest, cc *clientConn, req *fasthttp.Request, resp *fasthttp.Response, status int, start, now time.Time) []byte {
	x := &r.x
	sent := int64(resp.Header.ContentLength())
	if !resp.IsBodyStream() {
		sent = int64(len(resp.Body()))
	}
	up := x.Upstream
	if up == "" && st.defaultUpstream != nil {
		up = st.defaultUpstream.Name()
	}
	rec := accessRecord{
		listener:  st.name,
		client:    cc.src,
		method:    req.Header.Method(),
		scheme:    st.scheme,
		host:      req.Header.Host(),
		uri:       req.Header.RequestURI(),
		protocol:  cc.proto.String(),
		status:    status,
		reqLength: int64(req.Header.ContentLength()),
		bytesSent: sent,
		start:     start,
		upstream:  up,
		endpoint:  r.call.Endpoint,
		tries:     r.call.Tries,
		route:     x.Route,
		consumer:  x.Consumer,
		userAgent: req.Header.UserAgent(),
		referer:   req.Header.Referer(),
		xff:       req.Header.Peek("X-Forwarded-For"),
		tls:       x.TLS,
	}
	return rec.append(b, now)
}

// append appends the record's JSON line, taking now as the time the
// response head was ready.
func (rec *accessRecord) append(b []byte, now time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","listener":`...)
	b = jsontext.AppendString(b, rec.listener)
	b = append(b, `,"client":"`...)
	b = rec.client.AppendTo(b)
	b = append(b, `","method":`...)
	b = jsontext.AppendBytes(b, rec.method)
	b = append(b, `,"scheme":`...)
	b = jsontext.AppendString(b, rec.scheme)
	b = append(b, `,"host":`...)
	b = jsontext.AppendBytes(b, rec.host)
	b = append(b, `,"uri":`...)
	b = jsontext.AppendBytes(b, rec.uri)
	b = append(b, `,"protocol":`...)
	b = jsontext.AppendString(b, rec.protocol)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(rec.status), 10)
	b = append(b, `,"request_length":`...)
	b = strconv.AppendInt(b, max(rec.reqLength, -1), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, max(rec.bytesSent, -1), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(now.Sub(rec.start).Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"upstream":`...)
	b = jsontext.AppendString(b, rec.upstream)
	b = append(b, `,"endpoint":`...)
	b = jsontext.AppendString(b, rec.endpoint)
	b = append(b, `,"tries":`...)
	b = strconv.AppendInt(b, int64(rec.tries), 10)
	b = append(b, `,"route":`...)
	b = jsontext.AppendString(b, rec.route)
	b = append(b, `,"consumer":`...)
	b = jsontext.AppendString(b, rec.consumer)
	b = append(b, `,"user_agent":`...)
	b = jsontext.AppendBytes(b, rec.userAgent)
	b = append(b, `,"referer":`...)
	b = jsontext.AppendBytes(b, rec.referer)
	b = append(b, `,"x_forwarded_for":`...)
	b = jsontext.AppendBytes(b, rec.xff)
	if t := rec.tls; t != nil {
		b = append(b, `,"tls_version":`...)
		b = jsontext.AppendString(b, t.VersionName())
		b = append(b, `,"tls_cipher":`...)
		b = jsontext.AppendString(b, tls.CipherSuiteName(t.CipherSuite))
		b = append(b, `,"sni":`...)
		b = jsontext.AppendString(b, t.ServerName)
		b = append(b, `,"tls_client_subject":`...)
		b = jsontext.AppendString(b, t.PeerSubject)
	}
	return append(b, "}\n"...)
}
