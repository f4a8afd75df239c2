package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 §4.2.2 defines Sec-WebSocket-Accept with SHA-1
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// recorder is a byte-for-byte TCP relay in front of an echo backend that
// parses the HTTP/1.1 requests passing through it, so that a step can check
// what the backend received even when the client never sees the backend's
// answer (a mirrored request). It changes nothing on the wire.
type recorder struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	seen  []seenRequest
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// seenRequest is one request a recorded backend received.
type seenRequest struct {
	method, uri, host string
	header            http.Header
}

func (s seenRequest) String() string { return s.method + " " + s.uri + " (host " + s.host + ")" }

func startRecorder(target string) (*recorder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	r := &recorder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

func (r *recorder) addr() string { return r.ln.Addr().String() }

func (r *recorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !r.track(c, up) {
			return
		}
		r.wg.Add(1)
		go r.relay(c, up)
	}
}

// track registers a connection pair; false once the recorder is closed.
func (r *recorder) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *recorder) relay(down, up net.Conn) {
	defer r.wg.Done()
	pr, pw := io.Pipe()
	var inner sync.WaitGroup
	inner.Add(3)
	go func() { // client → backend, teed into the parser
		defer inner.Done()
		_, _ = io.Copy(up, io.TeeReader(down, pw))
		_ = pw.Close()
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() { // backend → client
		defer inner.Done()
		_, _ = io.Copy(down, up)
		if tc, ok := down.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() {
		defer inner.Done()
		r.parse(pr)
	}()
	inner.Wait()
	_ = down.Close()
	_ = up.Close()
	r.mu.Lock()
	if r.conns != nil {
		delete(r.conns, down)
		delete(r.conns, up)
	}
	r.mu.Unlock()
}

// parse records every request head in the stream; after something it
// cannot parse it only drains.
func (r *recorder) parse(pr *io.PipeReader) {
	defer func() { _, _ = io.Copy(io.Discard, pr) }()
	br := bufio.NewReader(pr)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		s := seenRequest{method: req.Method, uri: req.RequestURI, host: req.Host, header: req.Header.Clone()}
		r.mu.Lock()
		r.seen = append(r.seen, s)
		r.mu.Unlock()
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		_ = req.Body.Close()
	}
}

// count is how many requests were recorded so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// since returns the requests recorded after the first n.
func (r *recorder) since(n int) []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[min(n, len(r.seen)):])
}

func (r *recorder) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// checkSaw waits (bounded) until the recorded backend received the
// requests a backend_saw block describes, after the step began (mark).
func checkSaw(ctx context.Context, saw *sawHCL, rec *recorder, mark int) error {
	if rec == nil {
		return fmt.Errorf("backend %s is not recorded", saw.Backend)
	}
	wantCount := -1 // at least one
	if saw.Count != nil {
		wantCount = *saw.Count
	}
	wait := 2 * time.Second
	if wantCount == 0 {
		wait = 300 * time.Millisecond // nothing may arrive: watch a while
	}
	if saw.Within != nil {
		wait, _ = time.ParseDuration(*saw.Within)
	}
	deadline := time.Now().Add(wait)
	for {
		seen := rec.since(mark)
		n := 0
		for _, s := range seen {
			if len(sawMismatch(saw, s)) == 0 {
				n++
			}
		}
		done := (wantCount < 0 && n > 0) || (wantCount > 0 && n >= wantCount)
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			switch {
			case wantCount < 0 && n == 0, wantCount >= 0 && n != wantCount:
				want := "a matching request"
				if wantCount >= 0 {
					want = fmt.Sprintf("%d matching request(s)", wantCount)
				}
				msg := fmt.Sprintf("backend %s saw %d matching request(s) within %s, want %s", saw.Backend, n, wait, want)
				if len(seen) == 0 {
					return errors.New(msg + "; it received nothing")
				}
				var got []string
				for _, s := range seen[:min(len(seen), 3)] {
					got = append(got, s.String()+": "+strings.Join(sawMismatch(saw, s), ", "))
				}
				return fmt.Errorf("%s; it received %d: %s", msg, len(seen), strings.Join(got, "; "))
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sawMismatch lists how request s differs from the backend_saw block.
func sawMismatch(saw *sawHCL, s seenRequest) []string {
	var bad []string
	if saw.Method != nil && s.method != *saw.Method {
		bad = append(bad, fmt.Sprintf("method %q, want %q", s.method, *saw.Method))
	}
	if saw.Path != nil && s.uri != *saw.Path {
		bad = append(bad, fmt.Sprintf("path %q, want %q", s.uri, *saw.Path))
	}
	if saw.Host != nil && s.host != *saw.Host {
		bad = append(bad, fmt.Sprintf("host %q, want %q", s.host, *saw.Host))
	}
	for _, k := range sortedKeys(saw.Headers) {
		vals := s.header.Values(k)
		if got := strings.Join(vals, ", "); len(vals) == 0 {
			bad = append(bad, fmt.Sprintf("header %s absent, want %q", k, saw.Headers[k]))
		} else if got != saw.Headers[k] {
			bad = append(bad, fmt.Sprintf("header %s = %q, want %q", k, got, saw.Headers[k]))
		}
	}
	for _, k := range saw.HeadersAbsent {
		if vals := s.header.Values(k); len(vals) > 0 {
			bad = append(bad, fmt.Sprintf("header %s = %q, want absent", k, strings.Join(vals, ", ")))
		}
	}
	return bad
}

// WebSocket (RFC 6455), just enough for a handshake and echoed frames.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

const (
	wsText  = 0x1
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
)

// wsMaxPayload bounds a frame the runner reads.
const wsMaxPayload = 1 << 20

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // RFC 6455
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsBackend is a WebSocket echo backend: it answers an upgrade with 101
// (and X-Backend), then echoes every text or binary frame until a close
// frame; other requests get 200 "websocket backend" with X-Backend.
type wsBackend struct {
	name string
	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup
}

func startWebSocketBackend(name string) (*wsBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &wsBackend{name: name, ln: ln}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.handle), ReadHeaderTimeout: 10 * time.Second}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = b.srv.Serve(ln)
	}()
	return b, nil
}

