package gateway

import (
	"errors"
	"net"
)

// errBareLF fails the read of a request head that uses bare LF line endings.
var errBareLF = errors.New("request head has a bare LF line ending")

// lfGuardConn rejects HTTP/1.1 request heads that end lines with a bare LF.
// RFC 9112 §2.2 lets a recipient accept or reject them. fasthttp does
// neither: it waits for CRLF CRLF until the read-header timeout. The guard
// scans only while a request head is expected (from the start of the
// connection, and after each final response is written) and stops at the
// head's CRLF CRLF, so bodies are never scanned. A bare LF fails the read,
// and fasthttp's error path answers 400 and closes.
type lfGuardConn struct {
	net.Conn
	head   bool   // a request head is being read
	window uint32 // the last four bytes of the head, for CRLF CRLF
	prevCR bool   // the last head byte was CR
}

func newLFGuard(c net.Conn) *lfGuardConn { return &lfGuardConn{Conn: c, head: true} }

// Read implements net.Conn.
func (c *lfGuardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.head && n > 0 && !c.scan(p[:n]) {
		return 0, errBareLF
	}
	return n, err
}

// scan checks head bytes; false means a bare LF. It leaves head state at
// the end of the head.
func (c *lfGuardConn) scan(b []byte) bool {
	for _, ch := range b {
		if ch == '\n' && !c.prevCR {
			return false
		}
		c.prevCR = ch == '\r'
		c.window = c.window<<8 | uint32(ch)
		if c.window == 0x0d0a0d0a { // CR LF CR LF
			c.head = false
			c.window = 0
			return true
		}
	}
	return true
}

// Write implements net.Conn. A final response (not 1xx) means the next
// bytes the client sends begin a new request head.
func (c *lfGuardConn) Write(p []byte) (int, error) {
	if !c.head && len(p) > 9 && p[9] != '1' && string(p[:5]) == "HTTP/" {
		c.head = true
		c.prevCR = false
		c.window = 0
	}
	return c.Conn.Write(p)
}

// CloseWrite shuts the write side when the wrapped connection can (for the
// lingering close after an error).
func (c *lfGuardConn) CloseWrite() error { return closeWrite(c.Conn) }

// connTLS returns the TLS facts of the wrapped connection, if any.
func (c *lfGuardConn) connTLS() *connTLS {
	if t, ok := c.Conn.(interface{ connTLS() *connTLS }); ok {
		return t.connTLS()
	}
	return nil
}

// lfGuardListener wraps accepted connections in lfGuardConn.
type lfGuardListener struct{ net.Listener }

// Accept implements net.Listener.
func (l lfGuardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newLFGuard(c), nil
}
