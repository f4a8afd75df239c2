package proxywasmtest

import (
	"strings"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// Direction selects the request or the response side of a stream.
type Direction int

// Stream directions.
const (
	Request Direction = iota
	Response
)

// LocalResponse is a response the filter sent with SendLocalResponse.
type LocalResponse struct {
	Status     int
	Body       []byte
	Headers    [][2]string
	Details    string
	GRPCStatus int32
}

// Stream is one emulated HTTP request/response. Drive it with the CallOn*
// methods in protocol order and inspect what the filter did with the other
// methods.
type Stream struct {
	h  *Host
	id uint32

	maps      [4][][2]string // indexed by abi.MapType 0..3
	bodies    [2][]byte      // request, response
	buffering [2]bool        // the last body callback paused: keep buffering
	props     map[string]string

	local     *LocalResponse
	continued [2]int
	closed    [2]int
	deleted   bool
}

// ID returns the stream's context id.
func (s *Stream) ID() uint32 { return s.id }

// CallOnRequestHeaders sets the request headers (pseudo-headers :method,
// :path, :authority, :scheme included) and runs OnRequestHeaders.
func (s *Stream) CallOnRequestHeaders(headers [][2]string, endOfStream bool) proxywasm.Action {
	s.maps[abi.MapRequestHeaders] = clonePairs(headers)
	if !s.h.declared("request_headers") {
		return proxywasm.Continue
	}
	s.h.enter(s.id)
	return proxywasm.Action(s.h.guest.OnRequestHeaders(s.id, len(headers), endOfStream))
}

// CallOnRequestBody delivers a chunk of request body and runs OnRequestBody.
// While the filter returns Pause (and endOfStream is false) chunks
// accumulate in the body buffer, as in Envoy; otherwise each call starts a
// new buffer.
func (s *Stream) CallOnRequestBody(chunk []byte, endOfStream bool) proxywasm.Action {
	return s.body(Request, chunk, endOfStream)
}

// CallOnRequestTrailers sets the request trailers and runs OnRequestTrailers.
func (s *Stream) CallOnRequestTrailers(trailers [][2]string) proxywasm.Action {
	s.maps[abi.MapRequestTrailers] = clonePairs(trailers)
	if !s.h.declared("request_trailers") {
		return proxywasm.Continue
	}
	s.h.enter(s.id)
	return proxywasm.Action(s.h.guest.OnRequestTrailers(s.id, len(trailers)))
}

// CallOnResponseHeaders sets the response headers (:status included) and
// runs OnResponseHeaders.
func (s *Stream) CallOnResponseHeaders(headers [][2]string, endOfStream bool) proxywasm.Action {
	s.maps[abi.MapResponseHeaders] = clonePairs(headers)
	if !s.h.declared("response_headers") {
		return proxywasm.Continue
	}
	s.h.enter(s.id)
	return proxywasm.Action(s.h.guest.OnResponseHeaders(s.id, len(headers), endOfStream))
}

// CallOnResponseBody delivers a chunk of response body and runs
// OnResponseBody, buffering like CallOnRequestBody.
func (s *Stream) CallOnResponseBody(chunk []byte, endOfStream bool) proxywasm.Action {
	return s.body(Response, chunk, endOfStream)
}

// CallOnResponseTrailers sets the response trailers and runs
// OnResponseTrailers.
func (s *Stream) CallOnResponseTrailers(trailers [][2]string) proxywasm.Action {
	s.maps[abi.MapResponseTrailers] = clonePairs(trailers)
	if !s.h.declared("response_trailers") {
		return proxywasm.Continue
	}
	s.h.enter(s.id)
	return proxywasm.Action(s.h.guest.OnResponseTrailers(s.id, len(trailers)))
}

func (s *Stream) body(d Direction, chunk []byte, eos bool) proxywasm.Action {
	if s.buffering[d] {
		s.bodies[d] = append(s.bodies[d], chunk...)
	} else {
		s.bodies[d] = clone(chunk)
	}
	if d == Request && !s.h.declared("request_body") || d == Response && !s.h.declared("response_body") {
		return proxywasm.Continue
	}
	s.h.enter(s.id)
	var act uint32
	if d == Request {
		act = s.h.guest.OnRequestBody(s.id, len(s.bodies[d]), eos)
	} else {
		act = s.h.guest.OnResponseBody(s.id, len(s.bodies[d]), eos)
	}
	s.buffering[d] = act == abi.ActionPause && !eos
	return proxywasm.Action(act)
}

// Complete ends the stream: OnLog runs (through proxy_on_done and
// proxy_on_log) and the context is deleted.
func (s *Stream) Complete() {
	if s.deleted {
		return
	}
	s.h.enter(s.id)
	if s.h.declared("log") && s.h.guest.OnDone(s.id) {
		s.h.enter(s.id)
		s.h.guest.OnLog(s.id)
	}
	s.h.enter(s.id)
	s.h.guest.OnDelete(s.id)
	s.deleted = true
	delete(s.h.streams, s.id)
}

// RequestHeaders returns the current request headers.
func (s *Stream) RequestHeaders() [][2]string { return clonePairs(s.maps[abi.MapRequestHeaders]) }

// ResponseHeaders returns the current response headers.
func (s *Stream) ResponseHeaders() [][2]string {
	return clonePairs(s.maps[abi.MapResponseHeaders])
}

// RequestTrailers returns the current request trailers.
func (s *Stream) RequestTrailers() [][2]string {
	return clonePairs(s.maps[abi.MapRequestTrailers])
}

// ResponseTrailers returns the current response trailers.
func (s *Stream) ResponseTrailers() [][2]string {
	return clonePairs(s.maps[abi.MapResponseTrailers])
}

// RequestHeader returns the first value of a request header.
func (s *Stream) RequestHeader(name string) (string, bool) {
	return lookup(s.maps[abi.MapRequestHeaders], name)
}

// ResponseHeader returns the first value of a response header.
func (s *Stream) ResponseHeader(name string) (string, bool) {
	return lookup(s.maps[abi.MapResponseHeaders], name)
}

// RequestBody returns the buffered request body as the filter left it.
func (s *Stream) RequestBody() []byte { return clone(s.bodies[Request]) }

// ResponseBody returns the buffered response body as the filter left it.
func (s *Stream) ResponseBody() []byte { return clone(s.bodies[Response]) }

// LocalResponse returns the response sent with SendLocalResponse, if any.
func (s *Stream) LocalResponse() (LocalResponse, bool) {
	if s.local == nil {
		return LocalResponse{}, false
	}
	return *s.local, true
}

// Continued returns how many times the filter resumed direction d.
func (s *Stream) Continued(d Direction) int { return s.continued[d] }

// Closed returns how many times the filter closed direction d.
func (s *Stream) Closed(d Direction) int { return s.closed[d] }

// SetProperty sets a property of this stream by dotted path, e.g.
// "source.address" or "wasmgate.route".
func (s *Stream) SetProperty(path, value string) { s.props[path] = value }

// Property returns a property as the filter sees it: the stream's own, then
// one derived from the headers (request.path, request.method, request.host,
// request.scheme, response.code), then the host-wide one.
func (s *Stream) Property(path string) (string, bool) {
	if v, ok := s.props[path]; ok {
		return v, true
	}
	if name, ok := derived[path]; ok {
		m := abi.MapRequestHeaders
		if name == ":status" {
			m = abi.MapResponseHeaders
		}
		if v, ok := lookup(s.maps[m], name); ok {
			return v, true
		}
	}
	return s.h.Property(path)
}

var derived = map[string]string{
	"request.path":   ":path",
	"request.method": ":method",
	"request.host":   ":authority",
	"request.scheme": ":scheme",
	"response.code":  ":status",
}

func lookup(pairs [][2]string, name string) (string, bool) {
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}
