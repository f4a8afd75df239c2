// Package echo is a small HTTP/1.1 backend that reports what it received. It
// serves the quickstart demo, the integration tests and the conformance
// suite. Requests steer it with headers:
//
//	x-echo-status: 503        answer with this status
//	x-echo-delay:  250ms      wait before answering (bounded by 60s)
//	x-echo-size:   104857600  answer with this many bytes of body, streamed
//	x-echo-chunked: 1         with x-echo-size: use chunked encoding
//	x-echo-header: k=v        add a response header (repeatable)
//	x-echo-body:   1          include the request body (up to 64 KiB) in the reply
//
// Without x-echo-size the body is JSON: {"backend","method","path","host",
// "headers","body_bytes"}. A request body is read in full and counted, never
// held whole.
package echo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Reply is the JSON body the echo backend answers with.
type Reply struct {
	Backend   string              `json:"backend"`
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Host      string              `json:"host"`
	Headers   map[string][]string `json:"headers"`
	BodyBytes int64               `json:"body_bytes"`
	// Body is the request body when x-echo-body: 1 asked for it.
	Body string `json:"body,omitempty"`
}

// Server is a running echo backend.
type Server struct {
	name string
	ln   net.Listener
	srv  *fasthttp.Server
	done chan error
	reqs atomic.Int64
}

// Start serves an echo backend named name on addr ("127.0.0.1:0" picks a
// free port) until Close.
func Start(name, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{name: name, ln: ln, done: make(chan error, 1)}
	s.srv = &fasthttp.Server{
		Handler:                      s.handle,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		MaxRequestBodySize:           1 << 20,
		NoDefaultServerHeader:        true,
		Name:                         "",
		IdleTimeout:                  time.Minute,
		CloseOnShutdown:              true,
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the backend listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Requests returns how many requests the backend has begun to answer.
func (s *Server) Requests() int64 { return s.reqs.Load() }

// Name returns the backend's name.
func (s *Server) Name() string { return s.name }

// Close stops the backend, dropping open connections.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Close the socket ourselves: fasthttp's Shutdown closes only listeners
	// a running Serve has registered, and right after Start it may not have.
	_ = s.ln.Close()
	err := s.srv.ShutdownWithContext(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.reqs.Add(1)
	h := &ctx.Request.Header
	var bodyBytes int64
	var kept bytes.Buffer
	keep := string(h.Peek("X-Echo-Body")) == "1"
	if stream := ctx.RequestBodyStream(); stream != nil {
		var w io.Writer = io.Discard
		if keep {
			w = io.MultiWriter(io.Discard, &limitedBuffer{b: &kept, left: 64 << 10})
		}
		n, _ := io.Copy(w, stream)
		bodyBytes = n
	} else {
		bodyBytes = int64(len(ctx.Request.Body()))
		if keep {
			kept.Write(ctx.Request.Body())
		}
	}
	if d, err := time.ParseDuration(string(h.Peek("X-Echo-Delay"))); err == nil && d > 0 {
		if d > time.Minute {
			d = time.Minute
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	status := fasthttp.StatusOK
	if v, err := strconv.Atoi(string(h.Peek("X-Echo-Status"))); err == nil && v >= 100 && v <= 599 {
		status = v
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set("X-Backend", s.name)
	for _, kv := range h.PeekAll("X-Echo-Header") {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			ctx.Response.Header.Add(k, v)
		}
	}
	if size, err := strconv.ParseInt(string(h.Peek("X-Echo-Size")), 10, 64); err == nil && size >= 0 {
		ctx.SetContentType("application/octet-stream")
		n := int(size)
		if string(h.Peek("X-Echo-Chunked")) == "1" {
			n = -1
		}
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			var block [32 << 10]byte
			for i := range block {
				block[i] = byte('a' + i%26)
			}
			for left := size; left > 0; {
				k := int64(len(block))
				if left < k {
					k = left
				}
				if _, err := w.Write(block[:k]); err != nil {
					return
				}
				left -= k
			}
		})
		if n >= 0 {
			ctx.Response.Header.SetContentLength(n)
		}
		return
	}
	rep := Reply{
		Backend:   s.name,
		Method:    string(h.Method()),
		Path:      string(h.RequestURI()),
		Host:      string(h.Host()),
		Headers:   map[string][]string{},
		BodyBytes: bodyBytes,
		Body:      kept.String(),
	}
	for k, v := range h.All() {
		name := strings.ToLower(string(k))
		rep.Headers[name] = append(rep.Headers[name], string(v))
	}
	body, _ := json.Marshal(rep)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// limitedBuffer keeps at most left bytes and swallows the rest.
type limitedBuffer struct {
	b    *bytes.Buffer
	left int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.left > 0 {
		n := min(len(p), l.left)
		l.b.Write(p[:n])
		l.left -= n
	}
	return len(p), nil
}
