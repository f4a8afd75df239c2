package upstream

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// benchServer answers every request with the same prebuilt response. It
// allocates nothing per request, so allocs/op measure the client alone.
// Requests must have no body: one request ends at each "\r\n\r\n".
func benchServer(b testing.TB, response []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
			go func() {
				defer nc.Close()
				buf := make([]byte, 4096)
				const end = "\r\n\r\n"
				matched := 0
				for {
					n, err := nc.Read(buf)
					if err != nil {
						return
					}
					for _, c := range buf[:n] {
						switch {
						case c == end[matched]:
							matched++
						case c == end[0]:
							matched = 1
						default:
							matched = 0
						}
						if matched == len(end) {
							matched = 0
							if _, err := nc.Write(response); err != nil {
								return
							}
						}
					}
				}
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		<-done
		for _, nc := range conns {
			nc.Close()
		}
	})
	return ln.Addr().String()
}

// forwardLoop sets up an upstream in front of a benchServer answering with
// a bodySize-byte body and returns one warmed-up round trip.
func forwardLoop(b testing.TB, bodySize int, stream bool) func() {
	body := strings.Repeat("x", bodySize)
	response := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(bodySize) + "\r\n\r\n" + body)
	addr := benchServer(b, response)
	u, err := New(Config{Name: "bench", Endpoints: endpoints(addr)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(u.Close)

	req := new(fasthttp.Request)
	req.Header.SetMethod("GET")
	req.SetRequestURI("/bench")
	req.Header.SetHost("backend.test")
	resp := new(fasthttp.Response)
	var call Call
	ctx := context.Background()
	once := func() {
		if err := u.Forward(ctx, req, resp, &call); err != nil {
			b.Fatal(err)
		}
		if resp.IsBodyStream() != stream {
			b.Fatalf("streamed = %v, want %v", resp.IsBodyStream(), stream)
		}
		if stream {
			n, err := io.Copy(io.Discard, resp.BodyStream())
			if err != nil || n != int64(bodySize) {
				b.Fatalf("read %d bytes, %v", n, err)
			}
			if err := resp.CloseBodyStream(); err != nil {
				b.Fatal(err)
			}
		} else if len(resp.Body()) != bodySize {
			b.Fatalf("body %d bytes", len(resp.Body()))
		}
	}
	// Warm up: the connection, the buffers and fasthttp's pools.
	for range 10 {
		once()
	}
	return once
}

func benchForward(b *testing.B, bodySize int, stream bool) {
	once := forwardLoop(b, bodySize, stream)
	b.SetBytes(int64(bodySize))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		once()
	}
}

// BenchmarkForwardBuffered1KiB: a GET answered with 1 KiB read whole, over a
// kept-alive loopback connection. Expected: 0 allocs/op.
func BenchmarkForwardBuffered1KiB(b *testing.B) { benchForward(b, 1<<10, false) }

// BenchmarkForwardStreamed1MiB: a GET answered with 1 MiB streamed through
// the pooled body reader.
func BenchmarkForwardStreamed1MiB(b *testing.B) { benchForward(b, 1<<20, true) }

func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	tests := []struct {
		name     string
		bodySize int
		stream   bool
	}{
		{name: "buffered 1 KiB", bodySize: 1 << 10},
		{name: "streamed 256 KiB", bodySize: 256 << 10, stream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			once := forwardLoop(t, tt.bodySize, tt.stream)
			if a := testing.AllocsPerRun(100, once); a != 0 {
				t.Fatalf("%v allocs per Forward, want 0", a)
			}
		})
	}
}
