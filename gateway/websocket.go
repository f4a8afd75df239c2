package gateway

import (
	"io"
	"net"
	"time"

	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// tunnelLinger bounds how long a tunnel waits for the upstream to finish
// after the client stopped sending.
const tunnelLinger = 5 * time.Second

// splice copies bytes both ways between a client connection that switched
// protocols (a WebSocket upgrade on HTTP/1.1) and its upstream tunnel. When
// the client stops sending, the upstream's write side is half-closed and
// its remaining bytes (a close frame) still reach the client; when the
// upstream ends, the tunnel is over. The caller (fasthttp's hijack) closes
// the client connection after splice returns.
func splice(client net.Conn, tun *upstream.Tunnel) {
	defer tun.Close()
	_ = client.SetDeadline(time.Time{})
	down := make(chan struct{})
	go func() {
		defer close(down)
		_, _ = io.Copy(client, tun)
		// Unblock the client reader below.
		_ = client.SetReadDeadline(time.Now())
	}()
	_, _ = io.Copy(tun, client)
	_ = tun.CloseWrite()
	select {
	case <-down:
	case <-time.After(tunnelLinger):
		_ = tun.Close()
		<-down
	}
}