func (b *wsBackend) addr() string { return b.ln.Addr().String() }

func (b *wsBackend) close() {
	_ = b.srv.Close() // closes hijacked connections' listener, not them
	b.wg.Wait()
}

func (b *wsBackend) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", b.name)
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		_, _ = io.WriteString(w, "websocket backend\n")
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" || r.Header.Get("Sec-WebSocket-Version") != "13" || r.Method != http.MethodGet {
		http.Error(w, "bad websocket handshake", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	b.wg.Add(1)
	defer b.wg.Done()
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\nX-Backend: %s\r\n\r\n", wsAccept(key), b.name)
	if err != nil {
		return
	}
	for range 100 {
		op, payload, masked, err := wsReadFrame(brw.Reader)
		if err != nil {
			return
		}
		if !masked { // RFC 6455 §5.1: a server closes on an unmasked client frame
			_ = wsWriteFrame(conn, wsClose, []byte{0x03, 0xEA}, false) // 1002 protocol error
			return
		}
		switch op {
		case wsClose:
			_ = wsWriteFrame(conn, wsClose, payload, false)
			return
		case wsPing:
			err = wsWriteFrame(conn, wsPong, payload, false)
		case wsPong:
		default:
			err = wsWriteFrame(conn, op, payload, false)
		}
		if err != nil {
			return
		}
	}
}

// wsReadFrame reads one unfragmented frame.
func wsReadFrame(r *bufio.Reader) (op byte, payload []byte, masked bool, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, false, err
	}
	op, masked = h[0]&0x0F, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > wsMaxPayload {
		return 0, nil, false, fmt.Errorf("websocket frame of %d bytes", n)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, false, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, false, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	if h[0]&0x80 == 0 {
		return 0, nil, false, errors.New("fragmented websocket frame")
	}
	return op, payload, masked, nil
}

// wsWriteFrame writes one final frame, masked (as a client must) or not.
func wsWriteFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	buf := []byte{0x80 | op}
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		buf = append(buf, mbit|byte(n))
	case n <= 0xFFFF:
		buf = append(buf, mbit|126)
		buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	default:
		buf = append(buf, mbit|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	if mask {
		var key [4]byte
		_, _ = rand.Read(key[:])
		buf = append(buf, key[:]...)
		for i, c := range payload {
			buf = append(buf, c^key[i%4])
		}
	} else {
		buf = append(buf, payload...)
	}
	_, err := w.Write(buf)
	return err
}

// webSocket opens a WebSocket through the gateway (HTTP/1.1 Upgrade, over
// TLS when the listener speaks it), sends the request's message as one
// text frame and reads one frame back: the response's status and headers
// are the handshake's, its body the echoed frame's payload.
func (c *client) webSocket(ctx context.Context, target string, rq *requestHCL) (*response, error) {
	p := "/"
	if rq.Path != nil {
		p = *rq.Path
	}
	host := target
	if rq.Authority != nil {
		host = *rq.Authority
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	if c.isTLS(target) {
		name := hostOnly(host)
		if rq.SNI != nil {
			name = *rq.SNI
		}
		conf := c.certs.clientTLS()
		conf.ServerName, conf.NextProtos = name, []string{"http/1.1"}
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", p, host, key)
	for _, k := range sortedKeys(rq.Headers) {
		for _, v := range rq.Headers[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	start := time.Now()
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("no handshake response: %w", err)
	}
	out := &response{status: resp.StatusCode, proto: 1, header: resp.Header}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer func() { _ = resp.Body.Close() }()
		if err := out.readBody(resp.Body); err != nil {
			return nil, err
		}
		out.elapsed = time.Since(start)
		return out, nil
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(key); got != want {
		return nil, fmt.Errorf("101 with Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if err := wsWriteFrame(conn, wsText, []byte(*rq.WebSocket), true); err != nil {
		return nil, fmt.Errorf("websocket write: %w", err)
	}
	op, payload, masked, err := wsReadFrame(br)
	if err != nil {
		return nil, fmt.Errorf("websocket read: %w", err)
	}
	if masked {
		return nil, errors.New("the server sent a masked frame (RFC 6455 §5.1)")
	}
	if op != wsText {
		return nil, fmt.Errorf("websocket frame with opcode %#x, want text", op)
	}
	out.body, out.size = payload, int64(len(payload))
	_ = wsWriteFrame(conn, wsClose, []byte{0x03, 0xE8}, true) // 1000 normal closure
	out.elapsed = time.Since(start)
	return out, nil
}
