package upstream

import (
	"sync"
	"time"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// Tunnel is an upstream connection that switched protocols (101 Switching
// Protocols, a WebSocket upgrade): Read returns what the endpoint sends,
// including bytes that arrived with the response head, and Write sends to
// it. The endpoint stays in flight until Close.
type Tunnel struct {
	c    *conn
	ep   *balancer.Endpoint
	once sync.Once
}

func newTunnel(c *conn, ep *balancer.Endpoint) *Tunnel {
	_ = c.nc.SetDeadline(time.Time{})
	c.deadline = time.Time{}
	return &Tunnel{c: c, ep: ep}
}

// Read implements io.Reader.
func (t *Tunnel) Read(p []byte) (int, error) { return t.c.br.Read(p) }

// Write implements io.Writer.
func (t *Tunnel) Write(p []byte) (int, error) { return t.c.nc.Write(p) }

// CloseWrite half-closes the connection when the transport allows it.
func (t *Tunnel) CloseWrite() error {
	if cw, ok := t.c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection and releases the endpoint.
func (t *Tunnel) Close() error {
	t.once.Do(func() {
		t.ep.Release()
		t.c.pool.discard(t.c)
	})
	return nil
}
