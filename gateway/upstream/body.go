package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// Body framing modes for a streamed upstream response body.
const (
	framingLength  = iota // Content-Length bytes
	framingChunked        // chunked transfer coding
	framingClose          // until the upstream closes the connection
)

var errBadChunk = errors.New("upstream: malformed chunked body")

// bodyReader streams one upstream response body to the client. It is
// embedded in its connection and reused, so streaming allocates nothing. The
// fasthttp server calls Close after writing the body, which returns the
// connection to its pool when the body was read to the end.
type bodyReader struct {
	c        *conn
	framing  int
	remain   int64 // bytes left in the body (length) or current chunk (chunked)
	done     bool  // body fully read
	failed   bool
	keep     bool // connection may be reused after the body
	timeout  time.Duration
	inChunk  bool
	ep       *balancer.Endpoint // in-flight released when the body closes
	released bool
}

func (b *bodyReader) start(framing int, length int64, keepAlive bool, timeout time.Duration, ep *balancer.Endpoint) {
	b.framing = framing
	b.remain = length
	b.done = framing == framingLength && length == 0
	b.failed = false
	b.keep = keepAlive && framing != framingClose
	b.timeout = timeout
	b.inChunk = false
	b.ep = ep
	b.released = false
}

// Read implements io.Reader.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.failed {
		return 0, io.ErrUnexpectedEOF
	}
	if b.timeout > 0 {
		// An idle timeout between reads, like nginx's proxy_read_timeout:
		// a slow but moving download is not cut off.
		_ = b.c.nc.SetReadDeadline(time.Now().Add(b.timeout))
		b.c.deadline = time.Time{} // the write deadline is now unknown to armDeadline
	}
	var n int
	var err error
	switch b.framing {
	case framingLength:
		n, err = b.readLength(p)
	case framingChunked:
		n, err = b.readChunked(p)
	default:
		n, err = b.c.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
	}
	if err != nil && err != io.EOF {
		b.failed = true
	}
	return n, err
}

func (b *bodyReader) readLength(p []byte) (int, error) {
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.c.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.done = true
		return n, io.EOF
	}
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *bodyReader) readChunked(p []byte) (int, error) {
	if !b.inChunk {
		size, err := readChunkSize(b.c.br)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := skipTrailers(b.c.br); err != nil {
				return 0, err
			}
			b.done = true
			return 0, io.EOF
		}
		b.remain = size
		b.inChunk = true
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.c.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.inChunk = false
		if err := expectCRLF(b.c.br); err != nil {
			return n, err
		}
		return n, nil
	}
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Close releases the connection: back to the pool when the body was read
// completely on a keep-alive connection, closed otherwise.
func (b *bodyReader) Close() error {
	if b.released {
		return nil
	}
	b.released = true
	if b.ep != nil {
		b.ep.Release()
		b.ep = nil
	}
	if b.done && b.keep && !b.failed {
		b.c.pool.release(b.c, time.Now())
	} else {
		b.c.pool.discard(b.c)
	}
	return nil
}

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4096

// readChunkSize reads "HEX[;ext]\r\n" and returns the size.
func readChunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return 0, fmt.Errorf("%w: chunk size line too long", errBadChunk)
	}
	if err != nil {
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return parseChunkSize(line)
}

// parseChunkSize parses a chunk-size line including its line ending.
func parseChunkSize(line []byte) (int64, error) {
	if len(line) < 2 || line[len(line)-2] != '\r' || line[len(line)-1] != '\n' {
		return 0, fmt.Errorf("%w: chunk size line not ended by CRLF", errBadChunk)
	}
	line = line[:len(line)-2]
	var size int64
	digits := 0
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			goto ext
		}
		if size > (1<<62)>>4 {
			return 0, fmt.Errorf("%w: chunk size overflows", errBadChunk)
		}
		size = size<<4 | int64(v)
		digits++
	}
ext:
	if digits == 0 {
		return 0, fmt.Errorf("%w: no chunk size", errBadChunk)
	}
	// Optional whitespace then extensions after ';', which we ignore.
	for ; i < len(line) && (line[i] == ' ' || line[i] == '\t'); i++ {
	}
	if i < len(line) && line[i] != ';' {
		return 0, fmt.Errorf("%w: bad character after chunk size", errBadChunk)
	}
	return size, nil
}

func expectCRLF(br *bufio.Reader) error {
	c1, err := br.ReadByte()
	if err != nil {
		return io.ErrUnexpectedEOF
	}
	c2, err := br.ReadByte()
	if err != nil {
		return io.ErrUnexpectedEOF
	}
	if c1 != '\r' || c2 != '\n' {
		return fmt.Errorf("%w: chunk data not followed by CRLF", errBadChunk)
	}
	return nil
}

// skipTrailers consumes trailer fields up to the empty line. Trailers are not
// forwarded on HTTP/1.1 yet.
func skipTrailers(br *bufio.Reader) error {
	for n := 0; n < 100; n++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%w: trailer: %w", errBadChunk, err)
		}
		if len(line) == 2 && line[0] == '\r' {
			return nil
		}
		if len(line) == 1 {
			return nil
		}
	}
	return fmt.Errorf("%w: too many trailer fields", errBadChunk)
}
