package gateway

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsEchoBackend answers WebSocket upgrades and echoes small frames
// (payloads under 126 bytes), prefixing text with the X-Forwarded-Proto it
// saw on the handshake.
func wsEchoBackend(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade") {
					fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					wsAccept(req.Header.Get("Sec-WebSocket-Key")))
				prefix := req.Header.Get("X-Forwarded-Proto") + ":"
				for {
					op, payload, err := readFrame(br)
					if err != nil {
						return
					}
					if op == 8 { // close: answer it
						_, _ = c.Write(frame(8, payload, false))
						return
					}
					_, _ = c.Write(frame(op, append([]byte(prefix), payload...), false))
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

// frame encodes a final frame with a payload under 126 bytes.
func frame(op byte, payload []byte, masked bool) []byte {
	b := []byte{0x80 | op, byte(len(payload))}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		return 0, nil, fmt.Errorf("frame too long for the test")
	}
	var mask [4]byte
	if h[1]&0x80 != 0 {
		if _, err = io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return h[0] & 0x0f, payload, nil
}

func TestWebSocketTunnel(t *testing.T) {
	backend := wsEchoBackend(t)
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  chain    = "c"
  upstream = "u"
}
chain "c" {
  filter "facts" { module = "builtin:test-facts" }
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", backend))
	_, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("X-Facts-Resp") != "HTTP/1.1" {
		t.Fatalf("the chain did not see the upgrade's response: %v", resp.Header)
	}
	for _, msg := range []string{"hello", "second message", strings.Repeat("x", 100)} {
		if _, err := c.Write(frame(1, []byte(msg), true)); err != nil {
			t.Fatal(err)
		}
		op, payload, err := readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 1 || string(payload) != "http:"+msg {
			t.Fatalf("echo: op %d %q", op, payload)
		}
	}
	if _, err := c.Write(frame(8, []byte{0x03, 0xe8}, true)); err != nil {
		t.Fatal(err)
	}
	if op, _, err := readFrame(br); err != nil || op != 8 {
		t.Fatalf("close handshake: op %d, %v", op, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after close the connection must end, got %v", err)
	}

	// An Upgrade that is not websocket is still stripped (hop-by-hop).
	resp2, body := get(t, newClient(), "http://"+addr+"/plain", "Upgrade", "h2c", "Connection", "Upgrade")
	if resp2.StatusCode != 400 {
		t.Fatalf("non-websocket upgrade reached the backend as one: %d %s", resp2.StatusCode, body)
	}
}
