package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestLFGuardScan(t *testing.T) {
	tests := []struct {
		name   string
		reads  []string // what the client sends, read by read
		writes []string // what the server writes after read i (same index), "" for nothing
		bad    int      // index of the read that must fail, -1 for none
	}{
		{"crlf head passes", []string{"GET / HTTP/1.1\r\nHost: a\r\n\r\n"}, nil, -1},
		{"bare lf request line", []string{"GET / HTTP/1.1\nHost: a\n\n"}, nil, 0},
		{"bare lf in a header", []string{"GET / HTTP/1.1\r\nHost: a\n\r\n"}, nil, 0},
		{"head split across reads", []string{"GET / HTTP/1.1\r", "\nHost: a\r\n\r", "\n"}, nil, -1},
		{"bare lf split across reads", []string{"GET / HTTP/1.1\r\nHost: a", "\n\n"}, nil, 1},
		{"body bytes are not scanned", []string{"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\na\n\nb\n\n"}, nil, -1},
		{"body read later is not scanned", []string{"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n", "x\n\ny"}, nil, -1},
		{"100-continue does not reopen the head", []string{"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "a\nb"},
			[]string{"HTTP/1.1 100 Continue\r\n\r\n", ""}, -1},
		{"a final response starts the next head", []string{"GET / HTTP/1.1\r\n\r\n", "GET /2 HTTP/1.1\n\n"},
			[]string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			g := newLFGuard(server)
			defer g.Close()
			go func() { // drain what the server writes
				_, _ = io.Copy(io.Discard, client)
			}()
			for i, r := range tt.reads {
				go func(r string) { _, _ = client.Write([]byte(r)) }(r)
				buf := make([]byte, 4096)
				_ = g.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err := g.Read(buf)
				if i == tt.bad {
					if !errors.Is(err, errBareLF) {
						t.Fatalf("read %d: err %v, want errBareLF", i, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if i < len(tt.writes) && tt.writes[i] != "" {
					if _, err := g.Write([]byte(tt.writes[i])); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.bad >= 0 {
				t.Fatal("no read failed")
			}
		})
	}
}

// TestBareLFRejectedPromptly: through a real listener, a bare-LF request is
// answered 400 at once instead of waiting for the read-header timeout.
func TestBareLFRejectedPromptly(t *testing.T) {
	be := startEcho(t, "x")
	src := fmt.Sprintf(webListener, `read_header_timeout = "30s"`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\nHost: example.com\n\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // far below the 30 s header timeout
	b, err := io.ReadAll(conn)
	if len(b) == 0 {
		t.Fatalf("no answer to a bare-LF request (err %v)", err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Fatalf("answer %q, want 400", b)
	}
}
