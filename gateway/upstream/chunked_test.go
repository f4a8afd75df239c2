package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestParseChunkSize(t *testing.T) {
	tests := []struct {
		name string
		line string
		want int64
		bad  bool
	}{
		{name: "zero", line: "0\r\n", want: 0},
		{name: "single digit", line: "5\r\n", want: 5},
		{name: "lower hex", line: "1a\r\n", want: 26},
		{name: "upper hex", line: "1A\r\n", want: 26},
		{name: "mixed hex", line: "aBcDeF\r\n", want: 0xabcdef},
		{name: "leading zeros", line: "000010\r\n", want: 16},
		{name: "extension", line: "10;name=value\r\n", want: 16},
		{name: "extension quoted", line: "10;name=\"a b\"\r\n", want: 16},
		{name: "bare extension", line: "4;\r\n", want: 4},
		{name: "space before extension", line: "4 ;x\r\n", want: 4},
		{name: "tab before extension", line: "4\t;x\r\n", want: 4},
		{name: "trailing whitespace", line: "4  \r\n", want: 4},
		{name: "largest accepted", line: "400000000000000f\r\n", want: 1<<62 | 0xf},
		{name: "sixteen digits max int64", line: "7fffffffffffffff\r\n", bad: true},
		{name: "overflow", line: "10000000000000000\r\n", bad: true},
		{name: "overflow many zeros", line: "ffffffffffffffffffffffff\r\n", bad: true},
		{name: "empty", line: "", bad: true},
		{name: "only CRLF", line: "\r\n", bad: true},
		{name: "missing CRLF", line: "5", bad: true},
		{name: "bare LF", line: "5\n", bad: true},
		{name: "bare CR", line: "5\r", bad: true},
		{name: "CR not before LF", line: "5\n\r", bad: true},
		{name: "LF inside", line: "5\nx\r\n", bad: true},
		{name: "leading space", line: " 5\r\n", bad: true},
		{name: "negative", line: "-1\r\n", bad: true},
		{name: "plus sign", line: "+1\r\n", bad: true},
		{name: "0x prefix", line: "0x10\r\n", bad: true},
		{name: "non-hex letter", line: "g\r\n", bad: true},
		{name: "digits then junk", line: "12z\r\n", bad: true},
		{name: "space inside digits", line: "1 2\r\n", bad: true},
		{name: "only extension", line: ";ext\r\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChunkSize([]byte(tt.line))
			if tt.bad {
				if err == nil {
					t.Fatalf("parseChunkSize(%q) = %d, want an error", tt.line, got)
				}
				if !errors.Is(err, errBadChunk) {
					t.Fatalf("parseChunkSize(%q) error %v does not wrap errBadChunk", tt.line, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseChunkSize(%q): %v", tt.line, err)
			}
			if got != tt.want {
				t.Fatalf("parseChunkSize(%q) = %d, want %d", tt.line, got, tt.want)
			}
		})
	}
}

func TestReadChunkSize(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		bufSize int // bufio.Reader size; 0 means the package's 16 KiB
		want    int64
		wantErr error // nil for success
		rest    string
	}{
		{name: "simple", input: "5\r\nhello", want: 5, rest: "hello"},
		{name: "extension", input: "1F;a=b;c\r\nx", want: 31, rest: "x"},
		{name: "zero", input: "0\r\n\r\n", want: 0, rest: "\r\n"},
		{name: "empty input", input: "", wantErr: io.ErrUnexpectedEOF},
		{name: "eof mid line", input: "5\r", wantErr: io.ErrUnexpectedEOF},
		{name: "eof before CRLF", input: "5", wantErr: io.ErrUnexpectedEOF},
		{name: "bad digits", input: "zz\r\n", wantErr: errBadChunk},
		{name: "bare LF", input: "5\nhello", wantErr: errBadChunk},
		{name: "line at limit", input: "1;" + strings.Repeat("e", maxChunkLine-4) + "\r\nx", want: 1, rest: "x"},
		{name: "line over limit", input: "1;" + strings.Repeat("e", maxChunkLine-3) + "\r\nx", wantErr: errBadChunk},
		{name: "line over limit without LF", input: "1;" + strings.Repeat("e", 2*maxChunkLine), wantErr: errBadChunk},
		{name: "line fills small buffer", input: "1;" + strings.Repeat("e", 64) + "\r\n", bufSize: 16, wantErr: errBadChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.bufSize
			if size == 0 {
				size = 16 << 10
			}
			br := bufio.NewReaderSize(strings.NewReader(tt.input), size)
			got, err := readChunkSize(br)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("readChunkSize(%q) = %d, %v; want error %v", tt.input, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readChunkSize(%q) = %d, %v; want %d", tt.input, got, err, tt.want)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Fatalf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

func TestSkipTrailers(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr error
		rest    string
	}{
		{name: "no trailers", input: "\r\nNEXT", rest: "NEXT"},
		{name: "bare LF end", input: "\nNEXT", rest: "NEXT"},
		{name: "one trailer", input: "Expires: never\r\n\r\nNEXT", rest: "NEXT"},
		{name: "several trailers", input: "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", rest: ""},
		{name: "99 trailers", input: strings.Repeat("X: y\r\n", 99) + "\r\nNEXT", rest: "NEXT"},
		{name: "100 trailers", input: strings.Repeat("X: y\r\n", 100) + "\r\n", wantErr: errBadChunk},
		{name: "empty input", input: "", wantErr: io.ErrUnexpectedEOF},
		{name: "eof in trailer", input: "A: 1\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "eof mid line", input: "A: 1", wantErr: io.ErrUnexpectedEOF},
		{name: "trailer longer than buffer", input: "A: " + strings.Repeat("v", 64) + "\r\n\r\n", wantErr: errBadChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.input), 32)
			err := skipTrailers(br)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("skipTrailers(%q) = %v, want %v", tt.input, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("skipTrailers(%q): %v", tt.input, err)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Fatalf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

// decodeChunked runs data through a bodyReader in chunked framing, reading
// with buffers of readSize bytes. It fails t when the reader stops making
// progress or returns more bytes than it was given.
func decodeChunked(t *testing.T, data []byte, readSize, bufSize int) ([]byte, error) {
	t.Helper()
	c := &conn{br: bufio.NewReaderSize(bytes.NewReader(data), bufSize)}
	c.body.c = c
	b := &c.body
	b.start(framingChunked, 0, true, 0, nil)
	var out []byte
	p := make([]byte, readSize)
	for i := 0; ; i++ {
		// Every Read either consumes input or ends the body, so the number
		// of calls is bounded by the input length.
		if i > len(data)+2 {
			t.Fatalf("bodyReader made no progress after %d reads on %q", i, data)
		}
		n, err := b.Read(p)
		if n < 0 || n > len(p) {
			t.Fatalf("Read returned n=%d for a %d-byte buffer", n, len(p))
		}
		out = append(out, p[:n]...)
		if len(out) > len(data) {
			t.Fatalf("decoded %d bytes from %d bytes of input", len(out), len(data))
		}
		if err == io.EOF {
			if !b.done {
				t.Fatal("io.EOF without done")
			}
			// A finished body keeps answering EOF.
			if n, err := b.Read(p); n != 0 || err != io.EOF {
				t.Fatalf("Read after EOF = %d, %v", n, err)
			}
			return out, nil
		}
		if err != nil {
			if !b.failed {
				t.Fatalf("error %v without failed", err)
			}
			// A failed body keeps failing and never yields more data.
			if n, err2 := b.Read(p); n != 0 || err2 == nil || err2 == io.EOF {
				t.Fatalf("Read after failure = %d, %v", n, err2)
			}
			return out, err
		}
	}
}

func TestBodyReaderChunked(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string
		bad     bool
		rest    string // unread input after a good body (the next response)
		readLen int
	}{
		{name: "one chunk", input: "5\r\nhello\r\n0\r\n\r\nNEXT", want: "hello", rest: "NEXT"},
		{name: "two chunks", input: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", want: "hello world"},
		{name: "small reads", input: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", want: "hello world", readLen: 2},
		{name: "one byte reads", input: "a\r\n0123456789\r\n0\r\n\r\n", want: "0123456789", readLen: 1},
		{name: "extensions and trailers", input: "5;x=1\r\nhello\r\n0;last\r\nT: v\r\n\r\nNEXT", want: "hello", rest: "NEXT"},
		{name: "uppercase size", input: "B\r\nhello world\r\n0\r\n\r\n", want: "hello world"},
		{name: "empty body", input: "0\r\n\r\n", want: ""},
		{name: "empty input", input: "", bad: true},
		{name: "no last chunk", input: "5\r\nhello\r\n", want: "hello", bad: true},
		{name: "short chunk", input: "a\r\nhello", want: "hello", bad: true},
		{name: "chunk longer than size", input: "3\r\nhello\r\n0\r\n\r\n", want: "hel", bad: true},
		{name: "missing CRLF after data", input: "5\r\nhello0\r\n\r\n", want: "hello", bad: true},
		{name: "bad size", input: "x\r\nhello\r\n", bad: true},
		{name: "no trailer terminator", input: "0\r\n", bad: true},
		{name: "huge size", input: "7fffffffffffffff\r\nx", bad: true},
		{name: "huge but valid size, short data", input: "100000000\r\nxyz", want: "xyz", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readLen := tt.readLen
			if readLen == 0 {
				readLen = 4096
			}
			got, err := decodeChunked(t, []byte(tt.input), readLen, 16<<10)
			if string(got) != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
			if tt.bad {
				if err == nil {
					t.Fatalf("decoded %q without an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// The reader must stop exactly at the end of the body so a
			// kept-alive connection can read the next response.
			br := bufio.NewReaderSize(strings.NewReader(tt.input), 16<<10)
			c2 := &conn{br: br}
			c2.body.c = c2
			c2.body.start(framingChunked, 0, true, 0, nil)
			if _, err := io.Copy(io.Discard, &c2.body); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Fatalf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

// encodeChunked encodes payload with net/http's chunked writer, cutting it
// into chunks of the sizes given by cuts (cycled; 0 entries are skipped).
func encodeChunked(payload []byte, cuts []byte, trailer bool) []byte {
	var buf bytes.Buffer
	w := httputil.NewChunkedWriter(&buf)
	rest := payload
	for i := 0; len(rest) > 0; i++ {
		n := len(rest)
		if len(cuts) > 0 {
			n = min(int(cuts[i%len(cuts)])+1, len(rest))
		}
		w.Write(rest[:n])
		rest = rest[n:]
	}
	w.Close() // writes the last chunk, "0\r\n"
	if trailer {
		buf.WriteString("Trailer-A: 1\r\nTrailer-B: two\r\n")
	}
	buf.WriteString("\r\n")
	return buf.Bytes()
}

func FuzzChunkedBody(f *testing.F) {
	// Raw inputs: valid, broken and hostile chunked bodies.
	raws := []string{
		"",
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"A\r\n0123456789\r\n0\r\n\r\n",
		"5\r\nhel",
		"5\r\nhelloXX0\r\n\r\n",
		"ffffffffffffffffff\r\n",
		"100000000\r\nabc",
		"1;" + strings.Repeat("e", 5000) + "\r\nx\r\n0\r\n\r\n",
		"0\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n",
		"5\nhello\n0\n\n",
	}
	for i, r := range raws {
		f.Add([]byte(r), []byte("payload"), []byte{byte(i)}, uint16(i*37))
	}
	f.Add([]byte{}, bytes.Repeat([]byte{0xfe, '\r', '\n', '0'}, 1000), []byte{0, 255, 3}, uint16(1))
	f.Add([]byte{}, []byte{}, []byte{}, uint16(0))

	f.Fuzz(func(t *testing.T, raw, payload, cuts []byte, knobs uint16) {
		readLen := int(knobs%512) + 1
		bufSize := 16 + int(knobs>>9)*64 // 16 B .. ~8 KiB
		// Arbitrary bytes: no panic, no more output than input, and
		// progress on every read (checked by decodeChunked).
		if _, err := decodeChunked(t, raw, readLen, bufSize); err != nil && err != io.ErrUnexpectedEOF && !errors.Is(err, errBadChunk) {
			t.Fatalf("unexpected error class: %v", err)
		}

		// A correct encoding of payload decodes to payload.
		enc := encodeChunked(payload, cuts, knobs&1 == 1)
		got, err := decodeChunked(t, enc, readLen, 16<<10)
		if err != nil {
			t.Fatalf("decoding a valid encoding %q: %v", enc, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("decoded %q, want %q (encoding %q)", got, payload, enc)
		}
	})
}
