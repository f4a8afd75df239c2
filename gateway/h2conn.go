package gateway

import (
	"net"
	"sync"
	"time"
)

// batchConn coalesces the writes of an HTTP/2 server connection.
//
// Go's HTTP/2 server writes one frame at a time and flushes its buffer
// whenever its write queue runs empty, which under load means a write
// system call (and, over TLS, a record) for almost every HEADERS and DATA
// frame: about two per response. In async mode Write copies the bytes into
// a pending buffer and returns; one writer goroutine at a time drains the
// buffer, so whatever the server produces while a write system call is in
// flight goes out in the next one. An idle connection sends at once: the
// first Write starts the writer.
//
// Backpressure: Write blocks while maxPending bytes are waiting. A write
// error is sticky and returned by the next Write. Close sends what is
// pending first (bounded by batchCloseTimeout) so a final GOAWAY or TLS
// close_notify is not lost.
//
// In sync mode (the default, before setAsync) it is a plain passthrough,
// so a TLS connection can be wrapped before ALPN says which protocol it
// speaks.
type batchConn struct {
	net.Conn
	async bool // set before the connection is shared; never cleared

	mu      sync.Mutex
	cond    sync.Cond
	pending []byte
	spare   []byte
	writing bool // a writer goroutine is draining pending
	err     error
	closed  bool
}

const (
	// batchMaxPending bounds the bytes a connection buffers before Write
	// blocks: several full DATA frames.
	batchMaxPending = 256 << 10
	// batchCloseTimeout bounds how long Close waits for pending bytes.
	batchCloseTimeout = 2 * time.Second
)

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c}
	b.cond.L = &b.mu
	return b
}

// setAsync switches to coalescing writes. Call it before the connection is
// handed to another goroutine.
func (b *batchConn) setAsync() { b.async = true }

var batchBufPool = sync.Pool{New: func() any { return make([]byte, 0, 16<<10) }}

func (b *batchConn) Write(p []byte) (int, error) {
	if !b.async {
		return b.Conn.Write(p)
	}
	b.mu.Lock()
	for b.err == nil && !b.closed && len(b.pending) > 0 && len(b.pending)+len(p) > batchMaxPending {
		b.cond.Wait()
	}
	if b.err != nil || b.closed {
		err := b.err
		b.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return 0, err
	}
	if b.pending == nil {
		b.pending = batchBufPool.Get().([]byte)[:0]
	}
	b.pending = append(b.pending, p...)
	if !b.writing {
		b.writing = true
		go b.drain()
	}
	b.mu.Unlock()
	return len(p), nil
}

// drain writes pending until it stays empty; it runs on its own goroutine
// while b.writing is set.
func (b *batchConn) drain() {
	b.mu.Lock()
	for len(b.pending) > 0 && b.err == nil {
		buf := b.pending
		b.pending = b.spare
		b.spare = nil
		b.mu.Unlock()
		_, err := b.Conn.Write(buf)
		b.mu.Lock()
		if err != nil {
			b.err = err
		}
		if b.pending == nil {
			b.pending = buf[:0]
		} else {
			b.spare = buf[:0]
		}
		b.cond.Broadcast()
	}
	b.writing = false
	// Idle: give the buffers back so an idle connection holds none.
	if b.pending != nil && len(b.pending) == 0 {
		batchBufPool.Put(b.pending[:0]) //nolint:staticcheck // a slice header is fine here
		b.pending = nil
	}
	if b.spare != nil {
		batchBufPool.Put(b.spare[:0]) //nolint:staticcheck
		b.spare = nil
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// flushWait waits until nothing is pending or writing, or d passes.
func (b *batchConn) flushWait(d time.Duration) {
	b.mu.Lock()
	if b.writing || len(b.pending) > 0 {
		// A peer that does not read must not hold Close forever.
		_ = b.Conn.SetWriteDeadline(time.Now().Add(d))
		for b.writing && b.err == nil {
			b.cond.Wait()
		}
	}
	b.mu.Unlock()
}

func (b *batchConn) Close() error {
	if b.async {
		b.flushWait(batchCloseTimeout)
		b.mu.Lock()
		b.closed = true
		b.cond.Broadcast()
		b.mu.Unlock()
	}
	return b.Conn.Close()
}

// CloseWrite shuts the write side after pending bytes went out.
func (b *batchConn) CloseWrite() error {
	if b.async {
		b.flushWait(batchCloseTimeout)
	}
	return closeWrite(b.Conn)
}
